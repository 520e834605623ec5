#pragma once
/// Drain over time (issue 18 item 6, docs/gradual.md "Traffic shifts"): POST /api/v1/shift
/// moves a share of the answers that would go to some backends (a selector: record, address,
/// tags, location) elsewhere, in steps, and records the answers per backend of every step.
///
/// A shift reaches the workers only through the Health that ctl::Control publishes, laid
/// over it after the gradual rules: as a percent of the targets' weight folded into
/// Health::ramp (records of modes that split by weight: weighted, ip-hash), as the percent
/// of clients that treat the targets as unavailable in Health::split (every other mode),
/// and, at the step that moves 100 %, as a drained admin state. No new lock per packet (a
/// split costs a bucket hash per address query while it runs), and every change of a
/// percent is a new generation (the caches never serve an answer of an older step). The control
/// side owns all of it under Control's lock; times are seconds of the steady clock, passed in, so
/// the book is testable without a clock.
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "ctl/admin.hh"
#include "gslb/snapshot.hh"

namespace gslbd::ctl {

/// What POST /api/v1/shift asks for.
struct ShiftParams {
    Selector selector;
    std::uint32_t share = 100;  ///< percent of the targets' answers moved in the end, 1..100
    std::uint32_t step = 10;    ///< percent moved per step, 1..100
    double interval = 60;       ///< seconds between steps
    double restore_after = 0;   ///< drill: seconds from the start until all is restored; 0 = none
};

/// Percent moved after `steps` steps: min(steps * step, share).
std::uint32_t shift_moved(std::uint32_t steps, const ShiftParams& p) noexcept;
/// Steps to reach the share: ceil(share / step).
std::uint32_t shift_steps(const ShiftParams& p) noexcept;
/// The percent of their weight the targets keep so that `moved` percent (0..100) of the
/// answers they would get go to the other backends, for the usable targets' effective weight
/// `wt` and the others' `wo`: round(100 (1 - m) wo / (wo + m wt)), at least 1 while m < 1;
/// 0 (out) at m = 1; 100 when there is nowhere to move to (wo = 0) and m < 1.
std::uint32_t shift_percent(std::uint32_t moved, double wt, double wo) noexcept;

enum class ShiftState : std::uint8_t {
    Running,   ///< stepping
    Paused,    ///< holds its current step; the step clock stands still
    Holding,   ///< every step done: the share stays moved until aborted (or the drill ends)
    Aborted,   ///< restored by the operator
    Restored,  ///< a drill's time is over: restored
    Ended,     ///< a reload left no backend the selector names: restored
};
std::string_view to_string(ShiftState s) noexcept;

class ShiftBook {
  public:
    /// Starts a shift over `topo` at `now` (its first step is in force at once). Returns its
    /// id. Throws RequestError: 404 when the selector names no backend, 409 when one of the
    /// targets is in another live shift.
    std::uint64_t start(const ShiftParams& p, const std::shared_ptr<const gslb::Topology>& topo,
                        double now);
    /// pause / resume / abort by id. Throws RequestError 404 (unknown id) or 409 (the shift is
    /// not in a state that allows it). Returns the shift as JSON.
    void pause(std::uint64_t id, double now);
    void resume(std::uint64_t id, double now);
    void abort(std::uint64_t id, double now);
    /// Takes the steps (and drill ends) whose time has come. Returns true when a published
    /// percent may have changed (publish again).
    bool advance(double now);
    /// Seconds until the next step or drill end of a running shift (1e9 when none).
    double next_due(double now) const noexcept;
    /// Some shift is running, paused or holding.
    bool live() const noexcept;
    /// Lays the live shifts over `h` (up, admin, weight and the gradual rules already in
    /// place) for `topo`: ramp, admin (drained at 100 %), shift, short_ttl (records with
    /// dynamic_ttl while a shift steps). A new topology first closes the counts of the old one
    /// and resolves each selector again (a shift whose selector names nothing ends).
    void apply(const std::shared_ptr<const gslb::Topology>& topo, gslb::Health& h, double now);
    /// Every shift (the newest last) with its steps; counts brought up to now first.
    nlohmann::json to_json(double now);
    /// One shift (RequestError 404 when unknown).
    nlohmann::json to_json(std::uint64_t id, double now);

    /// Finished shifts kept for their reports.
    static constexpr std::size_t kKeepFinished = 32;

  private:
    struct RecordPlan {  ///< one record's weights in the current step, for the report
        double wt = 0, wo = 0;
        std::uint32_t percent = 100;
        bool clients = false;  ///< moved by a share of clients (Health::split), not by weight
        std::string mode;
    };
    struct Segment {  ///< a stretch with one moved percent and state
        std::uint32_t step = 0, moved = 0;
        ShiftState state = ShiftState::Running;
        double from = 0, to = -1;                     ///< to < 0: open
        std::map<BackendKey, std::uint64_t> answers;  ///< by (record, address)
        std::map<std::string, RecordPlan> records;    ///< by record name
    };
    struct Shift {
        std::uint64_t id = 0;
        ShiftParams p;
        ShiftState state = ShiftState::Running;
        std::string reason;
        double started = 0, next_at = 0, paused_left = 0, ended = -1;
        std::uint32_t steps = 0;  ///< steps taken (1 once started)
        std::set<BackendKey> targets;
        std::set<std::string> records;  ///< records with a target
        std::vector<Segment> segments;
        std::vector<std::string> warnings;
        // counters: the topology last read and its totals by (record, address)
        std::shared_ptr<const gslb::Topology> topo;
        std::map<BackendKey, std::uint64_t> seen;
        bool live() const noexcept {
            return state == ShiftState::Running || state == ShiftState::Paused ||
                   state == ShiftState::Holding;
        }
    };
    Shift& find(std::uint64_t id);
    /// Resolves s.p.selector in `topo` into targets and records; false when none matches.
    static bool resolve(Shift& s, const gslb::Topology& topo);
    /// Adds what the counters of s.topo grew by since the last read to the open segment.
    static void sample(Shift& s);
    /// Closes the open segment at `now` and opens the next one (unless the shift is over).
    static void boundary(Shift& s, double now);
    void finish(Shift& s, ShiftState st, std::string reason, double now);
    nlohmann::json shift_json(Shift& s, double now);
    void trim();

    std::vector<Shift> shifts_;
    std::uint64_t next_id_ = 1;
};

}  // namespace gslbd::ctl
