// Slow start, flap damping and dynamic TTLs (health/gradual.hh): the pure rules, then the
// tracker over a hand-made topology.
#include <catch2/catch.hpp>

#include "health/gradual.hh"

using namespace gslbd;

namespace {

config::SlowStart slow(double window_s, std::uint32_t min_percent = 10) {
    config::SlowStart s;
    s.window = config::Millis{static_cast<long long>(window_s * 1000)};
    s.min_percent = min_percent;
    return s;
}

config::FlapDamping damping(double half_life_s) {
    config::FlapDamping d;
    d.enabled = true;
    d.half_life = config::Millis{static_cast<long long>(half_life_s * 1000)};
    d.max_suppress = config::Millis{static_cast<long long>(4 * half_life_s * 1000)};
    return d;
}

}  // namespace

TEST_CASE("slow start ramps linearly in 5 % steps from min_percent to 100") {
    const auto s = slow(10, 10);
    CHECK(health::ramp_percent(0, s) == 10);
    CHECK(health::ramp_percent(0.5, s) == 10);   // 14.5 -> 10
    CHECK(health::ramp_percent(1.0, s) == 15);   // 19 -> 15
    CHECK(health::ramp_percent(5.0, s) == 55);   // 55
    CHECK(health::ramp_percent(9.99, s) == 95);  // 99.9 -> 95
    CHECK(health::ramp_percent(10, s) == 100);
    CHECK(health::ramp_percent(1000, s) == 100);
    CHECK(health::ramp_percent(0, slow(10, 7)) == 7);            // never under min_percent
    CHECK(health::ramp_percent(0, config::SlowStart{}) == 100);  // off
    std::uint32_t last = 0, steps = 0;
    for (double t = 0; t < 60; t += 0.01) {
        const std::uint32_t p = health::ramp_percent(t, slow(60, 1));
        REQUIRE(p >= last);
        steps += p != last;
        last = p;
    }
    CHECK(steps <= 21);  // at most 20 distinct weights per ramp, whatever its length
}

TEST_CASE("flap damping follows RFC 2439: suppress, decay, reuse, ceiling") {
    const auto d = damping(10);  // penalty 1000, suppress 2000, reuse 750
    health::FlapDamper f;
    f.flap(0, d);
    CHECK_FALSE(f.update(0, d));
    f.flap(2, d);  // 1000 * 2^-0.2 + 1000 = 1870
    CHECK_FALSE(f.suppressed());
    CHECK(f.penalty(2, d) == Approx(1000 * std::exp2(-0.2) + 1000));
    f.flap(4, d);  // 1870 * 2^-0.2 + 1000 = 2628: suppressed on the third change
    CHECK(f.suppressed());
    const double reuse = f.reuse_at(d);
    CHECK(reuse == Approx(4 + 10 * std::log2(f.penalty(4, d) / 750)));
    CHECK(f.update(reuse - 0.1, d));
    CHECK_FALSE(f.update(reuse + 0.1, d));
    CHECK(f.flaps() == 3);
    // the ceiling: reuse * 2^(max_suppress / half_life) = 750 * 16 = 12000
    health::FlapDamper g;
    for (int i = 0; i < 100; ++i) g.flap(0, d);
    CHECK(g.penalty(0, d) == Approx(12000));
    CHECK(g.reuse_at(d) == Approx(40));  // never longer than max_suppress after the last change
}

TEST_CASE("tracker: ramps a backend that comes back, damps flaps, shortens TTLs") {
    auto cfg = std::make_shared<config::Config>();
    config::Zone z;
    z.name = "t.";
    z.soa.mname = "ns.t.";
    z.soa.rname = "hostmaster.t.";
    config::Record r;
    r.name = "w.t.";
    r.mode = "weighted";
    r.ttl = 30;
    r.gradual.slow_start = slow(10, 10);
    r.gradual.damping = damping(10);
    r.gradual.ttl.enabled = true;
    r.gradual.ttl.min = 5;
    r.gradual.ttl.recent = config::Millis{3000};
    for (const char* a : {"192.0.2.1", "192.0.2.2"}) {
        config::Backend b;
        b.address = *util::IpAddr::parse(a);
        b.address_text = a;
        r.backends.push_back(b);
    }
    z.records.push_back(r);
    cfg->zones.push_back(z);
    auto topo = gslb::build_topology(cfg, std::make_shared<geo::GeoDbs>());
    REQUIRE(topo->backend_count == 2);

    health::GradualTracker t;
    auto ramp = [](const gslb::Health& h, std::size_t i) -> int {
        return i < h.ramp.size() ? h.ramp[i] : 0;  // empty: nothing ramps
    };
    auto run = [&](double now, std::vector<std::uint8_t> up) {
        gslb::Health h;
        h.up = std::move(up);
        t.apply(topo, h, now);
        return h;
    };
    // the first look is the steady state: nothing ramps, the TTL is the record's
    auto h = run(100, {1, 1});
    CHECK(h.ramp.empty());
    CHECK(h.short_ttl.empty());
    h = run(101, {0, 1});  // down: a recent change, TTL shortened
    REQUIRE(h.short_ttl.size() == 2);
    CHECK(h.short_ttl[0] == 5);
    h = run(102, {1, 1});  // back: ramps from 10 %
    CHECK(ramp(h, 0) == 10);
    h = run(107, {1, 1});
    CHECK(ramp(h, 0) == 55);
    CHECK(h.short_ttl[0] == 5);  // still ramping
    h = run(112.5, {1, 1});
    CHECK(ramp(h, 0) == 0);  // full weight again
    CHECK(h.short_ttl.empty());
    // more changes within a few seconds: suppressed, kept down while it is up
    h = run(113, {0, 1});
    CHECK_FALSE(h.notes[0].suppressed);
    h = run(113.5, {1, 1});
    CHECK(h.notes[0].suppressed);
    CHECK(h.up[0] == 0);
    h = run(114, {1, 1});
    CHECK(h.up[0] == 0);
    CHECK(h.notes[0].suppressed);
    const double back = h.notes[0].reuse_at;
    h = run(back + 0.1, {1, 1});
    CHECK(h.up[0] == 1);
    CHECK(ramp(h, 0) == 10);  // usable again after the suppression: slow start
}

TEST_CASE("health scores: out under min success, reduced in 5 % steps over the latency") {
    config::Scoring sc;
    sc.enabled = true;
    sc.min_success_percent = 80;
    sc.latency = config::Millis{100};
    sc.floor_percent = 10;
    using S = health::Monitor::Score;
    CHECK(health::score_percent(S{0, 0, 0}, sc) == 100);  // no round yet
    CHECK(health::score_percent(S{10, 1.0, 50}, sc) == 100);
    CHECK(health::score_percent(S{10, 0.8, 50}, sc) == 100);  // at the minimum: in
    CHECK(health::score_percent(S{10, 0.7, 50}, sc) == 0);
    CHECK(health::score_percent(S{10, 1.0, 210}, sc) == 45);  // 47.6 -> 45
    CHECK(health::score_percent(S{10, 1.0, 200}, sc) == 50);
    CHECK(health::score_percent(S{10, 1.0, 5000}, sc) == 10);  // the floor
    sc.enabled = false;
    CHECK(health::score_percent(S{10, 0.0, 5000}, sc) == 100);
}

TEST_CASE("tracker: a backend a reload adds ramps, one that stays does not; nothing at start") {
    auto make = [](std::vector<const char*> addrs) {
        auto cfg = std::make_shared<config::Config>();
        config::Zone z;
        z.name = "t.";
        z.soa.mname = "ns.t.";
        z.soa.rname = "hostmaster.t.";
        config::Record r;
        r.name = "w.t.";
        r.mode = "weighted";
        r.ttl = 30;
        r.gradual.slow_start = slow(10, 10);
        for (const char* a : addrs) {
            config::Backend b;
            b.address = *util::IpAddr::parse(a);
            b.address_text = a;
            r.backends.push_back(b);
        }
        z.records.push_back(r);
        cfg->zones.push_back(z);
        return gslb::build_topology(cfg, std::make_shared<geo::GeoDbs>());
    };
    health::GradualTracker t;
    auto run = [&](const std::shared_ptr<const gslb::Topology>& topo, double now) {
        gslb::Health h;
        h.up.assign(topo->backend_count, 1);
        t.apply(topo, h, now);
        h.ramp.resize(topo->backend_count, 0);
        return h;
    };
    const auto first = make({"192.0.2.1", "192.0.2.2"});
    CHECK(run(first, 100).ramp == std::vector<std::uint8_t>{0, 0});  // start-up: no ramp
    // a reload adds .3 (in the middle of the list: ids move, the keys stay)
    const auto second = make({"192.0.2.1", "192.0.2.3", "192.0.2.2"});
    auto h = run(second, 200);
    CHECK(h.ramp == std::vector<std::uint8_t>{0, 10, 0});
    h = run(second, 205);
    CHECK(h.ramp == std::vector<std::uint8_t>{0, 55, 0});
    h = run(second, 211);
    CHECK(h.ramp == std::vector<std::uint8_t>{0, 0, 0});
    // a reload that adds nothing starts no ramp
    const auto third = make({"192.0.2.1", "192.0.2.3", "192.0.2.2"});
    CHECK(run(third, 300).ramp == std::vector<std::uint8_t>{0, 0, 0});
}

TEST_CASE("tracker: entries only for records with a rule; a damped history survives a reload") {
    // records "plain0".."plain49" (no rule, 2 backends each) and "damped." (flap damping)
    auto make = [](bool plain_first, int plain, bool with_damped = true) {
        auto cfg = std::make_shared<config::Config>();
        config::Zone z;
        z.name = "t.";
        z.soa.mname = "ns.t.";
        z.soa.rname = "hostmaster.t.";
        auto add = [&z, with_damped](const std::string& name, bool damped) {
            if (damped && !with_damped) return;
            config::Record r;
            r.name = name;
            r.mode = "failover";
            r.ttl = 30;
            if (damped) r.gradual.damping = damping(100);
            for (const char* a : {"192.0.2.1", "192.0.2.2"}) {
                config::Backend b;
                b.address = *util::IpAddr::parse(a);
                b.address_text = a;
                r.backends.push_back(b);
            }
            z.records.push_back(r);
        };
        if (!plain_first) add("damped.t.", true);
        for (int i = 0; i < plain; ++i) add("plain" + std::to_string(i) + ".t.", false);
        if (plain_first) add("damped.t.", true);
        cfg->zones.push_back(z);
        return gslb::build_topology(cfg, std::make_shared<geo::GeoDbs>());
    };
    health::GradualTracker t;
    auto run = [&](const std::shared_ptr<const gslb::Topology>& topo, double now,
                   std::uint32_t down = 0xffffffffu) {
        gslb::Health h;
        h.up.assign(topo->backend_count, 1);
        if (down < h.up.size()) h.up[down] = 0;
        t.apply(topo, h, now);
        return h;
    };
    // no record with a rule: nothing held, nothing filled
    auto h = run(make(true, 50, false), 10);
    CHECK(t.tracked() == 0);
    CHECK(h.notes.empty());

    // damped.t. last: its two backends are the only entries
    const auto first = make(true, 50);
    REQUIRE(first->backend_count == 102);
    h = run(first, 20);
    CHECK(t.tracked() == 2);
    CHECK(h.notes.size() == 102);
    // damped.t.'s first backend flaps twice
    h = run(first, 21, 100);
    h = run(first, 22);
    CHECK(h.notes[100].flaps == 2);
    CHECK(h.notes[100].penalty > 0);
    // a reload that moves damped.t. to the front (every id changes): the history stays
    const auto second = make(false, 50);
    h = run(second, 23);
    CHECK(t.tracked() == 2);
    CHECK(h.notes[0].flaps == 2);
    CHECK(h.notes[0].penalty > 0);
    CHECK(h.notes[1].flaps == 0);
    CHECK(h.notes[2].flaps == 0);  // plain0.t.: no rule, an empty note
}
