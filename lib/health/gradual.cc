#include "health/gradual.hh"

#include "health/plan.hh"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace gslbd::health {

double steady_seconds() noexcept {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

namespace {

double seconds(config::Millis m) noexcept {
    return static_cast<double>(m.count()) / 1000.0;
}

double ceiling(const config::FlapDamping& d) noexcept {
    return d.reuse * std::exp2(seconds(d.max_suppress) / seconds(d.half_life));
}

}  // namespace

std::uint32_t ramp_percent(double elapsed, const config::SlowStart& s) noexcept {
    const double window = seconds(s.window);
    if (!s.on() || elapsed >= window) return 100;
    const double lo = std::clamp<double>(s.min_percent, 1, 100);
    const double p = lo + (100.0 - lo) * std::max(elapsed, 0.0) / window;
    const auto stepped = static_cast<std::uint32_t>(p / 5.0) * 5u;
    return std::clamp<std::uint32_t>(stepped, static_cast<std::uint32_t>(lo), 100);
}

std::uint32_t score_percent(const Monitor::Score& s, const config::Scoring& sc) noexcept {
    if (!sc.enabled || s.samples == 0) return 100;
    if (s.success * 100.0 < static_cast<double>(sc.min_success_percent) - 1e-9) return 0;
    const std::uint32_t floor = std::min<std::uint32_t>(sc.floor_percent, 100);
    // over a threshold T, a value V keeps 100 * T / V percent, in steps of 5, at least floor
    auto over = [floor](double t, double v) {
        if (t <= 0 || !(v > t)) return 100u;
        const auto p = static_cast<std::uint32_t>(100.0 * t / v / 5.0) * 5u;
        return std::clamp<std::uint32_t>(p, floor, 100);
    };
    return std::min(over(static_cast<double>(sc.latency.count()), s.latency_ms),
                    over(sc.load, s.load));
}

std::vector<std::uint32_t> GradualTracker::score_windows(const gslb::Topology& topo) {
    std::vector<std::uint32_t> out;
    for (const auto& rec : topo.records) {
        const auto& sc = rec.cfg->gradual.scoring;
        if (sc.enabled && std::find(out.begin(), out.end(), sc.window) == out.end())
            out.push_back(sc.window);
    }
    return out;
}

double FlapDamper::penalty(double now, const config::FlapDamping& d) const noexcept {
    if (penalty_ <= 0) return 0;
    return penalty_ * std::exp2(-(std::max(now - at_, 0.0)) / seconds(d.half_life));
}

void FlapDamper::flap(double now, const config::FlapDamping& d) noexcept {
    penalty_ = std::min(penalty(now, d) + d.penalty, ceiling(d));
    at_ = now;
    ++flaps_;
    if (penalty_ >= d.suppress) suppressed_ = true;
}

bool FlapDamper::update(double now, const config::FlapDamping& d) noexcept {
    penalty_ = penalty(now, d);
    at_ = now;
    if (suppressed_ && penalty_ < d.reuse) suppressed_ = false;
    if (penalty_ < 1) penalty_ = 0;  // forgotten: nothing left to decay
    return suppressed_;
}

double FlapDamper::reuse_at(const config::FlapDamping& d) const noexcept {
    if (penalty_ < d.reuse) return at_;
    return at_ + seconds(d.half_life) * std::log2(penalty_ / d.reuse);
}

namespace {

bool uses_rules(const config::Gradual& g) noexcept {
    return g.slow_start.on() || g.damping.enabled || g.ttl.enabled || g.scoring.enabled;
}

}  // namespace

void GradualTracker::remap(const gslb::Topology& topo, double now) {
    any_ = false;
    for (const auto& rec : topo.records)
        any_ = any_ || (rec.cfg != nullptr && uses_rules(rec.cfg->gradual));
    // Backends new in this topology (a reload or a pool change added them) start a ramp if
    // they are usable; at start-up (no earlier topology) there is nothing to ramp from.
    const bool successor = topo_ != nullptr;
    if (!any_) {
        std::vector<std::uint32_t>().swap(first_);
        std::vector<Track>().swap(tracks_);
        return;
    }
    std::vector<std::uint32_t> prev_id;    // by backend id: its id in topo_ (plan.hh)
    std::vector<std::uint32_t> old_track;  // by backend id of topo_: index into tracks_
    if (successor) {
        prev_id = carry_ids(*topo_, topo);
        if (!tracks_.empty()) {
            old_track.assign(topo_->backend_count, kNone);
            for (const auto& rec : topo_->records) {
                if (rec.id >= first_.size() || first_[rec.id] == kNone) continue;
                std::uint32_t k = first_[rec.id];
                for (const auto* fam : {&rec.v4, &rec.v6})
                    for (const auto& b : *fam) {
                        if (b.id < old_track.size()) old_track[b.id] = k;
                        ++k;
                    }
            }
        }
    }
    std::vector<std::uint32_t> first(topo.records.size(), kNone);
    std::vector<Track> tracks;
    for (const auto& rec : topo.records) {
        if (rec.cfg == nullptr || !uses_rules(rec.cfg->gradual) || rec.id >= first.size()) continue;
        first[rec.id] = static_cast<std::uint32_t>(tracks.size());
        for (const auto* fam : {&rec.v4, &rec.v6}) {
            for (const auto& b : *fam) {
                Track& t = tracks.emplace_back();
                if (!successor) continue;
                const std::uint32_t p = b.id < prev_id.size() ? prev_id[b.id] : kNoBackend;
                if (p == kNoBackend) {
                    t.fresh_at = now;  // new since the last topology
                } else if (p < old_track.size() && old_track[p] != kNone) {
                    t = tracks_[old_track[p]];  // it stays: its history with it
                }
                // else it stays, but its record used no rule: a fresh history, no ramp
            }
        }
    }
    first_ = std::move(first);
    tracks_ = std::move(tracks);
}

bool GradualTracker::apply(const std::shared_ptr<const gslb::Topology>& topo_ptr, gslb::Health& h,
                           double now) {
    const gslb::Topology& topo = *topo_ptr;
    if (topo_ != topo_ptr) {
        remap(topo, now);
        topo_ = topo_ptr;
    }
    if (!any_) return false;
    h.up.resize(topo.backend_count, 1);
    h.ramp.assign(topo.backend_count, 0);
    h.notes.assign(topo.backend_count, gslb::GradualNote{});
    h.short_ttl.clear();
    bool moving = false;
    for (const auto& rec : topo.records) {
        if (rec.id >= first_.size() || first_[rec.id] == kNone) continue;  // uses no rule
        std::uint32_t k = first_[rec.id];
        const auto& g = rec.cfg->gradual;
        const double recent = g.ttl.recent.count() > 0 ? seconds(g.ttl.recent) : rec.ttl;
        for (int f = 0; f < 2; ++f) {
            const auto& fam = f == 0 ? rec.v4 : rec.v6;
            bool shorten = false, any_usable = false;
            for (const auto& b : fam) {
                Track& t = tracks_[k++];
                if (b.id >= topo.backend_count) continue;
                const bool raw = h.up[b.id] != 0;
                if (t.seen && raw != t.raw_up) {
                    t.changed_at = now;
                    if (g.damping.enabled) t.damper.flap(now, g.damping);
                }
                t.raw_up = raw;
                const bool suppressed = g.damping.enabled && t.damper.update(now, g.damping);
                if (suppressed) h.up[b.id] = 0;
                std::uint32_t score = 100;
                gslb::GradualNote& n = h.notes[b.id];
                if (g.scoring.enabled) {
                    moving = true;  // scores change with every round: look again each second
                    auto it = scores_.find(g.scoring.window);
                    if (it != scores_.end() && b.id < it->second.size()) {
                        const Monitor::Score& s = it->second[b.id];
                        score = score_percent(s, g.scoring);
                        n.samples = s.samples;
                        n.success = s.success;
                        n.latency_ms = s.latency_ms;
                        n.load = std::isnan(s.load) ? -1 : s.load;
                    }
                    n.score = score;
                    if (score == 0) h.up[b.id] = 0;  // under min_success_percent: out
                }
                const bool usable =
                    b.enabled && h.up[b.id] != 0 && h.state_of(b.id) == gslb::AdminState::Enabled;
                if (t.seen && usable != t.usable) {
                    t.changed_at = now;
                    if (usable) t.usable_since = now;
                } else if (!t.seen && t.fresh_at > -1e17 && usable) {
                    t.usable_since = t.fresh_at;  // new since the last topology: ramps
                    t.changed_at = t.fresh_at;
                }
                t.usable = usable;
                t.seen = true;
                any_usable = any_usable || usable;

                n.flaps = t.damper.flaps();
                n.penalty = t.damper.raw_penalty();
                n.penalty_at = t.damper.raw_at();
                n.suppressed = suppressed;
                if (suppressed) n.reuse_at = t.damper.reuse_at(g.damping);
                n.changed_at = t.changed_at > -1e17 ? t.changed_at : -1;
                const double elapsed = now - t.usable_since;
                bool ramping = false;
                std::uint32_t p = 100;
                if (usable && g.slow_start.on() && elapsed < seconds(g.slow_start.window)) {
                    p = ramp_percent(elapsed, g.slow_start);
                    n.ramp_percent = p;
                    n.ramp_from = t.usable_since;
                    n.ramp_until = t.usable_since + seconds(g.slow_start.window);
                    moving = true;
                    ramping = p < 100;
                }
                if (usable && score > 0) p = std::max<std::uint32_t>(p * score / 100, 1);
                if (p < 100) h.ramp[b.id] = static_cast<std::uint8_t>(p);
                if (suppressed || t.damper.raw_penalty() > 0) moving = moving || g.damping.enabled;
                const bool is_recent = now - t.changed_at < recent;
                if (g.ttl.enabled && is_recent) moving = true;
                shorten = shorten || ramping || suppressed || is_recent;
            }
            // a family with none usable answers from the fallback (fail-open or fixed)
            if (!fam.empty() && !any_usable) shorten = true;
            if (g.ttl.enabled && shorten && g.ttl.min < rec.ttl) {
                const std::size_t i = std::size_t{rec.id} * 2 + static_cast<std::size_t>(f);
                if (h.short_ttl.size() <= i) h.short_ttl.resize(topo.records.size() * 2, 0);
                h.short_ttl[i] = std::max<std::uint32_t>(g.ttl.min, 1);
            }
        }
    }
    // nothing ramps: an empty vector keeps the weighted modes on their plain path
    if (std::all_of(h.ramp.begin(), h.ramp.end(), [](std::uint8_t r) { return r == 0; }))
        h.ramp.clear();
    return moving;
}

}  // namespace gslbd::health
