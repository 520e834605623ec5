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
///
/// Kept (docs/gradual.md "Shifts that outlive a restart"): every live shift has a durable
/// document (its uid, selector, schedule and state, times in seconds of the wall clock) that
/// changes only when the operator starts, pauses or resumes it. Control keeps the documents
/// in the state file and, with the fleet, in etcd; restore() and adopt() rebuild a shift from
/// one at the step its schedule says now (steps are a function of the start, the interval and
/// the pauses, never counted by a clock that a restart would reset).
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
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
    /// Starts a shift over `topo` at `now` (its first step is in force at once); `wall` is the
    /// wall clock at `now` (seconds since the epoch; < 0: `now` itself, for tests). Returns its
    /// id. Throws RequestError: 404 when the selector names no backend, 409 when one of the
    /// targets is in another live shift.
    std::uint64_t start(const ShiftParams& p, const std::shared_ptr<const gslb::Topology>& topo,
                        double now, double wall = -1);
    /// pause / resume / abort by id. Throws RequestError 404 (unknown id) or 409 (the shift is
    /// not in a state that allows it). Returns the shift as JSON.
    void pause(std::uint64_t id, double now, double wall = -1);
    void resume(std::uint64_t id, double now, double wall = -1);
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

    /// Durable documents of the live shifts, for the state file: a JSON array of documents,
    /// each with "in_fleet" (true once the fleet has carried it).
    nlohmann::json durable() const;
    /// Rebuilds the shifts of a state file's array (durable()) over `topo` at `now` (steady)
    /// / `wall` (seconds since the epoch): each at the step its schedule says now; a drill
    /// whose restore time has passed is listed as restored. Returns what to log (entries
    /// that could not be read are skipped and named there).
    std::vector<std::string> restore(const nlohmann::json& list,
                                     const std::shared_ptr<const gslb::Topology>& topo, double now,
                                     double wall);
    /// The fleet's shifts (uid -> document): a new one is taken as restore() would, a known
    /// one whose document changed (paused, resumed elsewhere) follows it, and a live one the
    /// fleet carried before and no longer does was aborted elsewhere: aborted here. Returns
    /// true when something changed (publish and save); `log` gets what to log.
    bool adopt(const std::map<std::string, std::string>& fleet,
               const std::shared_ptr<const gslb::Topology>& topo, double now, double wall,
               std::vector<std::string>& log);
    /// Documents to publish to the fleet since the last call: (uid, document) for a shift
    /// started, paused or resumed here, (uid, nullopt) for one aborted or restored here.
    std::vector<std::pair<std::string, std::optional<std::string>>> take_outbox();
    /// The uid of shift `id` ("" when unknown).
    std::string uid(std::uint64_t id) const;

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
        std::string uid;        ///< fleet-wide name of the shift (random hex)
        nlohmann::json doc;     ///< durable document (wall-clock schedule) while live
        bool in_fleet = false;  ///< the fleet carried it once: its removal there aborts it
        double wall_off = 0;    ///< steady - wall when doc was written
        // counters: the topology last read and its totals by (record, address)
        std::shared_ptr<const gslb::Topology> topo;
        std::map<BackendKey, std::uint64_t> seen;
        bool live() const noexcept {
            return state == ShiftState::Running || state == ShiftState::Paused ||
                   state == ShiftState::Holding;
        }
    };
    Shift& find(std::uint64_t id);
    /// Writes s.doc from the shift's state at (now, wall) and queues it for the fleet.
    void write_doc(Shift& s, double now, double wall);
    /// Sets the schedule and state of `s` from `doc` at (now, wall), taking the steps whose
    /// time has come. Throws std::runtime_error for a document that does not read.
    static void schedule_from(Shift& s, const nlohmann::json& doc, double now, double wall);
    /// A shift built from a document (restore, adopt), appended to shifts_; nullptr (logged)
    /// when its selector names no backend of `topo`.
    Shift* install(const nlohmann::json& doc, const std::shared_ptr<const gslb::Topology>& topo,
                   double now, double wall, std::vector<std::string>& log);
    /// Resolves s.p.selector in `topo` into targets and records; false when none matches.
    static bool resolve(Shift& s, const gslb::Topology& topo);
    /// Adds what the counters of s.topo grew by since the last read to the open segment.
    static void sample(Shift& s);
    /// Closes the open segment at `now` and opens the next one (unless the shift is over).
    static void boundary(Shift& s, double now);
    /// Ends `s`. Leaves it in shifts_: call trim() after any loop over shifts_.
    void finish(Shift& s, ShiftState st, std::string reason, double now);
    nlohmann::json shift_json(Shift& s, double now);
    void trim();

    std::vector<Shift> shifts_;
    std::uint64_t next_id_ = 1;
    std::vector<std::pair<std::string, std::optional<std::string>>> outbox_;
};

}  // namespace gslbd::ctl
