#include <algorithm>

#include "fixture.hh"

using namespace gslbd;

namespace {
class Dummy final : public gslb::Policy {
  public:
    std::string_view name() const noexcept override { return "test-dummy"; }
    void select(const gslb::SelectContext& ctx, gslb::Selection& out) const noexcept override {
        out.add(ctx.eligible[0]);
    }
};
std::unique_ptr<gslb::Policy> make_dummy() {
    return std::make_unique<Dummy>();
}
}  // namespace

TEST_CASE("every mode in policies/ survives static linking and is registered", "[registry]") {
    const auto names = gslb::policy_names();
    for (const char* n :
         {"failover", "roundrobin", "random", "weighted", "geoip", "geoip_affinity"}) {
        INFO(n);
        const gslb::Policy* p = gslb::find_policy(n);
        REQUIRE(p != nullptr);
        CHECK(p->name() == n);
        CHECK(std::find(names.begin(), names.end(), n) != names.end());
        CHECK(gslb::find_policy(n) == p);  // single instance
    }
    CHECK(gslb::find_policy("round-robin") == nullptr);
    CHECK(gslb::find_policy("") == nullptr);
}

TEST_CASE("registering a name twice keeps the first instance", "[registry]") {
    const gslb::Policy* before = gslb::find_policy("failover");
    REQUIRE(before != nullptr);
    CHECK_FALSE(gslb::register_policy("failover", &make_dummy));
    CHECK(gslb::find_policy("failover") == before);
    CHECK(gslb::find_policy("failover")->name() == "failover");

    CHECK(gslb::register_policy("test-dummy", &make_dummy));
    const gslb::Policy* dummy = gslb::find_policy("test-dummy");
    REQUIRE(dummy != nullptr);
    CHECK_FALSE(gslb::register_policy("test-dummy", &make_dummy));
    CHECK(gslb::find_policy("test-dummy") == dummy);
    const auto names = gslb::policy_names();
    CHECK(std::count(names.begin(), names.end(), "test-dummy") == 1);
}

TEST_CASE("WorkerState::prepare sizes A and AAAA cursors and reallocates only on change",
          "[registry]") {
    test::World w;
    w.add_record({test::backend("192.0.2.1", 0)});
    w.add_record({test::backend("192.0.2.2", 1)});
    w.add_record({test::backend("192.0.2.3", 2)});
    w.finish();
    REQUIRE(w.ws.state(w.topo->records[1]).size() == 2);
    CHECK(w.ws.ready(*w.topo));
    CHECK(w.ws.prepared_for() == w.topo.get());

    w.ws.state(w.topo->records[1])[1] = 77;
    const auto* data = w.ws.state(w.topo->records[0]).data();
    w.ws.prepare(*w.topo);
    CHECK(w.ws.state(w.topo->records[0]).data() == data);
    CHECK(w.ws.state(w.topo->records[1])[1] == 77);  // cursors survive re-preparing

    gslb::Topology bigger;
    bigger.records.resize(5);
    bigger.state_words = 10;
    w.ws.prepare(bigger);
    CHECK(w.ws.ready(bigger));
    CHECK(w.ws.prepared_for() == &bigger);

    gslb::Topology empty;
    w.ws.prepare(empty);
    CHECK(w.ws.state(w.topo->records[0]).empty());
    CHECK(w.ws.prepared_for() == &empty);
}

TEST_CASE("a config's spelling of a mode resolves without case and through aliases", "[registry]") {
    const gslb::Policy* rr = gslb::find_policy("roundrobin");
    REQUIRE(rr != nullptr);
    for (const char* s : {"roundrobin", "RoundRobin", "round-robin", "Round-Robin", "ROUND_ROBIN"})
        CHECK(gslb::resolve_policy(s) == rr);
    CHECK(gslb::resolve_policy("GeoIP") == gslb::find_policy("geoip"));
    CHECK(gslb::resolve_policy("round robin") == nullptr);
    CHECK(gslb::resolve_policy("") == nullptr);
    // aliases are spellings, not names
    const auto names = gslb::policy_names();
    CHECK(std::find(names.begin(), names.end(), "round-robin") == names.end());

    CHECK(gslb::register_policy("test-aliased", &make_dummy, {"Test-Alias", "roundrobin"}));
    const gslb::Policy* a = gslb::find_policy("test-aliased");
    REQUIRE(a != nullptr);
    CHECK(gslb::resolve_policy("TEST-ALIAS") == a);
    CHECK(gslb::resolve_policy("roundrobin") == rr);  // a taken spelling stays with its owner
}

TEST_CASE("roundrobin declares one cursor per address family", "[registry]") {
    gslb::RecordRt rec;
    CHECK(test::policy("roundrobin").state_words(rec) == 2);
    CHECK(test::policy("failover").state_words(rec) == 0);
    CHECK(test::policy("geoip").state_words(rec) == 0);
}
