// The plug-in promise, proven from outside the tree: a selection mode defined and registered
// in this file only (no change anywhere else) loads from a zone file under its name or an
// alias, answers through the Pipeline, keeps its promise through the response cache (it
// rotates by its own per-worker state, and cached answers still rotate), and is explained
// in its own words by the control API's explain.
#include <catch2/catch.hpp>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../config/test_util.hh"
#include "../gslb/decode.hh"
#include "ctl/control.hh"
#include "ctl/explain.hh"
#include "gslb/policy.hh"
#include "gslb/publish.hh"
#include "pipeline/pipeline.hh"

namespace {

using namespace gslbd;

// test-pairs: two backends per answer, the eligible one at this worker's cursor and the next
// one, the cursor advancing per query (one per address family, in the record's state slot).
class TestPairs final : public gslb::Policy {
  public:
    std::string_view name() const noexcept override { return "test-pairs"; }
    bool cacheable() const noexcept override { return true; }
    std::uint32_t state_words(const gslb::RecordRt&) const override { return 2; }
    std::uint32_t variant(const gslb::SelectContext& ctx,
                          const gslb::Decision&) const noexcept override {
        const std::span<std::uint64_t> s = ctx.state();
        const std::size_t k = ctx.af == 6 ? 1 : 0;
        const std::uint64_t cursor = k < s.size() ? s[k]++ : 0;
        return static_cast<std::uint32_t>(cursor % ctx.eligible.size());
    }
    void select_decided(const gslb::SelectContext& ctx, const gslb::Decision& d,
                        gslb::Selection& out) const noexcept override {
        out.count = 0;
        out.scope = d.scope;
        out.decision_class = d.decision_class;
        const std::size_t n = ctx.eligible.size();
        out.add(ctx.eligible[d.variant % n]);
        if (n > 1) out.add(ctx.eligible[(d.variant + 1) % n]);
    }
    void select(const gslb::SelectContext& ctx, gslb::Selection& out) const noexcept override {
        gslb::Decision d;
        d.variant = variant(ctx, d);
        select_decided(ctx, d, out);
    }
    void explain(const gslb::SelectContext& ctx, const gslb::Decision& d,
                 gslb::Explanation& out) const override {
        out.per_query = true;
        out.notes.emplace_back("pair", "starts at eligible backend " +
                                           std::to_string(d.variant + 1) + " of " +
                                           std::to_string(ctx.eligible.size()));
    }
};

}  // namespace

GSLBD_REGISTER_POLICY("test-pairs", TestPairs, "Test_Pairs")

namespace {

std::vector<std::uint8_t> query_a(const std::string& name, std::uint16_t id) {
    std::vector<std::uint8_t> p = {static_cast<std::uint8_t>(id >> 8),
                                   static_cast<std::uint8_t>(id),
                                   0x01,
                                   0x00,
                                   0,
                                   1,
                                   0,
                                   0,
                                   0,
                                   0,
                                   0,
                                   0};
    const auto n = testdns::encode_name(name);
    p.insert(p.end(), n.begin(), n.end());
    p.insert(p.end(), {0, 1, 0, 1});  // A, IN
    return p;
}

std::string write_config(const test::TempDir& dir, const std::string& mode) {
    dir.write("pairs.yml",
              "records:\n"
              "  pairs.example.:\n"
              "    mode: " +
                  mode +
                  "\n"
                  "    backends:\n"
                  "      - address: 192.0.2.1\n"
                  "      - address: 192.0.2.2\n"
                  "      - address: 192.0.2.3\n");
    return dir.write("main.yml",
                     "listen: [127.0.0.1]\n"
                     "zones:\n"
                     "  - name: example.\n"
                     "    policy: pairs.yml\n"
                     "    ns: [{name: ns1.example., addresses: [192.0.2.53]}]\n");
}

}  // namespace

TEST_CASE("a mode registered by a test alone loads, answers, caches and is explained", "[plugin]") {
    test::TempDir dir;
    // An alias, spelled in another case: the registry resolves it, config only keeps it.
    auto topo = ctl::load_topology(write_config(dir, "TEST_PAIRS"));
    REQUIRE(topo->records.size() == 1);
    const gslb::RecordRt& rec = topo->records[0];
    REQUIRE(rec.policy == gslb::find_policy("test-pairs"));
    CHECK(rec.state_words == 2);

    gslb::SnapshotHolder holder;
    auto snap = std::make_unique<gslb::Snapshot>();
    snap->generation = 1;
    snap->topo = topo;
    snap->health = gslb::all_up(*topo);
    holder.publish(std::move(snap));

    SECTION("answers through the pipeline and rotates through the cache") {
        pipeline::Pipeline pipe(holder, 7, 1024, 512);
        pipe.tick(1000);
        const std::vector<std::string> order{"192.0.2.1", "192.0.2.2", "192.0.2.3"};
        std::vector<std::string> firsts;
        std::vector<std::uint8_t> out(4096);
        {
            gslb::RcuThread reader;
            for (std::uint16_t i = 0; i < 30; ++i) {
                const std::size_t n = pipe.handle(query_a("pairs.example.", i),
                                                  *util::IpAddr::parse("127.0.0.1"), out, false);
                gslb::RcuThread::quiescent();
                REQUIRE(n > 0);
                const testdns::Msg m = testdns::decode({out.data(), n});
                CHECK(m.id == i);
                REQUIRE(m.answer.size() == 2);
                const auto at =
                    std::find(order.begin(), order.end(), m.answer[0].addr) - order.begin();
                REQUIRE(at < 3);
                CHECK(m.answer[1].addr == order[(at + 1) % 3]);  // the pair, from any cursor
                firsts.push_back(m.answer[0].addr);
            }
        }
        // Every query moves the cursor on, cache hit or miss.
        for (std::size_t i = 1; i < firsts.size(); ++i) {
            const auto prev = std::find(order.begin(), order.end(), firsts[i - 1]) - order.begin();
            CHECK(firsts[i] == order[(prev + 1) % 3]);
        }
        // One entry per variant: three misses, then hits only.
        CHECK(pipe.cache_counters().inserts == 3);
        CHECK(pipe.cache_counters().hits == 27);
    }

    SECTION("explained in its own words") {
        const gslb::Snapshot view{1, topo, gslb::all_up(*topo)};
        ctl::ExplainRequest req;
        req.name = "pairs.example.";
        req.client = *util::IpAddr::parse("127.0.0.1");
        const nlohmann::json e = ctl::explain(view, req);
        CHECK(e["mode"] == "test-pairs");
        REQUIRE(e["decision"].contains("why"));
        CHECK(e["decision"]["why"]["pair"].get<std::string>().find("of 3") != std::string::npos);
        CHECK(e["answer"]["answer"].size() == 2);
        CHECK(e["result"].get<std::string>().find("test-pairs picks per query") !=
              std::string::npos);
    }
}

TEST_CASE("an unknown mode is named with its file, line and column", "[plugin]") {
    test::TempDir dir;
    const std::string main = write_config(dir, "test-paris");
    try {
        ctl::load_topology(main);
        FAIL("no error");
    } catch (const config::ConfigError& e) {
        const std::string what = e.what();
        CHECK(what.find(dir.path() + "/pairs.yml:2:3: mode: unknown mode 'test-paris'") == 0);
        CHECK(what.find("test-pairs") != std::string::npos);  // the known ones are listed
    }
}
