// Issue 20: health checks shared between backends (config::CheckRef, CheckInterner).
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/model.hh"
#include "config/yaml_util.hh"
#include "reload_dump.hh"
#include "test_util.hh"

using namespace gslbd;
using namespace gslbd::config;
using reload_dump::dump;
using reload_dump::kMain;
using reload_dump::pos;

// Issue 20: backends with equal health checks share one immutable HealthCheck (CheckInterner);
// a reload that moves records gives them the new positions without changing any HealthCheck
// the previous configuration (and every record not moved) still holds.
TEST_CASE("health checks: equal ones are one object; a reload moves them, never the original",
          "[config][reload]") {
    test::TempDir dir;
    const std::string main = dir.write("main.yml", kMain);
    auto head = [](const std::string& ttl) {
        return "defaults:\n  record_ttl: " + ttl +
               "\nhealthcheck_profiles:\n"
               "  web: {type: http, params: {uri: /health, headers: {X-A: b}}}\n"
               "  deep: {type: grpc, params: {port: 1234}}\nrecords:\n";
    };
    // 250 records x 4 backends: 1,000 name `web`; every other record has one more that sets
    // port 8080 (another check, shared by those 125); every 10th one more with the same
    // inline tcp check (25 places, one check); every 5th one more naming `deep` (a grpc
    // check: its raw params keep their positions, 50 backends share it).
    std::string recs;
    for (int i = 0; i < 250; ++i) {
        const std::string n = std::to_string(i);
        recs += "  r" + n + ".example.:\n    backends:\n";
        for (int j = 0; j < 4; ++j)
            recs += "      - address: 10.0." + n + "." + std::to_string(j + 1) +
                    "\n        healthchecks: [web]\n";
        if (i % 2 == 1)
            recs += "      - address: 10.1." + n +
                    ".1\n        port: 8080\n        healthchecks: [web]\n";
        if (i % 10 == 0)
            recs += "      - address: 10.2." + n +
                    ".1\n        healthchecks:\n          - type: tcp\n            params: {port: "
                    "22}\n";
        if (i % 5 == 0) recs += "      - address: 10.3." + n + ".1\n        healthchecks: [deep]\n";
    }
    struct Group {
        std::shared_ptr<const HealthCheck> body;
        std::vector<SourcePos> at;  // every backend's position of it
        bool one_object = true;     // every backend of the group holds `body`
    };
    struct Groups {
        Group web, web8080, tcp, grpc;
    };
    auto groups = [](const Config& c) {
        Groups g;
        for (const auto& r : c.zones.at(0).records)
            for (const auto& b : r.backends)
                for (const auto& hc : b.healthchecks) {
                    Group& x = hc->type == "tcp"    ? g.tcp
                               : hc->type == "grpc" ? g.grpc
                               : hc->port == 8080   ? g.web8080
                                                    : g.web;
                    if (x.body == nullptr) x.body = hc.body();
                    x.one_object = x.one_object && x.body == hc.body();
                    x.at.push_back(hc.pos());
                }
        return g;
    };
    auto lines = [](const Group& x) {
        std::vector<int> v;
        for (const auto& p : x.at) v.push_back(p.line);
        std::sort(v.begin(), v.end());
        v.erase(std::unique(v.begin(), v.end()), v.end());
        return v;
    };
    for (const bool split : {true, false}) {
        INFO((split ? "read record by record" : "read whole (an anchor forbids the cut)"));
        // an anchor in `defaults` makes the reader parse the file whole
        const std::string ttl = split ? "30" : "&t 30";
        dir.write("policy.yml", head(ttl) + recs);
        const Config first = load_config(main);
        CHECK(first.load_stats.files_split == (split ? 1u : 0u));
        const Groups g1 = groups(first);
        for (const Group* x : {&g1.web, &g1.web8080, &g1.tcp, &g1.grpc}) {
            REQUIRE(x->body != nullptr);
            CHECK(x->one_object);
            // the backends hold it, and g1: nothing else keeps a copy
            CHECK(x->body.use_count() == static_cast<long>(x->at.size()) + 1);
        }
        CHECK(g1.web.at.size() == 1000);
        CHECK(g1.web8080.at.size() == 125);
        CHECK(g1.tcp.at.size() == 25);
        CHECK(g1.grpc.at.size() == 50);
        CHECK(g1.web.body != g1.web8080.body);
        CHECK(g1.web8080.body->uri == "/health");
        // a profile is one place; the inline check is written in 25
        CHECK(lines(g1.web) == std::vector<int>{4});
        CHECK(lines(g1.tcp).size() == 25);
        CHECK(g1.grpc.body->pos.line == 5);
        CHECK(g1.grpc.body->raw_params.at(0).pos.line == 5);
        const HealthCheck web_before = *g1.web.body, tcp_before = *g1.tcp.body,
                          grpc_before = *g1.grpc.body;

        // two lines more at the top: every record and the profiles move by two lines
        dir.write("policy.yml", "# one\n# two\n" + head(ttl) + recs);
        const Config two = load_config(main, &first);
        const Config fresh = load_config(main);
        CHECK(dump(two) == dump(fresh));
        if (split) {
            CHECK(two.load_stats.moved == 250);
            CHECK(two.load_stats.parsed == 0);
        }
        const Groups g2 = groups(two);
        for (const Group* x : {&g2.web, &g2.web8080, &g2.tcp, &g2.grpc}) {
            REQUIRE(x->body != nullptr);
            CHECK(x->one_object);
        }
        CHECK(g2.web.at.size() == 1000);
        CHECK(lines(g2.web) == std::vector<int>{6});
        std::vector<int> tcp_moved = lines(g1.tcp);
        for (int& l : tcp_moved) l += 2;
        CHECK(lines(g2.tcp) == tcp_moved);
        CHECK(g2.grpc.body->pos.line == 7);
        CHECK(g2.grpc.body->raw_params.at(0).pos.line == 7);
        CHECK(lines(g2.grpc) == std::vector<int>{7});
        if (split) {
            // moved records keep the content they had: no copy of a check without positions
            CHECK(g2.web.body == g1.web.body);
            CHECK(g2.tcp.body == g1.tcp.body);
        }
        // the grpc check holds positions: a new object, the old one untouched
        CHECK(g2.grpc.body != g1.grpc.body);
        // the previous generation is what it was: the same objects, the same positions
        const Groups again = groups(first);
        CHECK(again.web.body == g1.web.body);
        CHECK(again.grpc.body == g1.grpc.body);
        CHECK(lines(again.web) == std::vector<int>{4});
        CHECK(lines(again.tcp) == lines(g1.tcp));
        CHECK(lines(again.grpc) == std::vector<int>{5});
        CHECK(*g1.web.body == web_before);
        CHECK(*g1.tcp.body == tcp_before);
        CHECK(*g1.grpc.body == grpc_before);
        CHECK(g1.grpc.body.use_count() == 50 + 2);  // first's backends, g1 and again

        // an edit of one record: the others are reused as they are, with the objects of
        // `two`; the edited one's backends hold checks equal to them
        std::string edited = recs;
        edited.replace(edited.find("10.0.7.1"), 8, "10.9.7.1");
        dir.write("policy.yml", "# one\n# two\n" + head(ttl) + edited);
        const Config three = load_config(main, &two);
        CHECK(dump(three) == dump(load_config(main)));
        if (split) {
            CHECK(three.load_stats.parsed == 1);
            CHECK(three.load_stats.shared == 249);
            CHECK(three.zones[0].records[0].backends[0].healthchecks[0].body() == g2.web.body);
        }
        CHECK(*three.zones[0].records[7].backends[0].healthchecks[0] == *g2.web.body);
    }
}
