// ip-hash: stable per client, rendezvous (only a failed backend's clients move), weights,
// an honest ECS scope.
#include <map>
#include <string>

#include "fixture.hh"

using namespace gslbd;

namespace {

util::IpAddr nth_client(std::uint32_t i) {
    // 10,000 addresses spread over many /24s
    return util::IpAddr::v4(10, static_cast<std::uint8_t>(i >> 16),
                            static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i));
}

std::uint16_t pick(test::World& w, const std::vector<std::uint16_t>& eligible,
                   const util::IpAddr& a) {
    gslb::ClientInfo c{a, 32, false};
    auto s = w.select(test::policy("ip-hash"), 0, false, eligible, c);
    REQUIRE(s.count == 1);
    return s.idx[0];
}

}  // namespace

TEST_CASE("ip-hash: registered under CoreDNS-GSLB's spelling and cacheable", "[iphash]") {
    REQUIRE(gslb::resolve_policy("ip-hash") != nullptr);
    CHECK(gslb::resolve_policy("IP-Hash") == gslb::resolve_policy("ip-hash"));
    CHECK(gslb::resolve_policy("ip_hash") == gslb::resolve_policy("ip-hash"));
    CHECK(test::policy("ip-hash").cacheable());
}

TEST_CASE("ip-hash: same client same backend; a failed backend moves only its clients",
          "[iphash]") {
    test::World w;
    w.add_record({test::backend("192.0.2.1", 0), test::backend("192.0.2.2", 1),
                  test::backend("192.0.2.3", 2), test::backend("192.0.2.4", 3),
                  test::backend("192.0.2.5", 4)});
    w.finish();
    const std::vector<std::uint16_t> all{0, 1, 2, 3, 4};
    const std::vector<std::uint16_t> without2{0, 1, 3, 4};
    constexpr std::uint32_t kClients = 10000;
    std::vector<std::uint16_t> first(kClients);
    std::map<std::uint16_t, int> share;
    for (std::uint32_t i = 0; i < kClients; ++i) {
        first[i] = pick(w, all, nth_client(i));
        ++share[first[i]];
    }
    for (std::uint32_t i = 0; i < kClients; ++i) CHECK(pick(w, all, nth_client(i)) == first[i]);
    // roughly even: each of 5 backends gets 20 % +- 3 %
    for (const auto& [b, n] : share) {
        INFO("backend " << b);
        CHECK(n > 1700);
        CHECK(n < 2300);
    }
    // backend 2 down: its clients move, nobody else does; back up: they all return
    int moved_other = 0, moved_own = 0;
    for (std::uint32_t i = 0; i < kClients; ++i) {
        const std::uint16_t now = pick(w, without2, nth_client(i));
        CHECK(now != 2);
        if (first[i] == 2)
            ++moved_own;
        else if (now != first[i])
            ++moved_other;
    }
    CHECK(moved_other == 0);
    CHECK(moved_own == share[2]);
    // the order of the eligible list does not matter (keys are addresses)
    const std::vector<std::uint16_t> shuffled{4, 2, 0, 3, 1};
    for (std::uint32_t i = 0; i < 500; ++i) CHECK(pick(w, shuffled, nth_client(i)) == first[i]);
}

TEST_CASE("ip-hash: weights bias the share", "[iphash]") {
    test::World w;
    w.add_record({test::backend("192.0.2.1", 0, 0, 3), test::backend("192.0.2.2", 1, 0, 1)});
    w.finish();
    int heavy = 0;
    for (std::uint32_t i = 0; i < 10000; ++i) heavy += pick(w, {0, 1}, nth_client(i)) == 0;
    CHECK(heavy > 7200);  // 75 %
    CHECK(heavy < 7800);
}

TEST_CASE("ip-hash: the ECS source prefix decides and is the scope", "[iphash]") {
    test::World w;
    w.add_record({test::backend("192.0.2.1", 0), test::backend("192.0.2.2", 1),
                  test::backend("192.0.2.3", 2)});
    w.finish();
    const auto& p = test::policy("ip-hash");
    // clients of one /24 (as ECS sends them) share the answer; scope = source prefix
    for (std::uint32_t net = 0; net < 200; ++net) {
        const auto a = nth_client(net << 8).masked(24);
        gslb::ClientInfo c1{a, 24, true};
        auto s1 = w.select(p, 0, false, {0, 1, 2}, c1);
        CHECK(s1.scope == 24);
        CHECK(s1.decision_class == std::uint32_t{s1.idx[0]} + 1);
        gslb::ClientInfo direct{nth_client((net << 8) | 77), 32, false};
        CHECK(w.select(p, 0, false, {0, 1, 2}, direct).scope == 32);
    }
    // IPv6 clients
    gslb::ClientInfo v6{test::ip("2001:db8::1"), 56, true};
    CHECK(w.select(p, 0, false, {0, 1, 2}, v6).scope == 56);
}
