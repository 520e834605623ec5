#pragma once
/// The fleet agent: this node's link to the fleet's etcd (docs/fleet.md).
///
/// Two threads of its own, never touched by workers or the probe loop:
/// * the writer keeps this node's lease alive (keepalive every TTL / 3), publishes the member
///   record (nodes/<node>) and this node's votes (votes/<target>/<node>, only what changed,
///   batched into transactions of at most 128 operations), and writes fleet-wide overrides;
/// * the reader reads the whole prefix once (full sync), then watches it from the next
///   revision; a broken stream resumes from the last revision seen (no update lost), a
///   compacted one triggers a full resync.
/// Inputs (set_votes, set_override, set_info) only queue work under a short mutex. Output is
/// an immutable View, replaced after every change, and a callback telling the owner that a
/// new View is there (called from the reader or writer thread; it must not block).
///
/// Failures never throw out of here and never stop the node: etcd unreachable, bad
/// credentials or a refused write are logged once per state change, counted, and reflected
/// in View::connected; the threads retry with a bounded backoff.
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cluster/etcd.hh"
#include "cluster/quorum.hh"
#include "cluster/votes.hh"
#include "config/model.hh"

namespace gslbd::cluster {

struct FleetOptions {
    etcd::Options etcd;
    std::string prefix = "/gslbd/";
    NodeInfo self;  ///< name, role, labels, version, digest, generation
    std::chrono::seconds lease_ttl{10};
    QuorumRule rule;
    unsigned probes_per_target = 0;  ///< 0 = every probing node probes every target
    /// Longest wait between two retries after an etcd failure.
    std::chrono::milliseconds max_backoff{2000};
};

/// The options a `cluster:` block describes (`self.version`, `config_digest` and
/// `generation` are the caller's to fill in).
FleetOptions options_from_config(const config::ClusterConfig& c);

/// The fleet's verdict on one target, with the tally that decided it. The table changes only
/// when a verdict changes: votes that move no verdict (most of a burst: the first voters of a
/// new majority) copy nothing, so `tally` is as of the last change of the verdict. The votes
/// as they are now: Fleet::votes().
struct TargetView {
    FleetVerdict verdict = FleetVerdict::NoQuorum;
    Tally tally;
};

/// The fleet verdicts of every target anyone voted on, immutable once published. Split into
/// kShards shards by a hash of the target so that a change copies one shard (a few hundred
/// entries at 30,000 targets), not the whole table: a new table shares every other shard
/// with the one before, and a reader can tell which shards changed by comparing pointers.
class TargetTable {
  public:
    static constexpr std::size_t kShards = 256;
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    using Shard = std::unordered_map<std::string, TargetView, Hash, std::equal_to<>>;

    TargetTable();
    static std::size_t shard_of(std::string_view target) noexcept {
        return Hash{}(target) % kShards;
    }
    /// nullptr when nobody voted on `target`.
    const TargetView* find(std::string_view target) const;
    std::size_t size() const noexcept { return size_; }
    const std::shared_ptr<const Shard>& shard(std::size_t i) const noexcept { return shards_[i]; }
    template <class F>
    void for_each(F&& f) const {
        for (const auto& sh : shards_)
            for (const auto& [t, tv] : *sh) f(t, tv);
    }

  private:
    friend class Fleet;
    std::array<std::shared_ptr<const Shard>, kShards> shards_;
    std::size_t size_ = 0;
};

struct Member {
    NodeInfo info;
    std::int64_t lease = 0;
};

/// Counters (monotonic) of the fleet's work.
struct FleetCounters {
    std::uint64_t etcd_errors = 0;    ///< failed etcd calls (any kind)
    std::uint64_t resyncs = 0;        ///< full reads of the prefix (start, compaction, reconnect)
    std::uint64_t watch_events = 0;   ///< keys received through the watch
    std::uint64_t txns = 0;           ///< vote / record transactions written
    std::uint64_t votes_written = 0;  ///< vote puts and deletes
    std::uint64_t lease_grants = 0;   ///< 1 at start, more after a lost lease
    std::uint64_t views = 0;          ///< Views published
};

/// What the fleet looks like from this node; immutable once published.
struct View {
    bool synced = false;        ///< a full read succeeded at least once (verdicts are meaningful)
    bool connected = false;     ///< the lease is alive and the watch is running
    std::string last_error;     ///< of the most recent etcd failure ("" = none since connected)
    std::int64_t revision = 0;  ///< store revision this view reflects
    std::uint64_t epoch = 0;    ///< membership changes seen (VoteBook::membership_epoch)
    std::map<std::string, Member> members;
    /// Fleet verdicts of every target anyone voted on (never null).
    std::shared_ptr<const TargetTable> targets;
    /// Fleet-wide overrides: backend id -> JSON document as the operator API wrote it.
    std::shared_ptr<const std::map<std::string, std::string>> overrides;
    /// Live probing members' rendezvous hashes, by name order; self_index = -1 when this node
    /// is not (yet) one of them (then it probes everything).
    std::vector<std::uint64_t> probing_hashes;
    std::ptrdiff_t self_index = -1;
    FleetCounters counters;

    /// Whether this node should probe `target` (probes_per_target k; always true when k is 0
    /// or this node's place in the fleet is unknown).
    bool assigned(std::string_view target, unsigned k) const noexcept;
    /// The fleet verdict of `target` (NoQuorum when unknown).
    TargetView target(std::string_view target) const;
};

/// Changes to a node's wanted votes (Fleet::update_votes): each one is noted, so that the
/// writer looks at the changed targets only, not at every vote.
class VoteEdit {
  public:
    void set(const std::string& target, bool up) {
        wanted_[target] = up;
        dirty_.insert(target);
    }
    void erase(const std::string& target) {
        if (wanted_.erase(target) != 0) dirty_.insert(target);
    }

  private:
    friend class Fleet;
    VoteEdit(std::unordered_map<std::string, bool>& wanted, std::unordered_set<std::string>& dirty)
        : wanted_(wanted), dirty_(dirty) {}
    std::unordered_map<std::string, bool>& wanted_;
    std::unordered_set<std::string>& dirty_;
};

class Fleet {
  public:
    using ChangeFn = std::function<void()>;

    /// Starts nothing; throws std::invalid_argument for unusable options (no endpoints, bad
    /// node name).
    Fleet(FleetOptions opts, ChangeFn on_change);
    ~Fleet();  ///< stop()
    Fleet(const Fleet&) = delete;
    Fleet& operator=(const Fleet&) = delete;

    /// Replaces the change callback (nullptr: none). Waits for a call in progress to end, so
    /// after set_on_change(nullptr) the old callback is never called again.
    void set_on_change(ChangeFn fn);

    /// Starts both threads. Idempotent.
    void start();
    /// Stops the threads and revokes the lease (so this node's votes vanish at once rather
    /// than after the TTL) when `revoke` and etcd answers within the call timeout. Idempotent.
    void stop(bool revoke = true);

    /// Replaces this node's own verdicts (target -> up). Targets missing from `votes` are
    /// withdrawn. Only the difference to what etcd has is written. Cheap: call on change.
    void set_votes(std::unordered_map<std::string, bool> votes);
    /// Changes this node's wanted votes in place: many changes, one wake-up of the writer.
    void update_votes(const std::function<void(VoteEdit&)>& fn);
    /// Changes one vote (nullopt: withdraw it).
    void set_vote(const std::string& target, std::optional<bool> up);
    /// Writes (document) or deletes (nullopt) a fleet-wide override; asynchronous.
    void set_override(const std::string& id, std::optional<std::string> document);
    /// Republishes the member record (new generation, config digest, degraded flag).
    void set_info(NodeInfo info);

    /// The current view (never null).
    std::shared_ptr<const View> view() const;
    /// Every vote on `target` as the fleet has it now (fresh or stale), for explain.
    std::vector<VoteBook::VoteView> votes(std::string_view target) const;
    /// Blocks until a full sync succeeded or `timeout` passed; true when synced.
    bool wait_synced(std::chrono::milliseconds timeout) const;

    const FleetOptions& options() const noexcept { return opts_; }

  private:
    void reader_loop();
    void writer_loop();
    void publish_view_locked();  ///< from book_ (mu_ held)
    void recompute_locked();     ///< fleet verdicts of dirty targets (mu_ held)
    bool apply_locked(const etcd::KeyValue& kv, bool put);  ///< one key from etcd (mu_ held)
    std::size_t book_vote_count() const;
    void note_error(const char* what, const std::exception& e);
    void note_ok();
    bool sleep_for(std::chrono::milliseconds d);  ///< false when stopping
    void notify();                                ///< calls on_change_ (never with mu_ held)

    FleetOptions opts_;
    std::mutex cb_mu_;  ///< guards on_change_ and is held while it runs
    ChangeFn on_change_;
    Keys keys_;

    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
    // reader side (mu_)
    VoteBook book_;
    std::shared_ptr<const TargetTable> targets_ptr_ = std::make_shared<TargetTable>();
    std::shared_ptr<const std::map<std::string, std::string>> overrides_ptr_ =
        std::make_shared<std::map<std::string, std::string>>();
    std::int64_t revision_ = 0;
    bool synced_ = false;
    bool watching_ = false;
    // writer side (mu_)
    std::unordered_map<std::string, bool> wanted_;  ///< own votes wanted in etcd
    /// targets whose wanted vote changed since the writer last looked; all_dirty_: look at
    /// every one (start, set_votes, a new lease, a failed write)
    std::unordered_set<std::string> wanted_dirty_;
    bool all_dirty_ = true;
    std::map<std::string, std::optional<std::string>> pending_overrides_;
    NodeInfo info_;
    bool info_dirty_ = true;
    bool work_ = false;      ///< the writer has something to do
    bool lease_ok_ = false;  ///< the writer's last round succeeded (lease alive)
    std::int64_t lease_ = 0;
    // shared
    bool connected_logged_ = false;  ///< last state logged: connected
    bool error_logged_ = false;
    std::string last_error_;
    FleetCounters counters_;
    std::shared_ptr<const View> view_;

    std::atomic<bool> stop_{false};
    std::atomic<bool> resync_{false};
    bool started_ = false;
    std::thread reader_, writer_;
};

}  // namespace gslbd::cluster
