#pragma once
/// Moving traffic gradually (docs/gradual.md): slow start, flap damping (RFC 2439) and TTLs
/// that follow health. Pure: no I/O, time comes in as seconds of a monotonic clock, so that
/// every rule is unit-testable. The control side (ctl::Control) runs a GradualTracker over
/// every Health it publishes; the workers only see its result in the snapshot (Health::up,
/// ramp, short_ttl), never this state.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/model.hh"
#include "gslb/snapshot.hh"
#include "health/monitor.hh"

namespace gslbd::health {

/// Seconds of the steady clock (the time base of GradualTracker and gslb::GradualNote).
double steady_seconds() noexcept;

/// Slow start: the percent of its weight a backend gets `elapsed` seconds after it became
/// usable again. Linear from min_percent to 100 over the window, rounded down to a multiple
/// of 5 (never under min_percent), so a ramp publishes at most 20 distinct weights; 100 once
/// the window has passed (or when slow start is off).
std::uint32_t ramp_percent(double elapsed, const config::SlowStart& s) noexcept;

/// Health scores: the percent of its weight a backend keeps for its recent rounds `s`. 100
/// without samples (or scoring off); 0 (out) when the success rate is under
/// min_success_percent; when the mean latency L is over the threshold T,
/// max(floor_percent, 100 * T / L) rounded down to a multiple of 5; the same for the load
/// gauge G over `load`; the smaller of the two; else 100.
std::uint32_t score_percent(const Monitor::Score& s, const config::Scoring& sc) noexcept;

/// RFC 2439 penalty of one backend: every up/down change adds `penalty`; it halves every
/// half_life; at or over `suppress` the backend is suppressed until the penalty decays under
/// `reuse`. The penalty is capped at reuse * 2^(max_suppress / half_life), so a suppression
/// never outlasts max_suppress after the last change.
class FlapDamper {
  public:
    /// An up/down change at `now`.
    void flap(double now, const config::FlapDamping& d) noexcept;
    /// Decays to `now` and lifts the suppression once under reuse; returns suppressed().
    bool update(double now, const config::FlapDamping& d) noexcept;
    /// The penalty decayed to `now` (does not change the state).
    double penalty(double now, const config::FlapDamping& d) const noexcept;
    bool suppressed() const noexcept { return suppressed_; }
    std::uint32_t flaps() const noexcept { return flaps_; }
    /// When the penalty falls under reuse (the lift time while suppressed).
    double reuse_at(const config::FlapDamping& d) const noexcept;
    /// The penalty as of the last flap() / update() and when that was.
    double raw_penalty() const noexcept { return penalty_; }
    double raw_at() const noexcept { return at_; }

  private:
    double penalty_ = 0, at_ = 0;
    std::uint32_t flaps_ = 0;
    bool suppressed_ = false;
};

/// The per-backend history behind slow start, flap damping and dynamic TTLs, kept across
/// publishes (and across reloads for backends that stay: the same record name and address,
/// found by carry_ids without a string key per backend). Only backends of records that use
/// one of the rules have an entry; with no such record it holds nothing.
class GradualTracker {
  public:
    /// Lays the gradual rules over `h` for `topo` at `now`: `h.up` (after any fleet filter)
    /// and `h.admin` must be filled. Marks suppressed backends down, fills h.ramp, h.short_ttl
    /// and h.notes (left empty when no record of `topo` uses any of the rules; a backend of a
    /// record that uses none keeps an empty note). Returns true while something moves with
    /// time alone (a ramp, a suppression, a recent change under dynamic_ttl): apply() again
    /// about once a second until it returns false.
    bool apply(const std::shared_ptr<const gslb::Topology>& topo, gslb::Health& h, double now);

    /// The monitor's scores for the next apply(): by window (rounds), each by backend id.
    void set_scores(std::map<std::uint32_t, std::vector<Monitor::Score>> scores) {
        scores_ = std::move(scores);
    }
    /// The windows the records of `topo` score over (empty: no record scores).
    static std::vector<std::uint32_t> score_windows(const gslb::Topology& topo);
    /// Entries held (backends of records that use a rule), for tests and the footprint bench.
    std::size_t tracked() const noexcept { return tracks_.size(); }

  private:
    std::map<std::uint32_t, std::vector<Monitor::Score>> scores_;
    struct Track {
        bool seen = false, raw_up = true, usable = true;
        double usable_since = -1e18, changed_at = -1e18;
        double fresh_at = -1e18;  ///< when a reload or pool change added it (else -1e18)
        FlapDamper damper;
    };
    static constexpr std::uint32_t kNone = 0xffffffffu;
    void remap(const gslb::Topology& topo, double now);

    std::shared_ptr<const gslb::Topology> topo_;  ///< held: a new one never shares its address
    /// by record id of topo_: the index in tracks_ of its first backend's entry (A, then
    /// AAAA, in order), kNone for a record that uses no rule; empty when none does
    std::vector<std::uint32_t> first_;
    std::vector<Track> tracks_;
    bool any_ = false;  ///< some record of topo_ uses a rule
};

}  // namespace gslbd::health
