// The three-step split the response cache relies on (classify -> variant -> select_decided):
// for every real mode, select() is exactly the three steps, the selection is a function of
// (eligible set, class, variant) alone, and clients of one class get the same answers.
#include <random>
#include <set>

#include "config/model.hh"
#include "fixture.hh"
#include "geo/geo.hh"

using namespace gslbd;

namespace {
std::vector<std::uint16_t> picked_of(const gslb::Selection& s) {
    return test::picked(s);
}
}  // namespace

TEST_CASE("every mode is cacheable and select() is classify, variant, select_decided",
          "[decided]") {
    std::mt19937 gen(4242);
    // two subnets share location a
    auto geo = test::location_world({"10.0.0.0/8", "10.1.0.0/16", "192.0.2.0/24", "2001:db8::/32"},
                                    {"a", "b", "a", "d"});
    const char* clients[] = {"10.0.0.1",   "10.1.2.3",   "192.0.2.77", "2001:db8::1",
                             "172.16.0.1", "10.200.0.1", "192.0.2.1"};

    int checked = 0;
    for (int round = 0; round < 100; ++round) {
        test::World w;
        const int n = std::uniform_int_distribution<int>(1, 20)(gen);
        std::vector<gslb::BackendRt> bs;
        for (int i = 0; i < n; ++i) {
            auto b = test::backend("192.0.2.1", static_cast<std::uint32_t>(i),
                                   std::uniform_int_distribution<int>(0, 2)(gen),
                                   std::uniform_int_distribution<std::uint32_t>(1, 10)(gen));
            if (gen() % 2) b.locations = {static_cast<std::int32_t>(gen() % 3)};
            bs.push_back(b);
        }
        w.add_record(bs);
        w.topo->geo = geo;
        w.finish();
        std::vector<std::uint16_t> eligible;
        for (int i = 0; i < n; ++i)
            if (gen() % 4 != 0) eligible.push_back(static_cast<std::uint16_t>(i));
        if (eligible.empty()) eligible.push_back(0);
        const auto& rec = w.topo->records[0];

        for (const char* name : {"failover", "roundrobin", "random", "weighted", "geoip", "ip-hash",
                                 "geoip_affinity"}) {
            const auto& p = test::policy(name);
            INFO("mode " << name << ", round " << round);
            REQUIRE(p.cacheable());
            gslb::ClientInfo c1{test::ip(clients[gen() % 7]), 32, true};
            gslb::ClientInfo c2{test::ip(clients[gen() % 7]), 32, true};

            // select() == the three steps, from the same worker state
            gslb::WorkerState ws_a = w.ws, ws_b = w.ws;
            gslb::SelectContext ca{w.snap, rec, rec.v4, eligible, c1, ws_a};
            gslb::SelectContext cb{w.snap, rec, rec.v4, eligible, c1, ws_b};
            gslb::Selection direct, stepped;
            p.select(ca, direct);
            gslb::Decision d;
            p.classify(cb, d);
            d.variant = p.variant(cb, d);
            p.select_decided(cb, d, stepped);
            CHECK(picked_of(direct) == picked_of(stepped));
            CHECK(direct.scope == stepped.scope);
            CHECK(direct.decision_class == stepped.decision_class);
            CHECK(stepped.scope == d.scope);
            CHECK(stepped.decision_class == d.decision_class);

            // classification is a pure function of the client
            gslb::Decision again;
            p.classify(cb, again);
            CHECK(again.decision_class == d.decision_class);
            CHECK(again.scope == d.scope);

            // for every variant: deterministic, and the same for any client of the class
            gslb::Decision d2;
            gslb::SelectContext cc{w.snap, rec, rec.v4, eligible, c2, ws_b};
            p.classify(cc, d2);
            const bool same_class = d2.decision_class == d.decision_class;
            for (std::uint32_t v = 0; v < eligible.size(); ++v) {
                d.variant = d2.variant = v;
                gslb::Selection s1, s2, s3;
                p.select_decided(cb, d, s1);
                p.select_decided(cb, d, s2);
                p.select_decided(cc, d2, s3);
                CHECK(picked_of(s1) == picked_of(s2));
                if (same_class) CHECK(picked_of(s1) == picked_of(s3));
                ++checked;
            }
        }
    }
    CHECK(checked > 1000);
}

TEST_CASE("single-answer modes: the variant is the position in the eligible set", "[decided]") {
    test::World w;
    w.add_record({test::backend("192.0.2.1", 0), test::backend("192.0.2.2", 1),
                  test::backend("192.0.2.3", 2)});
    w.finish();
    const std::vector<std::uint16_t> eligible{0, 2};
    const auto& rec = w.topo->records[0];
    gslb::ClientInfo c{test::ip("127.0.0.1"), 32, false};
    gslb::SelectContext ctx{w.snap, rec, rec.v4, eligible, c, w.ws};
    for (const char* name : {"roundrobin", "random", "weighted"}) {
        const auto& p = test::policy(name);
        std::set<std::uint32_t> variants;
        for (int i = 0; i < 200; ++i) {
            gslb::Decision d;
            p.classify(ctx, d);
            CHECK(d.decision_class == 0);
            CHECK(d.scope == 0);
            const std::uint32_t v = p.variant(ctx, d);
            REQUIRE(v < eligible.size());
            variants.insert(v);
            d.variant = v;
            gslb::Selection s;
            p.select_decided(ctx, d, s);
            CHECK(picked_of(s) == std::vector<std::uint16_t>{eligible[v]});
        }
        INFO(name);
        CHECK(variants.size() == 2);  // both answers are reachable
    }
    gslb::Decision d;
    CHECK(test::policy("failover").variant(ctx, d) == 0);
}
