#include "health/monitor.hh"

#include <cmath>
#include <limits>

#include <fmt/format.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <pthread.h>
#include <sys/resource.h>

#include <algorithm>
#include <memory>
#include <string_view>
#include <system_error>
#include <unordered_map>

#include "util/compact_vector.hh"
#include "util/log.hh"

namespace gslbd::health {

namespace {

/// One element in place, the others in a CompactVector: nearly every target has one user
/// and nearly every backend one check, so neither costs a heap block of its own.
template <typename T>
class OneOrMore {
  public:
    std::size_t size() const noexcept { return n_; }
    bool empty() const noexcept { return n_ == 0; }
    T& operator[](std::size_t i) noexcept { return i == 0 ? first_ : rest_[i - 1]; }
    const T& operator[](std::size_t i) const noexcept { return i == 0 ? first_ : rest_[i - 1]; }
    void push_back(T v) {
        if (n_ == 0) {
            first_ = std::move(v);
        } else {
            rest_.emplace_back(std::move(v));
        }
        ++n_;
    }
    void clear() noexcept {
        rest_ = util::CompactVector<T>();
        n_ = 0;
    }

  private:
    T first_{};
    util::CompactVector<T> rest_;
    std::uint32_t n_ = 0;
};

}  // namespace

struct Monitor::Target {
    TargetPlan plan;
    std::uint32_t index = 0;  ///< in targets_
    bool idle = false;
    bool retired = false;
    bool in_flight = false;
    /// a check using it has reached rise good or fall failed rounds in a row at least once:
    /// its verdict rests on probes, not on the start-up assumption (only then it votes)
    bool evidence = false;
    /// probe sharing: the filter's answer for this target, valid while its epoch is
    /// assigned_epoch (has_assigned false: not asked yet); under the monitor's mutex
    mutable bool has_assigned = false, assigned = true;
    mutable std::uint64_t assigned_epoch = 0;
    int attempts = 0;  ///< in the current round
    SteadyClock::time_point round_start{}, due{};
    /// (backend index into backends_, check index) of the backends using it
    struct User {
        std::uint32_t backend = 0, check = 0;
    };
    OneOrMore<User> users;
    // observability
    std::uint64_t probes = 0, rounds = 0;
    std::array<std::uint64_t, kErrorKinds> failures{};
    bool has_result = false, last_ok = false;
    ErrorKind last_error = ErrorKind::None;
    std::string last_error_text;
    WallClock::time_point last_error_at{}, last_at{};
    std::chrono::microseconds last_latency{0};
    /// the last rounds, newest at (pos - 1), for scores: kRoundOk | latency in microseconds
    /// (capped at kRoundLatency), 4 bytes a round. Kept only for targets of records with
    /// `scoring` (the only reader of scores()): 256 bytes a target nobody reads otherwise.
    static constexpr std::uint32_t kRoundOk = 1u << 31, kRoundLatency = kRoundOk - 1;
    struct Rounds {
        std::array<std::uint32_t, Monitor::kScoreWindow> ring{};
        std::uint32_t pos = 0, count = 0;
    };
    std::unique_ptr<Rounds> recent;
    /// load_gauge: the newest value read (NaN: none yet) and the round (`rounds` after it
    /// ended) it came with; scores use it while that round is inside their window
    double gauge = std::numeric_limits<double>::quiet_NaN();
    std::uint64_t gauge_round = 0;
};

/// One check of a probed backend: its rise/fall state and the target that feeds it.
struct Monitor::CheckState {
    RiseFall rf;
    std::uint32_t target = 0;  ///< index into targets_
};

/// A probed backend (enabled, with checks); the others have no state (kind_, since_).
struct Monitor::BackendState {
    std::uint32_t id = 0;                 ///< gslb::BackendRt::id
    std::uint32_t record = 0;             ///< RecordRt::id
    const gslb::BackendRt* rt = nullptr;  ///< in topo_ (its address for logs)
    Verdict verdict = Verdict::Up;
    /// the reason of the start-up verdict while `reason` is empty (no string per backend)
    bool assumed = true;
    WallClock::time_point since{};
    std::string reason;  ///< of the last change; empty: the start-up one (reason_text())
    OneOrMore<CheckState> checks;
    std::string_view reason_text() const noexcept {
        if (!reason.empty()) return reason;
        return assumed ? "assumed healthy at start" : "waiting for the first probe";
    }
};

namespace {
bool published_up(Verdict v) {
    return v == Verdict::Up;
}
}  // namespace

Monitor::Monitor(Options opts, PublishFn publish)
    : opts_(opts),
      publish_(std::move(publish)),
      rng_(opts.seed != 0 ? opts.seed : util::random_seed()) {
    // Prober() has raised the soft limit as far as it goes; keep headroom for the rest of
    // the process (listeners, API connections, files).
    std::size_t limit = opts_.max_in_flight;
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        const auto room = rl.rlim_cur > 512 ? static_cast<std::size_t>(rl.rlim_cur) - 256
                                            : static_cast<std::size_t>(rl.rlim_cur) / 2;
        limit = std::min(limit, room);
    }
    max_in_flight_ = std::max<std::size_t>(limit, 1);
    prober_.set_source(opts_.source_v4, opts_.source_v6);
}

Monitor::~Monitor() {
    stop();
}

void Monitor::set_defaults(int rise, int fall, bool assume_healthy_at_start) {
    std::lock_guard lk(defaults_mu_);
    opts_.default_rise = rise;
    opts_.default_fall = fall;
    opts_.assume_healthy_at_start = assume_healthy_at_start;
}

std::shared_ptr<const gslb::Health> Monitor::set_topology(
    std::shared_ptr<const gslb::Topology> topo) {
    int default_rise = 0, default_fall = 0;
    bool assume_healthy = true;
    {
        std::lock_guard lk(defaults_mu_);
        default_rise = opts_.default_rise;
        default_fall = opts_.default_fall;
        assume_healthy = opts_.assume_healthy_at_start;
    }
    Plan plan = build_plan(*topo, default_rise, default_fall);
    std::shared_ptr<const gslb::Health> health;
    std::lock_guard pl(publish_mu_);
    {
        std::lock_guard lk(mu_);
        for (const auto& tp : plan.targets) {
            try {
                prober_.prepare(*tp.spec, tp.addr);  // icmp: the raw socket, or a load error
            } catch (const std::system_error& e) {
                throw config::ConfigError(tp.spec->cfg.pos, "type", e.what());
            }
        }
        const auto now = SteadyClock::now();
        const auto wall = WallClock::now();

        // a target that stays (same address, same check) is the same object: matched by
        // address and the check's key, no string built per target
        struct OldKey {
            util::IpAddr addr;
            std::string_view spec;
            bool operator==(const OldKey&) const = default;
        };
        struct OldKeyHash {
            std::size_t operator()(const OldKey& k) const noexcept {
                std::uint64_t h = std::hash<std::string_view>{}(k.spec) ^ k.addr.family;
                for (std::size_t i = 0; i < k.addr.size(); ++i)
                    h = (h ^ k.addr.bytes[i]) * 0x100000001b3ull;
                return static_cast<std::size_t>(h ^ (h >> 29));
            }
        };
        std::unordered_map<OldKey, std::shared_ptr<Target>, OldKeyHash> old_targets;
        old_targets.reserve(targets_.size());
        for (auto& t : targets_) old_targets.emplace(OldKey{t->plan.addr, t->plan.spec->key}, t);
        std::vector<std::shared_ptr<Target>> targets;
        targets.reserve(plan.targets.size());
        for (auto& tp : plan.targets) {
            std::shared_ptr<Target> t;
            if (auto it = old_targets.find(OldKey{tp.addr, tp.spec->key});
                it != old_targets.end()) {
                t = std::move(it->second);
                old_targets.erase(it);
                t->due = std::min(t->due, now + tp.interval);
            } else {
                t = std::make_shared<Target>();
                t->due = now + std::chrono::milliseconds(
                                   rng_.uniform(static_cast<std::uint32_t>(tp.interval.count())));
            }
            t->plan = std::move(tp);
            t->index = static_cast<std::uint32_t>(targets.size());
            t->users.clear();
            t->idle = false;
            targets.push_back(std::move(t));
        }
        for (auto& [key, t] : old_targets) t->retired = true;
        old_targets.clear();  // its keys point into the retired targets' specs

        // Carry-over (no per-backend string keys): carry_ids finds each backend's id in the
        // previous topology by record and address; a target (address + check) that stays is
        // the same Target object, so "the same checks" is a pointer comparison.
        std::vector<std::uint32_t> prev_id;
        if (topo_ != nullptr) prev_id = carry_ids(*topo_, *topo);
        std::vector<std::uint32_t> old_slot;  // previous backend id -> index into backends_
        if (!backends_.empty() && topo_ != nullptr) {
            old_slot.assign(topo_->backend_count, kNoBackend);
            for (std::size_t i = 0; i < backends_.size(); ++i)
                if (backends_[i].id < old_slot.size())
                    old_slot[backends_[i].id] = static_cast<std::uint32_t>(i);
        }
        auto same_checks = [this, &targets](const BackendState& old, const BackendPlan& bp) {
            if (old.checks.size() != bp.checks.size()) return false;
            for (std::size_t c = 0; c < bp.checks.size(); ++c)
                if (targets_[old.checks[c].target] != targets[bp.checks[c].target]) return false;
            return true;
        };
        std::vector<bool> taken(backends_.size(), false);
        std::vector<std::uint32_t> from(plan.backends.size(), kNoBackend);  // into backends_
        // the same backend (record and address) with the same checks keeps its state
        for (std::size_t i = 0; i < plan.backends.size(); ++i) {
            const BackendPlan& bp = plan.backends[i];
            if (bp.checks.empty() || bp.id >= prev_id.size()) continue;
            const std::uint32_t pid = prev_id[bp.id];
            if (pid >= old_slot.size() || old_slot[pid] == kNoBackend) continue;
            const std::uint32_t s = old_slot[pid];
            if (taken[s] || !same_checks(backends_[s], bp)) continue;
            taken[s] = true;
            from[i] = s;
        }
        // then the same address and checks under another record (a renamed record); the
        // table of what is left is built on the first backend that needs it
        std::unordered_map<const Target*, std::vector<std::uint32_t>> loose;
        bool have_loose = false;
        for (std::size_t i = 0; i < plan.backends.size(); ++i) {
            const BackendPlan& bp = plan.backends[i];
            if (bp.checks.empty() || from[i] != kNoBackend || backends_.empty()) continue;
            if (!have_loose) {
                have_loose = true;
                for (std::size_t s = 0; s < backends_.size(); ++s)
                    if (!taken[s] && !backends_[s].checks.empty())
                        loose[targets_[backends_[s].checks[0].target].get()].push_back(
                            static_cast<std::uint32_t>(s));
            }
            auto it = loose.find(targets[bp.checks[0].target].get());
            if (it == loose.end()) continue;
            for (std::uint32_t s : it->second) {
                if (taken[s] || !same_checks(backends_[s], bp)) continue;
                taken[s] = true;
                from[i] = s;
                break;
            }
        }

        // targets of records with `scoring` keep their recent rounds (scores()); the others not
        std::vector<bool> scored(targets.size(), false);
        // probed backends (enabled, with checks): a state each; nothing for the others
        std::vector<BackendState> backends;
        backends.reserve(static_cast<std::size_t>(
            std::count_if(plan.backends.begin(), plan.backends.end(),
                          [](const BackendPlan& bp) { return !bp.checks.empty(); })));
        const std::size_t n = plan.backend_count;
        std::vector<std::uint8_t> up(n, 1);
        std::vector<std::uint8_t> kind(n, kAbsent);
        for (std::size_t i = 0; i < plan.backends.size(); ++i) {
            BackendPlan& bp = plan.backends[i];
            if (bp.checks.empty()) continue;  // disabled: published down below
            BackendState b;
            if (from[i] != kNoBackend) {
                BackendState& old = backends_[from[i]];  // taken once: moved from
                b.verdict = old.verdict;
                b.assumed = old.assumed;
                b.since = old.since;
                b.reason = std::move(old.reason);
                b.checks = std::move(old.checks);
            } else {
                Verdict init =
                    (assume_healthy || bp.assume_healthy) ? Verdict::Up : Verdict::Unknown;
                for (std::size_t c = 0; c < bp.checks.size(); ++c)
                    b.checks.push_back(CheckState{RiseFall(init, 2, 3), 0});
                b.since = wall;
                b.verdict = init;
                b.assumed = init == Verdict::Up;
            }
            b.id = bp.id;
            b.record = bp.record;
            b.rt = bp.rt;
            const bool scoring = bp.record < topo->records.size() &&
                                 topo->records[bp.record].cfg != nullptr &&
                                 topo->records[bp.record].cfg->gradual.scoring.enabled;
            for (std::size_t c = 0; c < bp.checks.size(); ++c) {
                CheckState& cs = b.checks[c];
                cs.rf.set_thresholds(bp.checks[c].rise, bp.checks[c].fall);
                cs.target = static_cast<std::uint32_t>(bp.checks[c].target);
                targets[cs.target]->users.push_back(Target::User{
                    static_cast<std::uint32_t>(backends.size()), static_cast<std::uint32_t>(c)});
                if (scoring) scored[cs.target] = true;
            }
            if (bp.id < n) {
                up[bp.id] = published_up(b.verdict) ? 1 : 0;
                kind[bp.id] = kProbed;
            }
            backends.push_back(std::move(b));
        }
        for (std::size_t i = 0; i < targets.size(); ++i) {
            if (!scored[i]) {
                targets[i]->recent.reset();
            } else if (targets[i]->recent == nullptr) {
                targets[i]->recent = std::make_unique<Target::Rounds>();
            }
        }
        // the others: up unless disabled, since when they are what they are
        std::vector<WallClock::time_point> since(n, wall);
        std::size_t listed = 0;
        for (const auto& rec : topo->records) {
            if (rec.cfg == nullptr) continue;
            for (const auto* family : {&rec.v4, &rec.v6}) {
                for (const auto& b : *family) {
                    if (b.cfg == nullptr || b.id >= n) continue;
                    ++listed;
                    if (kind[b.id] == kProbed) continue;
                    const bool enabled = b.enabled && b.cfg->enable;
                    kind[b.id] = enabled ? kUnprobed : kDisabled;
                    if (!enabled) up[b.id] = 0;
                    const std::uint32_t p = b.id < prev_id.size() ? prev_id[b.id] : kNoBackend;
                    if (p < kind_.size() && kind_[p] == kind[b.id]) since[b.id] = since_[p];
                }
            }
        }

        topo_ = topo;
        layout_ = nullptr;
        indexed_ = false;
        marks_ = topo->marks;
        idle_timeout_ = topo->config != nullptr ? topo->config->idle_timeout : Millis(0);
        idle_multiplier_ = topo->config != nullptr ? topo->config->idle_multiplier : 1;
        batch_window_ = topo->config != nullptr ? topo->config->probe_batch_window : Millis(0);
        last_seen_.clear();
        if (marks_ != nullptr) last_seen_.assign(topo->records.size(), now);
        targets_ = std::move(targets);
        backends_ = std::move(backends);
        kind_ = std::move(kind);
        since_ = std::move(since);
        listed_ = listed;
        up_ = up;
        published_ = up;
        due_ = {};
        for (auto& t : targets_) {
            if (!t->in_flight) due_.push(Due{t->due, t});
        }
        health = std::make_shared<const gslb::Health>(gslb::Health{std::move(up)});
        ++counters_.publishes;
    }
    prober_.wakeup();
#ifdef __GLIBC__
    // A (re)load frees the YAML parser's node tree (hundreds of MB for 10,000 records) in
    // small chunks that glibc keeps; hand the free pages back to the OS.
    malloc_trim(0);
#endif
    return health;
}

void Monitor::reschedule_all(SteadyClock::time_point now) {
    due_ = {};
    for (auto& t : targets_) {
        t->due = now + std::chrono::milliseconds(
                           rng_.uniform(static_cast<std::uint32_t>(t->plan.interval.count())));
        due_.push(Due{t->due, t});
    }
}

void Monitor::start() {
    if (thread_.joinable()) return;
    {
        std::lock_guard lk(mu_);
        reschedule_all(SteadyClock::now());
    }
    stop_.store(false);
    thread_ = std::thread([this] { run(); });
}

void Monitor::stop() {
    if (!thread_.joinable()) return;
    stop_.store(true);
    prober_.wakeup();
    thread_.join();
    std::lock_guard lk(mu_);
    prober_.cancel_all();
    inflight_.clear();
    for (auto& t : targets_) {
        t->in_flight = false;
        t->attempts = 0;
    }
}

void Monitor::start_attempt(const std::shared_ptr<Target>& t, SteadyClock::time_point now,
                            SteadyClock::time_point planned) {
    // A round counts from its planned time, so rounds keep their interval whether they start
    // a little early (batch_window) or late (the thread's wake-up); one started more than a
    // tenth of an interval late (the in-flight cap, a stalled thread) counts from now, so the
    // next round does not follow it too closely.
    if (t->attempts == 0) t->round_start = within_slack(*t, now - planned) ? planned : now;
    ++t->attempts;
    t->in_flight = true;
    std::uint64_t token = next_token_++;
    inflight_.emplace(token, t);
    prober_.start(token, t->plan.spec, t->plan.addr, t->plan.timeout);
}

bool Monitor::feed_backend(BackendState& b, std::size_t check, const Target& t, bool ok) {
    RiseFall& rf = b.checks[check].rf;
    if (!rf.feed(ok)) return false;
    vote_epoch_.fetch_add(1, std::memory_order_relaxed);
    bool unknown = false, down = false;
    for (std::size_t c = 0; c < b.checks.size(); ++c) {
        const Verdict v = b.checks[c].rf.verdict();
        down = down || v == Verdict::Down;
        unknown = unknown || v == Verdict::Unknown;
    }
    // as combine(): down if any check is, else unknown if any is, else up
    const Verdict next = down ? Verdict::Down : unknown ? Verdict::Unknown : Verdict::Up;
    if (next == b.verdict) return false;
    const std::string what =
        t.plan.spec->port != 0
            ? fmt::format("{} check on port {}", t.plan.spec->type_name(), t.plan.spec->port)
            : fmt::format("{} check", t.plan.spec->type_name());
    std::string reason;
    if (!ok) {
        reason = fmt::format("{}: {}: {} ({} failed round(s) in a row)", what,
                             to_string(t.last_error), t.last_error_text, rf.fail_run());
    } else {
        reason = fmt::format("{}: {} good round(s) in a row", what, rf.ok_run());
    }
    util::log_info("health: record {} backend {}: {} -> {}: {}", record_name(b),
                   b.rt->addr.to_string(), to_string(b.verdict), to_string(next), reason);
    b.verdict = next;
    b.since = WallClock::now();
    b.reason = std::move(reason);
    ++counters_.verdict_changes;
    std::uint8_t bit = published_up(next) ? 1 : 0;
    if (b.id < up_.size() && up_[b.id] != bit) {
        up_[b.id] = bit;
        return true;
    }
    return false;
}

bool Monitor::apply(ProbeResult& r, SteadyClock::time_point now) {
    auto it = inflight_.find(r.token);
    if (it == inflight_.end()) return false;
    std::shared_ptr<Target> t = std::move(it->second);
    inflight_.erase(it);
    t->in_flight = false;
    if (t->retired) return false;
    const bool ok = r.ok();
    const auto wall = WallClock::now();
    ++t->probes;
    ++counters_.probes;
    {
        const double secs = static_cast<double>(r.latency.count()) / 1e6;
        std::size_t b = 0;
        while (b < kDurationBuckets.size() && secs > kDurationBuckets[b]) ++b;
        ++counters_.duration[b];
        counters_.duration_sum_us += static_cast<std::uint64_t>(r.latency.count());
    }
    t->has_result = true;
    t->last_ok = ok;
    t->last_at = wall;
    t->last_latency = r.latency;
    if (!ok) {
        ++t->failures[static_cast<std::size_t>(r.kind)];
        ++counters_.failures[static_cast<std::size_t>(r.kind)];
        ++counters_.probe_failures;
        t->last_error = r.kind;
        t->last_error_text = std::move(r.detail);
        t->last_error_at = wall;
        if (t->attempts <= t->plan.retries && !stop_.load()) {
            start_attempt(t, now);
            return false;
        }
    }
    // the round is over
    if (Target::Rounds* rr = t->recent.get()) {
        rr->ring[rr->pos] =
            (ok ? Target::kRoundOk : 0u) | static_cast<std::uint32_t>(std::clamp<std::int64_t>(
                                               r.latency.count(), 0, Target::kRoundLatency));
        rr->pos = static_cast<std::uint32_t>((rr->pos + 1) % kScoreWindow);
        rr->count = std::min<std::uint32_t>(rr->count + 1, kScoreWindow);
    }
    t->attempts = 0;
    ++t->rounds;
    if (!std::isnan(r.gauge)) {
        t->gauge = r.gauge;
        t->gauge_round = t->rounds;
    }
    ++counters_.rounds;
    if (!ok) ++counters_.rounds_failed;
    t->due = std::max(t->round_start + interval_of(*t), now);
    due_.push(Due{t->due, t});
    bool changed = false;
    for (std::size_t u = 0; u < t->users.size(); ++u) {
        const Target::User us = t->users[u];
        changed |= feed_backend(backends_[us.backend], us.check, *t, ok);
    }
    if (!t->evidence) {
        for (std::size_t u = 0; u < t->users.size(); ++u) {
            const Target::User us = t->users[u];
            const RiseFall& rf = backends_[us.backend].checks[us.check].rf;
            if (rf.ok_run() >= rf.rise() || rf.fail_run() >= rf.fall()) {
                t->evidence = true;
                vote_epoch_.fetch_add(1, std::memory_order_relaxed);
                break;
            }
        }
    }
    return changed;
}

std::chrono::milliseconds Monitor::interval_of(const Target& t) const noexcept {
    return t.idle ? t.plan.interval * idle_multiplier_ : t.plan.interval;
}

void Monitor::sweep_idle(SteadyClock::time_point now) {
    if (marks_ == nullptr || now - last_sweep_ < std::chrono::milliseconds(200)) return;
    last_sweep_ = now;
    for (std::uint32_t r = 0; r < last_seen_.size(); ++r)
        if (marks_->take(r)) last_seen_[r] = now;
    for (auto& t : targets_) {
        // the records of its users (a record with several backends on it: asked again, cheap)
        bool idle = !t->users.empty();
        for (std::size_t u = 0; u < t->users.size() && idle; ++u) {
            const std::uint32_t r = backends_[t->users[u].backend].record;
            if (r >= last_seen_.size() || now - last_seen_[r] <= idle_timeout_) idle = false;
        }
        if (idle == t->idle) continue;
        t->idle = idle;
        // Woken: the long wait of an idle target ends now (an entry already queued for the
        // later time is skipped as stale).
        if (!idle && !t->in_flight && t->due > now) {
            t->due = now;
            due_.push(Due{t->due, t});
        }
    }
}

void Monitor::publish_current() {
    std::lock_guard pl(publish_mu_);
    std::shared_ptr<const gslb::Topology> topo;
    std::shared_ptr<const gslb::Health> health;
    {
        std::lock_guard lk(mu_);
        if (up_ == published_) return;  // changed and changed back within one batch
        published_ = up_;
        topo = topo_;
        health = std::make_shared<const gslb::Health>(gslb::Health{up_});
        ++counters_.publishes;
    }
    if (publish_) publish_(std::move(topo), std::move(health));
}

void Monitor::run() {
    pthread_setname_np(pthread_self(), "gslbd-health");  // for top -H and the benchmark
    std::vector<ProbeResult> results;
    while (!stop_.load()) {
        std::chrono::milliseconds wait{1000};
        {
            std::lock_guard lk(mu_);
            if (marks_ != nullptr) wait = std::chrono::milliseconds(200);  // idle sweeps
            auto now = SteadyClock::now();
            auto next = prober_.next_deadline();
            // at the in-flight cap only a finished attempt (an event or a deadline) frees a slot
            if (!due_.empty() && inflight_.size() < max_in_flight_ &&
                (!next || due_.top().at < *next)) {
                next = due_.top().at;
            }
            if (next) {
                auto d = std::chrono::ceil<std::chrono::milliseconds>(*next - now);
                wait = std::clamp(d, std::chrono::milliseconds(0), wait);
            }
        }
        prober_.wait(wait);
        bool changed = false;
        {
            std::lock_guard lk(mu_);
            ++counters_.wakeups;
            results.clear();
            prober_.process(results);
            auto now = SteadyClock::now();
            for (auto& r : results) changed |= apply(r, now);
            sweep_idle(now);
            const std::uint64_t epoch = filter_ ? filter_->epoch() : 0;
            while (!stop_.load() && !due_.empty() && inflight_.size() < max_in_flight_) {
                const auto at = due_.top().at;
                // due, or due soon enough to start with this batch (batch_window)
                if (at > now &&
                    (at - now > batch_window_ || !within_slack(*due_.top().target, at - now)))
                    break;
                std::shared_ptr<Target> t = due_.top().target;
                due_.pop();
                if (t->retired || t->in_flight || at != t->due) continue;  // stale entry
                if (!probes(*t, epoch)) {  // another node of the fleet probes it
                    t->due = std::max(at, now) + interval_of(*t);
                    due_.push(Due{t->due, t});
                    continue;
                }
                start_attempt(t, now, at);
            }
        }
        if (changed) publish_current();
    }
}

const std::string& Monitor::record_name(const BackendState& b) const noexcept {
    return topo_->records[b.record].cfg->name;
}

void Monitor::index_status() const {
    if (indexed_) return;
    // Target::index is set by set_topology
    slot_.assign(kind_.size(), kNoBackend);
    for (std::size_t i = 0; i < backends_.size(); ++i)
        if (backends_[i].id < slot_.size()) slot_[backends_[i].id] = static_cast<std::uint32_t>(i);
    indexed_ = true;
}

void Monitor::status_of(std::size_t first, std::size_t end, std::vector<BackendStatus>& out) const {
    index_status();
    end = std::min(end, topo_->records.size());
    // in topology order (records, A then AAAA), as the plan was built
    for (std::size_t ri = first; ri < end; ++ri) {
        const auto& rec = topo_->records[ri];
        if (rec.cfg == nullptr) continue;
        for (const auto* family : {&rec.v4, &rec.v6}) {
            for (const auto& rt : *family) {
                if (rt.cfg == nullptr || rt.id >= kind_.size() || kind_[rt.id] == kAbsent) continue;
                BackendStatus s;
                s.id = rt.id;
                s.record = rec.cfg->name;
                s.address = rt.addr.to_string();
                s.up = rt.id < up_.size() && up_[rt.id] != 0;
                if (kind_[rt.id] != kProbed || slot_[rt.id] == kNoBackend) {
                    // not probed: nothing kept but since when
                    s.enabled = kind_[rt.id] != kDisabled;
                    s.probed = false;
                    s.verdict = s.enabled ? Verdict::Up : Verdict::Down;
                    s.since = since_[rt.id];
                    s.reason = s.enabled ? "no health checks" : "enable: false";
                    out.push_back(std::move(s));
                    continue;
                }
                const BackendState& b = backends_[slot_[rt.id]];
                s.enabled = true;
                s.probed = true;
                s.verdict = b.verdict;
                s.since = b.since;
                s.reason = b.reason_text();
                for (std::size_t c = 0; c < b.checks.size(); ++c) {
                    const Target& t = *targets_[b.checks[c].target];
                    const RiseFall& rf = b.checks[c].rf;
                    std::uint64_t failed = 0;
                    for (auto f : t.failures) failed += f;
                    s.checks.push_back(CheckStatus{t.plan.spec->type_name(), rf.verdict(),
                                                   rf.rise(), rf.fall(), rf.ok_run(), rf.fail_run(),
                                                   b.checks[c].target, t.probes, failed});
                    s.probes += t.probes;
                    for (std::size_t k = 0; k < kErrorKinds; ++k) s.failures[k] += t.failures[k];
                    if (t.has_result && (!s.has_result || t.last_at > s.last_probe_at)) {
                        s.has_result = true;
                        s.last_ok = t.last_ok;
                        s.last_probe_at = t.last_at;
                        s.last_latency = t.last_latency;
                    }
                    if (t.last_error != ErrorKind::None && t.last_error_at >= s.last_error_at) {
                        s.last_error = t.last_error;
                        s.last_error_text = t.last_error_text;
                        s.last_error_at = t.last_error_at;
                    }
                }
                out.push_back(std::move(s));
            }
        }
    }
}

std::vector<BackendStatus> Monitor::status() const {
    std::lock_guard lk(mu_);
    std::vector<BackendStatus> out;
    if (topo_ == nullptr) return out;
    out.reserve(listed_);
    status_of(0, topo_->records.size(), out);
    return out;
}

bool Monitor::status(const gslb::Topology& topo, std::size_t first, std::size_t end,
                     std::vector<BackendStatus>& out) const {
    out.clear();
    std::lock_guard lk(mu_);
    if (topo_.get() != &topo) return false;
    status_of(first, end, out);
    return true;
}

std::vector<Monitor::Score> Monitor::scores(std::size_t window) const {
    window = std::clamp<std::size_t>(window, 1, kScoreWindow);
    std::lock_guard lk(mu_);
    std::vector<Score> out;
    for (const auto& b : backends_) {
        if (b.checks.empty()) continue;
        if (out.size() <= b.id) out.resize(b.id + 1);
        Score& sc = out[b.id];
        bool first = true;
        for (std::size_t c = 0; c < b.checks.size(); ++c) {
            const Target& t = *targets_[b.checks[c].target];
            const Target::Rounds* rr = t.recent.get();
            const std::size_t n = rr != nullptr ? std::min<std::size_t>(window, rr->count) : 0;
            if (n == 0) {
                sc = Score{};
                break;
            }
            std::size_t ok = 0;
            double lat = 0;
            for (std::size_t k = 1; k <= n; ++k) {
                const std::uint32_t r = rr->ring[(rr->pos + kScoreWindow - k) % kScoreWindow];
                if (r & Target::kRoundOk) {
                    ++ok;
                    lat += r & Target::kRoundLatency;
                }
            }
            // the newest gauge read by one of the last n rounds
            const double gauge =
                t.rounds - t.gauge_round < n ? t.gauge : std::numeric_limits<double>::quiet_NaN();
            if (!std::isnan(gauge) && (std::isnan(sc.load) || gauge > sc.load)) sc.load = gauge;
            const double success = static_cast<double>(ok) / static_cast<double>(n);
            const double latency_ms = ok != 0 ? lat / static_cast<double>(ok) / 1000.0 : 0;
            if (first || success < sc.success) sc.success = success;
            if (first || latency_ms > sc.latency_ms) sc.latency_ms = latency_ms;
            sc.samples = first ? static_cast<std::uint32_t>(n)
                               : std::min<std::uint32_t>(sc.samples, static_cast<std::uint32_t>(n));
            first = false;
        }
    }
    return out;
}

std::vector<TargetStatus> Monitor::targets() const {
    return targets(0, std::numeric_limits<std::size_t>::max());
}

std::vector<TargetStatus> Monitor::targets(std::size_t first, std::size_t end) const {
    std::lock_guard lk(mu_);
    std::vector<TargetStatus> out;
    end = std::min(end, targets_.size());
    if (first >= end) return out;
    out.reserve(end - first);
    const std::uint64_t epoch = filter_ ? filter_->epoch() : 0;
    for (std::size_t i = first; i < end; ++i) {
        const auto& t = targets_[i];
        TargetStatus s;
        s.address = t->plan.addr.to_string();
        s.type = t->plan.spec->type_name();
        s.port = t->plan.spec->port;
        s.interval = interval_of(*t);
        s.idle = t->idle;
        s.timeout = t->plan.timeout;
        s.retries = t->plan.retries;
        s.users = t->plan.users;
        s.next_due = t->due;
        s.in_flight = t->in_flight;
        s.probes = t->probes;
        s.rounds = t->rounds;
        s.failures = t->failures;
        s.assigned = probes(*t, epoch);
        out.push_back(std::move(s));
    }
    return out;
}

void Monitor::set_probe_filter(std::shared_ptr<const ProbeFilter> f) {
    {
        std::lock_guard lk(mu_);
        filter_ = std::move(f);
        for (const auto& t : targets_) t->has_assigned = false;
    }
    prober_.wakeup();
}

bool Monitor::probes(const Target& t, std::uint64_t epoch) const {
    if (!filter_) return true;
    if (!t.has_assigned || t.assigned_epoch != epoch) {
        t.assigned = filter_->assigned(t.plan.key());
        t.assigned_epoch = epoch;
        t.has_assigned = true;
    }
    return t.assigned;
}

FleetInputs Monitor::fleet_inputs() const {
    std::lock_guard lk(mu_);
    if (layout_ == nullptr) {
        auto l = std::make_shared<FleetLayout>();
        l->keys.reserve(targets_.size());
        for (const auto& t : targets_) l->keys.push_back(t->plan.key());
        std::uint32_t max_id = 0;
        for (const auto& b : backends_) max_id = std::max(max_id, b.id + 1);
        l->backend_targets.resize(std::max<std::size_t>(max_id, up_.size()));
        for (const auto& b : backends_) {
            auto& list = l->backend_targets[b.id];
            list.reserve(b.checks.size());
            for (std::size_t c = 0; c < b.checks.size(); ++c) list.push_back(b.checks[c].target);
        }
        layout_ = std::move(l);
    }
    FleetInputs in;
    in.layout = layout_;
    // 0 up, 1 unknown, 2 down: the worst check using a target decides its vote
    std::vector<std::uint8_t> worst(targets_.size(), 0);
    for (const auto& b : backends_) {
        for (std::size_t c = 0; c < b.checks.size(); ++c) {
            const std::size_t ti = b.checks[c].target;
            const Verdict v = b.checks[c].rf.verdict();
            const std::uint8_t w = v == Verdict::Down                                   ? 2
                                   : v == Verdict::Unknown || targets_[ti]->rounds == 0 ? 1
                                                                                        : 0;
            worst[ti] = std::max(worst[ti], w);
        }
    }
    in.verdicts.assign(targets_.size(), Verdict::Unknown);
    const std::uint64_t epoch = filter_ ? filter_->epoch() : 0;
    for (std::size_t i = 0; i < targets_.size(); ++i) {
        if (!targets_[i]->evidence) continue;        // the start-up assumption is not a vote
        if (!probes(*targets_[i], epoch)) continue;  // not ours to probe
        in.verdicts[i] = worst[i] == 2   ? Verdict::Down
                         : worst[i] == 1 ? Verdict::Unknown
                                         : Verdict::Up;
    }
    return in;
}

Counters Monitor::counters() const {
    std::lock_guard lk(mu_);
    Counters c = counters_;
    c.targets = targets_.size();
    c.backends = listed_;
    c.backends_probed = backends_.size();
    c.in_flight = prober_.in_flight();
    for (std::size_t id = 0; id < kind_.size() && id < up_.size(); ++id)
        if (kind_[id] != kAbsent && up_[id] != 0) ++c.backends_up;
    return c;
}

}  // namespace gslbd::health
