#pragma once
/// The fleet wired into the control side (docs/fleet.md): this node's own per-target verdicts
/// go out as votes, and the fleet's quorum verdicts come back in as the Health that Control
/// publishes (its health filter), so workers see the fleet through the same snapshot as ever.
///
/// Rules:
/// * A probed backend is up when every target of its checks is up, each target taking the
///   fleet verdict when there is one (enough fresh voters) and this node's own otherwise.
/// * Not synced with etcd, or etcd unreachable: a probing node uses its own verdicts (degraded,
///   logged once by the fleet agent, shown in status and metrics); a passive node, which has
///   no verdicts of its own, keeps the last fleet verdicts it knew.
/// * Backends without checks, or disabled in the config, are never touched.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cluster/fleet.hh"
#include "config/model.hh"
#include "ctl/admin.hh"
#include "gslb/snapshot.hh"
#include "health/monitor.hh"

namespace gslbd::ctl {

class Control;

/// What /metrics, status and `gslbctl fleet` show.
struct FleetStatus {
    std::string node;
    cluster::Role role = cluster::Role::Probe;
    std::string rule;  ///< quorum rule as configured
    bool degraded = true;
    std::shared_ptr<const cluster::View> view;
    std::size_t targets_fleet = 0;  ///< backends' targets decided by the fleet, last publish
    std::size_t targets_own = 0;    ///< ... by this node's own verdict (no quorum / degraded)
    std::size_t votes_up = 0, votes_down = 0;  ///< this node's own votes, last publish
    std::string config_digest;
};

class FleetLink {
  public:
    /// From the `cluster:` block of `cfg` (which must be enabled). Throws
    /// std::invalid_argument for unusable options.
    FleetLink(const config::Config& cfg, health::Monitor& monitor, std::string version);
    ~FleetLink();

    /// Installs the health filter, the reload hook and the republish-on-change callback.
    /// Call once, before the first publish.
    void attach(Control& control);
    void start();
    /// Cold start: waits until the fleet's state has been read once (true) or `timeout`.
    bool wait_synced(std::chrono::milliseconds timeout) const;
    void stop();

    bool passive() const noexcept { return passive_; }
    /// The fleet agent in use (a reload that changes the `cluster:` block replaces it).
    std::shared_ptr<cluster::Fleet> agent() const;
    FleetStatus status() const;

    /// Control's reload hook: `next` is the configuration a reload is about to put in force.
    /// Unchanged `cluster:` block: nothing. Changed: a new agent with the new settings is
    /// started, given this node's votes, and once it has read the fleet (bounded by twice
    /// cluster.timeout, 5 s at most) it replaces the old one, which then leaves (its lease is
    /// revoked); answers go on from the snapshot in force meanwhile, so no query is lost.
    /// Throws config::ConfigError (refusing the reload) for what needs a restart: a change of
    /// role (probe <-> passive).
    void reconfigure(const config::Config& next);

    /// Takes the fleet's overrides into Control (scope fleet), keeping this node's own writes
    /// that the watch has not brought back yet. Called on every change of the fleet's view.
    void sync_overrides();

    /// Control's health filter (see the rules above). Cost per call: O(backends) plus, for
    /// the fleet's verdicts, only the targets in the shards of the fleet's table that changed
    /// since the previous call, and for this node's votes only the ones that changed.
    std::shared_ptr<const gslb::Health> filter(const gslb::Topology& topo,
                                               const std::shared_ptr<const gslb::Health>& own);

    /// GET /api/v1/fleet: this node, the fleet's members (each marked when its config digest
    /// differs from this node's; with its generation), connection state and counters.
    nlohmann::json to_json() const;
    /// Per probe target of `backend_id`: the fleet's votes (up / down / stale by node), the
    /// verdict and the rule that decided; for explain.
    nlohmann::json explain_backend(std::uint32_t backend_id) const;

    /// Digest of a loaded configuration: a hash of the main file, policy files and location
    /// map contents (what makes two nodes answer differently).
    static std::string config_digest(const config::Config& cfg);

  private:
    void install_probe_filter(unsigned k);
    void wake_tick();  ///< the fleet's view changed: republish from the tick thread
    std::unordered_map<std::string, bool> votes_locked() const;  ///< this node's, from sent_

    health::Monitor& monitor_;
    std::string version_;
    bool passive_ = false;
    Control* control_ = nullptr;

    mutable std::mutex agent_mu_;  ///< guards fleet_ (the pointer); taken before mu_
    std::shared_ptr<cluster::Fleet> fleet_;
    std::atomic<std::uint64_t> agent_gen_{0};  ///< grows when fleet_ is replaced
    std::atomic<bool> fleet_overrides_{true};
    std::mutex reconf_mu_;           ///< serializes reconfigure
    config::ClusterConfig cluster_;  ///< as in force (reconf_mu_)

    mutable std::mutex mu_;
    std::string rule_;
    const gslb::Topology* last_topo_ = nullptr;
    std::string digest_;
    /// Member record: configurations loaded by this process (1 at start, +1 per reload).
    std::uint64_t generation_ = 0;
    cluster::NodeInfo self_;
    std::size_t targets_fleet_ = 0, targets_own_ = 0, votes_up_ = 0, votes_down_ = 0;
    bool degraded_ = true;
    // filter caches, valid for one FleetLayout (one topology)
    std::shared_ptr<const health::FleetLayout> layout_;
    std::vector<std::int8_t> sent_;            ///< per target: vote sent (-1 none, 0 down, 1 up)
    const cluster::Fleet* sent_to_ = nullptr;  ///< the agent sent_ was given to
    std::shared_ptr<const cluster::TargetTable> seen_table_;  ///< fleet_v_ reflects it
    std::vector<cluster::FleetVerdict> fleet_v_;              ///< per target
    std::vector<std::vector<std::uint32_t>> shard_targets_;   ///< per table shard
    /// Overrides written here and not yet seen in the fleet's view: id -> document (nullopt =
    /// deleted).
    std::map<std::string, std::optional<std::string>> pending_overrides_;
    std::mutex sync_mu_;  ///< serializes sync_overrides
    // One light thread republishes: when the fleet's view changed (woken; bursts of watch
    // events coalesce into one run of the filter) and when this node's own votes changed
    // without a publish (a first round, a check that changed while the backend's bit did not:
    // Monitor::vote_epoch(), polled every 100 ms).
    std::thread tick_;
    std::mutex tick_mu_;
    std::condition_variable tick_cv_;
    bool tick_stop_ = false;
    bool change_pending_ = false;
};

/// The daemon's start-up step for a `cluster:` block: creates the link, attaches it to
/// `control`, starts it and waits (at most twice cluster.timeout, 5 s at most) for the fleet's
/// state, so the first snapshot already carries the fleet's verdicts (cold start). Without
/// etcd it logs and goes on: the node starts on its own verdicts.
std::unique_ptr<FleetLink> start_fleet(const config::Config& cfg, health::Monitor& monitor,
                                       Control& control, const std::string& version);

}  // namespace gslbd::ctl
