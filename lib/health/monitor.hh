#pragma once
/// Health monitor: probes every backend that has `healthchecks`, applies rise/fall and hands
/// the verdicts to the workers as immutable gslb::Health values: set_topology returns the first
/// one for its caller to publish with the topology; later changes go out through a callback
/// (the daemon wires both to ctl::Control, which publishes through gslb::SnapshotHolder).
///
/// Rules an operator can rely on:
/// * A backend without `healthchecks` is never probed and is always up.
/// * A backend with `enable: false` is never probed and is published down (the engine never
///   selects it either).
/// * Several checks on one backend: it is up only while every check is up.
/// * rise / fall (defaults 2 / 3): the most specific setting wins: backend > record > check >
///   Options. Up -> down after `fall` failed rounds in a row, down -> up after `rise` good ones.
/// * A round is one attempt plus up to `scrape_retries` immediate retries; the round fails only
///   when every attempt failed. Rounds start every `scrape_interval` (never two at once).
/// * Per-attempt timeout: min(check `timeout`, record `scrape_timeout`, `scrape_interval`).
/// * Start-up: with Options::assume_healthy_at_start (default true) or a backend's
///   `assume_healthy`, a backend starts up and needs `fall` failed rounds to go down. Without,
///   it starts "unknown" (published down) and its first round result decides at once.
/// * First probes are spread uniformly at random over the first interval.
/// * At most Options::max_in_flight attempts run at once; due probes beyond it start late.
/// * Probes due within health.batch_window (default 20 ms; from the topology's config, so a
///   reload changes it) of the first due one start with it, in one wake-up of the probe
///   thread: up to the window early, and never more than a tenth of the target's interval.
///   A round keeps its schedule: the next one is due one interval after the planned start,
///   not the actual one, so early starts never shorten the interval (nor small delays
///   lengthen it; a round started more than a tenth of an interval late counts from then).
/// * The same address with the same check is probed once, however many records or backends
///   use it; a target shared by records with different timing uses the smallest interval, the
///   smallest timeout and the largest retry count.
/// * Unsupported check types (grpc, lua, mysql, ...) are refused at load (set_topology).
/// * Every verdict change is logged (info): record, backend, old -> new, reason.
/// * Idle records (health.resolution_idle_timeout and healthcheck_idle_multiplier, off by
///   default): a target whose every record went unasked for the timeout waits `multiplier`
///   intervals between rounds; the first query for one of its records (seen within 200 ms)
///   starts its next round at once. A (re)load counts every record as just asked.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "gslb/snapshot.hh"
#include "health/plan.hh"
#include "health/prober.hh"
#include "health/state.hh"
#include "util/random.hh"

namespace gslbd::health {

struct Options {
    bool assume_healthy_at_start = true;
    int default_rise = 2, default_fall = 3;
    std::uint64_t seed = 0;  ///< stagger jitter; 0 = from the OS
    /// Most attempts in flight at once (each holds a socket). Due probes beyond it wait for a
    /// free slot, so a fleet of black-holed backends stretches the rounds instead of piling up
    /// sockets and memory. Also kept below the process's RLIMIT_NOFILE.
    std::size_t max_in_flight = 2048;
    /// Local addresses probes are sent from (`health.source`); unset = the kernel's choice.
    /// HTTP(S), TCP and DNS probes bind to them; ICMP does not.
    std::optional<util::IpAddr> source_v4, source_v6;
};

/// What the fleet (lib/cluster, wired in lib/ctl) needs from the monitor, part 1: which probe
/// targets there are and which decide each backend. Immutable; the same object until the
/// topology changes, so the fleet can cache what it derives from it (compare the pointer).
struct FleetLayout {
    /// TargetPlan::key per target index: address + check, the same on every node
    std::vector<std::string> keys;
    /// Per backend id (Health::up index): indices into `keys` of its checks; empty for a
    /// backend that is not probed (no checks, or enable: false).
    std::vector<std::vector<std::uint32_t>> backend_targets;
};

/// Part 2: this node's own view per probe target.
struct FleetInputs {
    std::shared_ptr<const FleetLayout> layout;  ///< never null
    /// Per target index: Down if any check using it is down, Up if all are up; Unknown until
    /// a check using it has seen rise good or fall failed rounds in a row (a start-up
    /// assumption, or one failed round of a backend assumed healthy, is never a vote)
    std::vector<Verdict> verdicts;
};

using WallClock = std::chrono::system_clock;

/// One check of one backend.
struct CheckStatus {
    std::string type;  ///< http, https, tcp, dns, icmp
    Verdict verdict = Verdict::Unknown;
    int rise = 2, fall = 3;
    int ok_run = 0, fail_run = 0;  ///< consecutive good / failed rounds
    std::size_t target = 0;        ///< index into Monitor::targets()
    /// that target's attempts and failed attempts (all kinds), as Monitor::targets() has them
    std::uint64_t target_probes = 0, target_failures = 0;
};

struct BackendStatus {
    std::uint32_t id = 0;  ///< gslb::BackendRt::id, index into Health::up
    std::string record, address;
    bool enabled = true;
    bool probed = false;  ///< has checks and is enabled
    Verdict verdict = Verdict::Up;
    bool up = true;                 ///< what is published
    WallClock::time_point since{};  ///< of the current verdict (start-up / load time at first)
    std::string reason;             ///< of the last change
    // the most recent completed attempt over all of its checks
    bool has_result = false;
    bool last_ok = false;
    ErrorKind last_error = ErrorKind::None;  ///< of the last failed attempt
    std::string last_error_text;
    WallClock::time_point last_error_at{};
    std::chrono::microseconds last_latency{0};
    WallClock::time_point last_probe_at{};
    /// attempts and failed attempts by ErrorKind, summed over its checks' targets (a target
    /// shared with other backends counts for each of them)
    std::uint64_t probes = 0;
    std::array<std::uint64_t, kErrorKinds> failures{};
    std::vector<CheckStatus> checks;
};

/// One deduplicated probe target.
struct TargetStatus {
    std::string address, type;
    std::uint16_t port = 0;
    std::chrono::milliseconds interval{0}, timeout{0};
    int retries = 0;
    std::size_t users = 0;               ///< backends using it
    SteadyClock::time_point next_due{};  ///< meaningful while not in flight
    bool in_flight = false;
    std::uint64_t probes = 0, rounds = 0;
    std::array<std::uint64_t, kErrorKinds> failures{};
    /// every record using it has been idle (unasked) for health.resolution_idle_timeout: its
    /// rounds run health.healthcheck_idle_multiplier times less often
    bool idle = false;
    bool assigned = true;  ///< probed by this node (false: another node of the fleet does)
};

/// Upper bounds (seconds) of the probe duration histogram buckets (Counters::duration).
inline constexpr std::array<double, 12> kDurationBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                            0.1,   0.25,   0.5,   1.0,  2.5,   5.0};

struct Counters {
    std::uint64_t probes = 0;  ///< attempts finished
    std::uint64_t probe_failures = 0;
    std::array<std::uint64_t, kErrorKinds> failures{};  ///< by ErrorKind
    std::uint64_t rounds = 0, rounds_failed = 0;
    std::uint64_t verdict_changes = 0;  ///< per backend
    std::uint64_t publishes = 0;        ///< Health values handed out (set_topology, PublishFn)
    std::size_t targets = 0;            ///< deduplicated (address, check) pairs
    std::size_t backends = 0, backends_probed = 0, backends_up = 0;
    std::size_t in_flight = 0;
    std::uint64_t wakeups = 0;  ///< times the probe thread woke (events, due probes, timeouts)
    /// Attempts by duration: duration[i] counts attempts that took at most
    /// kDurationBuckets[i] (and more than the bound before); the last slot counts the rest.
    std::array<std::uint64_t, kDurationBuckets.size() + 1> duration{};
    std::uint64_t duration_sum_us = 0;  ///< sum of every attempt's duration
};

class Monitor {
  public:
    /// Receives the topology and the verdicts that belong to it (Health::up has
    /// topo->backend_count entries) when a published verdict changes. Called from the monitor
    /// thread only; calls are in order: the last call always carries the newest state. Every
    /// call after set_topology has returned carries that topology and a state at least as new
    /// as the Health set_topology returned. Must not call back into set_topology or stop();
    /// status() and counters() are fine.
    using PublishFn = std::function<void(std::shared_ptr<const gslb::Topology>,
                                         std::shared_ptr<const gslb::Health>)>;

    /// Throws std::system_error when the event loop cannot be created.
    Monitor(Options opts, PublishFn publish);
    ~Monitor();  ///< stops the thread
    Monitor(const Monitor&) = delete;
    Monitor& operator=(const Monitor&) = delete;

    /// Control side: (re)loads the targets from `topo`. Backends that still exist (same record,
    /// address and checks; or same address and checks under a renamed record) keep their
    /// verdict and counters: no fresh start-up period on reload. Returns the Health of `topo`
    /// for the caller to publish with it; the PublishFn is not called. Once the monitor thread
    /// runs it may publish a newer Health for `topo` before the caller has published this
    /// one: a caller then keeps the PublishFn's (ctl::Control does).
    /// Throws config::ConfigError (nothing changes then) for unsupported check types or bad
    /// check values, and when icmp checks need a raw socket the process may not open.
    std::shared_ptr<const gslb::Health> set_topology(std::shared_ptr<const gslb::Topology> topo);
    /// The main file's `health.rise`, `health.fall` and `health.start` for the next
    /// set_topology (a reload): backends without a rise/fall of their own take the new
    /// thresholds (their state is kept); `start` decides for backends the reload adds.
    void set_defaults(int rise, int fall, bool assume_healthy_at_start);

    /// Starts the monitor thread (probes begin, staggered over one interval). Idempotent.
    void start();
    /// Stops the thread and abandons probes in flight. Verdicts are kept. Idempotent.
    void stop();

    /// Copies for the control API / metrics (take a mutex; never call from a worker).
    std::vector<BackendStatus> status() const;
    /// status() of the backends of records [first, end) of `topo` only, in status()'s order,
    /// into `out` (cleared first): answers that stream (the control API at 100,000 records)
    /// ask a few hundred records at a time, holding the mutex only that long and never
    /// copying the whole list. False (and `out` empty) when `topo` is not the monitor's
    /// topology (a reload or pool change has just switched it).
    bool status(const gslb::Topology& topo, std::size_t first, std::size_t end,
                std::vector<BackendStatus>& out) const;
    /// Recent rounds of each probed backend, by backend id (health scores, docs/gradual.md):
    /// over the last `window` finished rounds of each of its checks (at most kScoreWindow),
    /// the share that succeeded (the worst check's) and the mean latency of the successful
    /// ones (the slowest check's). samples = 0: no round yet (or not probed). Takes a mutex.
    static constexpr std::size_t kScoreWindow = 64;
    struct Score {
        std::uint32_t samples = 0;
        double success = 1;     ///< 0..1
        double latency_ms = 0;  ///< mean of the successful rounds
        /// load_gauge: the newest value read in the window (the highest of the checks that
        /// read one); NaN when none did
        double load = std::numeric_limits<double>::quiet_NaN();
    };
    std::vector<Score> scores(std::size_t window) const;
    std::vector<TargetStatus> targets() const;
    /// targets() [first, end) only (clamped to the number of targets), for the same reason.
    std::vector<TargetStatus> targets(std::size_t first, std::size_t end) const;
    Counters counters() const;
    /// Probe sharing (the fleet's probes_per_target, docs/fleet.md): which targets this node
    /// probes. Both functions run with the monitor's mutex held: they must not call into the
    /// Monitor.
    class ProbeFilter {
      public:
        virtual ~ProbeFilter() = default;
        /// Changes whenever assigned() may answer differently for some key (equal values:
        /// equal answers). Read once per probe-loop pass and per fleet_inputs() call.
        virtual std::uint64_t epoch() const = 0;
        /// Whether this node probes `key`. Asked once per target per epoch (the answer is
        /// kept with the target), so it may be costly.
        virtual bool assigned(const std::string& key) const = 0;
    };
    /// A target for which the filter says no is not probed (its rounds are skipped; asked
    /// again every interval) and gives no vote in fleet_inputs(). Null = probe everything.
    void set_probe_filter(std::shared_ptr<const ProbeFilter> f);
    /// Grows whenever fleet_inputs() may have changed without a publish: a target's verdict
    /// came to rest on probes, or a check's verdict changed. Lock-free; the fleet polls it.
    std::uint64_t vote_epoch() const noexcept {
        return vote_epoch_.load(std::memory_order_relaxed);
    }

    /// This node's own per-target verdicts and the (shared, cached) backend -> targets map:
    /// O(targets) without allocating a string (takes the monitor's mutex, never its publish
    /// lock: callable from inside a PublishFn).
    FleetInputs fleet_inputs() const;

  private:
    struct Target;
    struct CheckState;
    struct BackendState;
    struct Due {
        SteadyClock::time_point at;
        std::shared_ptr<Target> target;
        bool operator>(const Due& o) const noexcept { return at > o.at; }
    };

    void run();
    /// `planned`: when the round was due (a first attempt counts from it unless it is late)
    void start_attempt(const std::shared_ptr<Target>& t, SteadyClock::time_point now,
                       SteadyClock::time_point planned = {});
    bool apply(ProbeResult& r, SteadyClock::time_point now);  ///< true: a published bit changed
    bool feed_backend(BackendState& b, std::size_t check, const Target& t, bool ok);
    void publish_current();
    void reschedule_all(SteadyClock::time_point now);
    /// Idle records (health.resolution_idle_timeout): takes the workers' query marks, marks
    /// targets idle whose every record is, and brings a woken target's next round forward.
    void sweep_idle(SteadyClock::time_point now);
    /// The interval a target's next round waits: its plan's, times the idle multiplier while
    /// idle.
    std::chrono::milliseconds interval_of(const Target& t) const noexcept;
    /// Whether `off` (how early a probe would start, or how late a round did) is within the
    /// slack a target's schedule allows: a tenth of its interval.
    bool within_slack(const Target& t, SteadyClock::duration off) const noexcept {
        return off * 10 <= interval_of(t);
    }

    Options opts_;  ///< its rise/fall/start defaults under defaults_mu_ (set_defaults)
    mutable std::mutex defaults_mu_;
    PublishFn publish_;
    Prober prober_;
    /// Serializes PublishFn calls and set_topology (no call for an older topology after it
    /// returns); taken before mu_.
    mutable std::mutex publish_mu_;
    mutable std::mutex mu_;  ///< everything below
    std::shared_ptr<const gslb::Topology> topo_;
    std::vector<std::shared_ptr<Target>> targets_;
    /// Probed backends only (enabled, with checks), in topology order. A backend without
    /// checks costs kind_, since_ and the verdict bits: no plan, no state, no string.
    std::vector<BackendState> backends_;
    enum : std::uint8_t { kAbsent, kUnprobed, kDisabled, kProbed };
    std::vector<std::uint8_t> kind_;  ///< by backend id: what it is (kAbsent: not in topo_)
    /// by backend id: since when a backend that is not probed is what it is (a probed one
    /// keeps its own in its state)
    std::vector<WallClock::time_point> since_;
    std::size_t listed_ = 0;  ///< backends of topo_ with a config (status() entries)
    const std::string& record_name(const BackendState& b) const noexcept;  ///< mu_ held
    /// status(): slot_ (backend id -> index into backends_) built once per topology (indexed_
    /// false: build again; set_topology clears it); mu_ held
    void index_status() const;
    void status_of(std::size_t first, std::size_t end, std::vector<BackendStatus>& out) const;
    mutable bool indexed_ = false;
    mutable std::vector<std::uint32_t> slot_;
    std::vector<std::uint8_t> up_;  ///< verdict bits by backend id
    std::vector<std::uint8_t> published_;
    std::unordered_map<std::uint64_t, std::shared_ptr<Target>> inflight_;  ///< token -> target
    std::priority_queue<Due, std::vector<Due>, std::greater<>> due_;
    std::uint64_t next_token_ = 1;
    std::size_t max_in_flight_ = 1;
    Counters counters_;
    util::Rng rng_;
    std::shared_ptr<const ProbeFilter> filter_;  ///< under mu_
    /// Whether this node probes `t` (mu_ held; `epoch` = filter_->epoch() read by the caller).
    bool probes(const Target& t, std::uint64_t epoch) const;
    mutable std::shared_ptr<const FleetLayout> layout_;  ///< under mu_; null = build again
    // idle records (from topo_'s config; off when marks_ is null)
    std::shared_ptr<const gslb::QueryMarks> marks_;
    std::vector<SteadyClock::time_point> last_seen_;  ///< by record id
    std::chrono::milliseconds idle_timeout_{0};
    unsigned idle_multiplier_ = 1;
    /// health.batch_window of topo_'s config: 0 = every probe at its own time, one wake-up
    /// per probe when they are spread evenly
    std::chrono::milliseconds batch_window_{0};
    SteadyClock::time_point last_sweep_{};
    std::atomic<std::uint64_t> vote_epoch_{0};
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace gslbd::health
