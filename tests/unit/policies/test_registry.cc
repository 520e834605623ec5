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
    for (const char* n : {"failover", "roundrobin", "random", "weighted", "geoip"}) {
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
    REQUIRE(w.ws.rr.size() == 6);
    CHECK(w.ws.prepared_for == w.topo.get());

    w.ws.rr[3] = 77;
    const auto* data = w.ws.rr.data();
    w.ws.prepare(*w.topo);
    CHECK(w.ws.rr.data() == data);
    CHECK(w.ws.rr[3] == 77);  // cursors survive re-preparing for the same topology

    gslb::Topology bigger;
    bigger.records.resize(5);
    w.ws.prepare(bigger);
    CHECK(w.ws.rr.size() == 10);
    CHECK(w.ws.prepared_for == &bigger);

    gslb::Topology empty;
    w.ws.prepare(empty);
    CHECK(w.ws.rr.empty());
    CHECK(w.ws.prepared_for == &empty);
}
