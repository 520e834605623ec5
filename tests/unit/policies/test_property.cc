// Property: whatever the health and eligible subset, no mode ever answers a backend that
// is not eligible, answers at least one, and never repeats one.
#include <random>
#include <set>

#include "config/model.hh"
#include "fixture.hh"
#include "geo/geo.hh"

using namespace gslbd;

TEST_CASE("no mode ever selects a non-eligible backend", "[property]") {
    std::mt19937 gen(20261122);
    auto geo = test::location_world({"10.0.0.0/8", "10.1.0.0/16", "192.0.2.0/24", "2001:db8::/32"},
                                    {"a", "b", "c", "d"});

    const char* clients[] = {"10.0.0.1",    "10.1.2.3",   "192.0.2.77",
                             "2001:db8::1", "172.16.0.1", "::1"};
    int selections = 0;
    std::set<std::string> modes;
    for (int round = 0; round < 200; ++round) {
        test::World w;
        const int n = std::uniform_int_distribution<int>(1, 70)(gen);
        std::vector<gslb::BackendRt> bs;
        for (int i = 0; i < n; ++i) {
            auto b = test::backend("192.0.2.1", static_cast<std::uint32_t>(i),
                                   std::uniform_int_distribution<int>(-1, 3)(gen),
                                   std::uniform_int_distribution<std::uint32_t>(1, 10)(gen));
            if (gen() % 2) b.locations = {static_cast<std::int32_t>(gen() % 4)};
            bs.push_back(b);
        }
        w.add_record(bs, bs);
        w.topo->geo = geo;
        w.finish();
        // random health: the eligible set is what is up (never empty)
        auto& up = const_cast<gslb::Health&>(*w.snap.health).up;
        std::vector<std::uint16_t> eligible;
        for (int i = 0; i < n; ++i) {
            up[static_cast<std::size_t>(i)] = gen() % 3 != 0;
            if (up[static_cast<std::size_t>(i)]) eligible.push_back(static_cast<std::uint16_t>(i));
        }
        if (eligible.empty()) eligible.push_back(static_cast<std::uint16_t>(gen() % n));
        const std::set<std::uint16_t> allowed(eligible.begin(), eligible.end());

        for (const auto& name : gslb::policy_names()) {
            if (name == "test-dummy") continue;  // registered by test_registry.cc
            const auto& p = test::policy(name.c_str());
            modes.insert(name);
            for (int q = 0; q < 20; ++q) {
                gslb::ClientInfo c{test::ip(clients[gen() % 6]), 24, true};
                auto s = w.select(p, 0, gen() % 2 == 0, eligible, c);
                INFO("mode " << name << ", round " << round);
                REQUIRE(s.count >= 1);
                std::set<std::uint16_t> seen;
                for (std::size_t k = 0; k < s.count; ++k) {
                    REQUIRE(allowed.count(s.idx[k]) == 1);
                    REQUIRE(seen.insert(s.idx[k]).second);
                }
                ++selections;
            }
        }
    }
    for (const char* m : {"failover", "roundrobin", "random", "weighted", "geoip"})
        CHECK(modes.count(m) == 1);
    CHECK(selections == 200 * 20 * static_cast<int>(modes.size()));
}
