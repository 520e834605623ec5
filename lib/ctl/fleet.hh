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

    /// Installs the health filter and the republish-on-change callback. Call once, before the
    /// first publish.
    void attach(Control& control);
    void start();
    /// Cold start: waits until the fleet's state has been read once (true) or `timeout`.
    bool wait_synced(std::chrono::milliseconds timeout) const;
    void stop();

    bool passive() const noexcept { return passive_; }
    /// Backend override documents shared through etcd (scope fleet).
    cluster::Fleet& fleet() noexcept { return fleet_; }
    FleetStatus status() const;

    /// Takes the fleet's overrides into Control (scope fleet), keeping this node's own writes
    /// that the watch has not brought back yet. Called on every change of the fleet's view.
    void sync_overrides();

    /// Control's health filter (see the rules above).
    std::shared_ptr<const gslb::Health> filter(const gslb::Topology& topo,
                                               const std::shared_ptr<const gslb::Health>& own);

    /// GET /api/v1/fleet: this node, the fleet's members (each marked when its config digest
    /// differs from this node's), connection state and counters.
    nlohmann::json to_json() const;
    /// Per probe target of `backend_id`: the fleet's votes (up / down / stale by node), the
    /// verdict and the rule that decided; for explain.
    nlohmann::json explain_backend(std::uint32_t backend_id) const;

    /// Digest of a loaded configuration: a hash of the main file, policy files and location
    /// map contents (what makes two nodes answer differently).
    static std::string config_digest(const config::Config& cfg);

  private:
    health::Monitor& monitor_;
    cluster::Fleet fleet_;
    bool passive_ = false;
    std::string rule_;
    std::string version_;
    Control* control_ = nullptr;

    mutable std::mutex mu_;
    std::unordered_map<std::string, bool> sent_votes_;
    const gslb::Topology* last_topo_ = nullptr;
    std::string digest_;
    bool degraded_logged_ = false;
    std::size_t targets_fleet_ = 0, targets_own_ = 0, votes_up_ = 0, votes_down_ = 0;
    bool degraded_ = true;
    bool fleet_overrides_ = false;
    /// Overrides written here and not yet seen in the fleet's view: id -> document (nullopt =
    /// deleted).
    std::map<std::string, std::optional<std::string>> pending_overrides_;
    std::mutex sync_mu_;  ///< serializes sync_overrides
    // Own votes can change without a publish (a first round, a check that changed while the
    // backend's bit did not): a light thread polls Monitor::vote_epoch() every 100 ms.
    std::thread tick_;
    std::mutex tick_mu_;
    std::condition_variable tick_cv_;
    bool tick_stop_ = false;
};

/// The daemon's start-up step for a `cluster:` block: creates the link, attaches it to
/// `control`, starts it and waits (at most twice cluster.timeout, 5 s at most) for the fleet's
/// state, so the first snapshot already carries the fleet's verdicts (cold start). Without
/// etcd it logs and goes on: the node starts on its own verdicts.
std::unique_ptr<FleetLink> start_fleet(const config::Config& cfg, health::Monitor& monitor,
                                       Control& control, const std::string& version);

}  // namespace gslbd::ctl
