// A record's (or the file's `defaults`') slow_start, flap_damping and dynamic_ttl blocks
// (docs/gradual.md). Each block is off unless written; a shorthand scalar turns it on with
// the defaults (slow_start: 60s, flap_damping: true, dynamic_ttl: 5).
#include <cmath>
#include <cstdlib>

#include "config/yaml_util.hh"
#include "util/log.hh"

namespace gslbd::config::detail {

namespace {

void parse_slow_start(const Val& v, SlowStart& s) {
    s.pos = v.pos();
    if (v.is_scalar()) {
        s.window = v.duration(Millis{0});
        return;
    }
    MapReader m(v, {"window", "min_percent"});
    s.window = m.require("window").duration(Millis{0});
    if (auto x = m.get("min_percent"))
        s.min_percent = static_cast<std::uint32_t>(x->integer(1, 100));
}

void parse_damping(const Val& v, FlapDamping& d) {
    d.pos = v.pos();
    if (v.is_scalar()) {
        d.enabled = v.boolean();
        return;
    }
    d.enabled = true;
    MapReader m(v, {"penalty", "suppress", "reuse", "half_life", "max_suppress"});
    if (auto x = m.get("penalty")) d.penalty = static_cast<double>(x->integer(1, 1'000'000));
    if (auto x = m.get("suppress")) d.suppress = static_cast<double>(x->integer(1, 1'000'000));
    if (auto x = m.get("reuse")) d.reuse = static_cast<double>(x->integer(1, 1'000'000));
    if (auto x = m.get("half_life")) d.half_life = x->duration(Millis{1000});
    if (auto x = m.get("max_suppress")) d.max_suppress = x->duration(Millis{1000});
    if (d.reuse >= d.suppress)
        v.fail("reuse (" + std::to_string(static_cast<long long>(d.reuse)) +
               ") must be below suppress (" + std::to_string(static_cast<long long>(d.suppress)) +
               ")");
    // RFC 2439 caps the penalty at reuse * 2^(max_suppress / half_life): under suppress,
    // nothing could ever be suppressed.
    const double ceiling = d.reuse * std::exp2(static_cast<double>(d.max_suppress.count()) /
                                               static_cast<double>(d.half_life.count()));
    if (ceiling <= d.suppress)
        v.fail("max_suppress is too short for half_life: the penalty ceiling reuse * 2^(" +
               std::string("max_suppress / half_life) stays under suppress, so no backend would "
                           "ever be suppressed"));
}

void parse_ttl(const Val& v, DynamicTtl& t) {
    t.pos = v.pos();
    t.enabled = true;
    if (v.is_scalar()) {
        t.min = static_cast<std::uint32_t>(v.integer(1, 2147483647));
        return;
    }
    MapReader m(v, {"min", "recent"});
    if (auto x = m.get("min")) t.min = static_cast<std::uint32_t>(x->integer(1, 2147483647));
    if (auto x = m.get("recent")) t.recent = x->duration(Millis{0});
}

void parse_scoring(const Val& v, Scoring& sc) {
    sc.pos = v.pos();
    sc.enabled = true;
    MapReader m(v, {"window", "min_success_percent", "latency", "floor_percent", "load"});
    if (auto x = m.get("window")) sc.window = static_cast<std::uint32_t>(x->integer(1, 64));
    if (auto x = m.get("min_success_percent"))
        sc.min_success_percent = static_cast<std::uint32_t>(x->integer(0, 100));
    if (auto x = m.get("latency")) sc.latency = x->duration(Millis{1});
    if (auto x = m.get("floor_percent"))
        sc.floor_percent = static_cast<std::uint32_t>(x->integer(1, 100));
    if (auto x = m.get("load")) {
        const std::string t = x->str();
        char* end = nullptr;
        sc.load = std::strtod(t.c_str(), &end);
        if (t.empty() || *end != '\0' || !std::isfinite(sc.load) || sc.load <= 0)
            x->fail("load must be a number over 0 (the load gauge's threshold)");
    }
}

}  // namespace

void parse_gradual(const MapReader& m, Gradual& g) {
    if (auto x = m.get("scoring"); x && !x->is_null()) parse_scoring(*x, g.scoring);
    if (auto x = m.get("slow_start"); x && !x->is_null()) parse_slow_start(*x, g.slow_start);
    if (auto x = m.get("flap_damping"); x && !x->is_null()) parse_damping(*x, g.damping);
    if (auto x = m.get("dynamic_ttl"); x && !x->is_null()) parse_ttl(*x, g.ttl);
}

void check_gradual(const Record& r) {
    const auto& s = r.gradual.slow_start;
    // Resolvers keep an answer for a TTL: a ramp shorter than a few TTLs reaches most of
    // them in one or two steps, which is the thundering herd slow start is there to avoid.
    if (s.on() && s.window < std::chrono::seconds(3LL * r.ttl))
        util::log_warn(
            "{}: {}: slow_start window {} ms is shorter than 3 TTLs of the record ({} s): "
            "resolvers will see only a few steps of the ramp",
            s.pos.to_string(), r.name, s.window.count(), r.ttl);
    const auto& t = r.gradual.ttl;
    if (t.enabled && t.min >= r.ttl)
        util::log_warn(
            "{}: {}: dynamic_ttl min {} is not below the record's TTL {}: no answer "
            "is shortened",
            t.pos.to_string(), r.name, t.min, r.ttl);
}

}  // namespace gslbd::config::detail
