// failover, roundrobin, random, weighted.
#include <array>
#include <map>
#include <set>

#include "fixture.hh"

using namespace gslbd;
using test::backend;
using test::picked;

TEST_CASE("failover answers every eligible backend of the best priority, in order", "[failover]") {
    test::World w;
    w.add_record({backend("192.0.2.1", 0, 2), backend("192.0.2.2", 1, 1),
                  backend("192.0.2.3", 2, 3), backend("192.0.2.4", 3, 1)});
    w.finish();
    const auto& p = test::policy("failover");

    auto s = w.select(p, 0, false, {0, 1, 2, 3});
    CHECK(picked(s) == std::vector<std::uint16_t>{1, 3});
    CHECK(s.scope == 0);
    CHECK(s.decision_class == 0);

    // the priority-1 group is down: the next group takes over
    CHECK(picked(w.select(p, 0, false, {0, 2})) == std::vector<std::uint16_t>{0});
    CHECK(picked(w.select(p, 0, false, {2})) == std::vector<std::uint16_t>{2});
    // one of the best group left
    CHECK(picked(w.select(p, 0, false, {0, 2, 3})) == std::vector<std::uint16_t>{3});
}

TEST_CASE("failover handles negative priorities and caps the answer at kMaxAnswers", "[failover]") {
    test::World w;
    std::vector<gslb::BackendRt> many;
    for (std::uint32_t i = 0; i < 100; ++i) {
        auto b = backend("192.0.2.1", i, i == 50 ? -5 : 0);
        many.push_back(b);
    }
    w.add_record(many);
    w.finish();
    const auto& p = test::policy("failover");
    auto all = test::all_of(w.topo->records[0].v4);
    CHECK(picked(w.select(p, 0, false, all)) == std::vector<std::uint16_t>{50});
    all.erase(all.begin() + 50);
    auto s = w.select(p, 0, false, all);
    REQUIRE(s.count == gslb::kMaxAnswers);
    for (std::size_t i = 0; i < s.count; ++i) CHECK(s.idx[i] == all[i]);  // config order
}

TEST_CASE("roundrobin visits every eligible backend in turn", "[roundrobin]") {
    test::World w;
    w.add_record({backend("192.0.2.1", 0), backend("192.0.2.2", 1), backend("192.0.2.3", 2),
                  backend("192.0.2.4", 3)});
    w.finish();
    const auto& p = test::policy("roundrobin");
    const std::vector<std::uint16_t> eligible{0, 2, 3};

    std::vector<std::uint16_t> seq;
    for (int i = 0; i < 30; ++i) {
        auto s = w.select(p, 0, false, eligible);
        REQUIRE(s.count == 1);
        CHECK(s.scope == 0);
        CHECK(s.decision_class == 0);
        seq.push_back(s.idx[0]);
    }
    // each answer is the eligible backend after the previous one, cyclically
    for (std::size_t i = 1; i < seq.size(); ++i) {
        auto pos = std::find(eligible.begin(), eligible.end(), seq[i - 1]) - eligible.begin();
        REQUIRE(pos < 3);
        CHECK(seq[i] == eligible[(pos + 1) % 3]);
    }
    std::map<std::uint16_t, int> counts;
    for (auto i : seq) ++counts[i];
    CHECK(counts == std::map<std::uint16_t, int>{{0, 10}, {2, 10}, {3, 10}});
}

TEST_CASE("roundrobin rotates A and AAAA, and each record, independently", "[roundrobin]") {
    test::World w;
    w.add_record({backend("192.0.2.1", 0), backend("192.0.2.2", 1)},
                 {backend("2001:db8::1", 2), backend("2001:db8::2", 3), backend("2001:db8::3", 4)});
    w.add_record({backend("192.0.2.9", 5), backend("192.0.2.10", 6)});
    w.finish();
    const auto& p = test::policy("roundrobin");

    std::vector<std::uint16_t> a, aaaa, other;
    for (int i = 0; i < 12; ++i) {
        a.push_back(w.select(p, 0, false, {0, 1}).idx[0]);
        aaaa.push_back(w.select(p, 0, true, {0, 1, 2}).idx[0]);
        aaaa.push_back(w.select(p, 0, true, {0, 1, 2}).idx[0]);
        other.push_back(w.select(p, 1, false, {0, 1}).idx[0]);
    }
    // interleaved AAAA queries (two per A query) must not disturb the A rotation
    for (std::size_t i = 1; i < a.size(); ++i) CHECK(a[i] != a[i - 1]);
    for (std::size_t i = 1; i < aaaa.size(); ++i) CHECK(aaaa[i] == (aaaa[i - 1] + 1) % 3);
    for (std::size_t i = 1; i < other.size(); ++i) CHECK(other[i] != other[i - 1]);
}

TEST_CASE("roundrobin without a prepared worker state still answers", "[roundrobin]") {
    test::World w;
    w.add_record({backend("192.0.2.1", 0), backend("192.0.2.2", 1)});
    w.finish();
    gslb::WorkerState fresh{1};  // never prepared: no cursors
    const auto& rec = w.topo->records[0];
    std::vector<std::uint16_t> eligible{1};
    gslb::ClientInfo client{test::ip("127.0.0.1"), 32, false};
    gslb::SelectContext ctx{w.snap, rec, rec.v4, eligible, client, fresh};
    gslb::Selection out;
    test::policy("roundrobin").select(ctx, out);
    CHECK(picked(out) == std::vector<std::uint16_t>{1});
}

TEST_CASE("random picks uniformly among the eligible backends", "[random]") {
    test::World w;
    std::vector<gslb::BackendRt> bs;
    for (std::uint32_t i = 0; i < 7; ++i)
        bs.push_back(backend("192.0.2.1", i, static_cast<int>(i)));
    w.add_record(bs);
    w.finish();
    const auto& p = test::policy("random");
    const std::vector<std::uint16_t> eligible{0, 2, 3, 5, 6};  // 5 of 7

    constexpr int kPicks = 100000;
    std::map<std::uint16_t, int> counts;
    for (int i = 0; i < kPicks; ++i) {
        auto s = w.select(p, 0, false, eligible);
        REQUIRE(s.count == 1);
        ++counts[s.idx[0]];
    }
    REQUIRE(counts.size() == 5);
    double chi2 = 0;
    const double expected = kPicks / 5.0;
    for (auto i : eligible) {
        const double d = counts[i] - expected;
        chi2 += d * d / expected;
    }
    // Tolerance: chi-square with 4 degrees of freedom, 99.9% critical value 18.467.
    INFO("chi-square = " << chi2);
    CHECK(chi2 < 18.467);
    CHECK(w.select(p, 0, false, eligible).scope == 0);
}

namespace {
std::map<std::uint16_t, double> shares(test::World& w, const std::vector<std::uint16_t>& eligible,
                                       int picks) {
    const auto& p = test::policy("weighted");
    std::map<std::uint16_t, int> counts;
    for (int i = 0; i < picks; ++i) {
        auto s = w.select(p, 0, false, eligible);
        REQUIRE(s.count == 1);
        CHECK(s.scope == 0);
        ++counts[s.idx[0]];
    }
    std::map<std::uint16_t, double> out;
    for (auto [i, c] : counts) out[i] = 100.0 * c / picks;
    return out;
}
}  // namespace

// Tolerance for every weighted case: +-1 percentage point over 100,000 picks (the binomial
// standard deviation is at most 0.16 points, so this is more than 6 sigma).
TEST_CASE("weighted follows 8:2 within one percentage point", "[weighted]") {
    test::World w;
    w.add_record({backend("192.0.2.1", 0, 0, 8), backend("192.0.2.2", 1, 0, 2)});
    w.finish();
    auto s = shares(w, {0, 1}, 100000);
    CHECK(s[0] == Approx(80.0).margin(1.0));
    CHECK(s[1] == Approx(20.0).margin(1.0));
}

TEST_CASE("weighted follows 1:1:2 and 1:1 within one percentage point", "[weighted]") {
    test::World w;
    // a weight <= 0 in the config reaches the policy as 1 (topology normalisation)
    w.add_record({backend("192.0.2.1", 0, 0, 1), backend("192.0.2.2", 1, 0, 1),
                  backend("192.0.2.3", 2, 0, 2)});
    w.finish();
    auto s = shares(w, {0, 1, 2}, 100000);
    CHECK(s[0] == Approx(25.0).margin(1.0));
    CHECK(s[1] == Approx(25.0).margin(1.0));
    CHECK(s[2] == Approx(50.0).margin(1.0));

    auto even = shares(w, {0, 1}, 100000);
    CHECK(even[0] == Approx(50.0).margin(1.0));
    CHECK(even[1] == Approx(50.0).margin(1.0));
}

TEST_CASE("weighted only picks eligible backends and sums weights in 64 bits", "[weighted]") {
    test::World w;
    w.add_record({backend("192.0.2.1", 0, 0, 0xffffffffu), backend("192.0.2.2", 1, 0, 0xffffffffu),
                  backend("192.0.2.3", 2, 0, 2)});
    w.finish();
    // the heavy ones are down: the light one gets everything
    auto only = shares(w, {2}, 1000);
    CHECK(only == std::map<std::uint16_t, double>{{2, 100.0}});
    // a 32-bit sum would wrap to 0xfffffffe and skew this pair
    auto big = shares(w, {0, 1}, 100000);
    CHECK(big[0] == Approx(50.0).margin(1.0));
    CHECK(big[1] == Approx(50.0).margin(1.0));
}
