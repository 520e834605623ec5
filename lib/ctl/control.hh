#pragma once
/// The control side's centre: publishes snapshots (health verdicts from lib/health with the
/// operator's overrides laid over them), reloads the configuration, and answers what the
/// API and /metrics ask. Workers never touch it; they only see the snapshots it publishes.
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
#include <vector>

#include "ctl/admin.hh"
#include "ctl/shift.hh"
#include "gslb/publish.hh"
#include "gslb/snapshot.hh"
#include "health/gradual.hh"
#include "health/monitor.hh"

namespace gslbd::discovery {
class Discoverer;  // discovery/discovery.hh
}
namespace gslbd::xfr {
class Secondary;  // xfr/secondary.hh
}

namespace gslbd::ctl {

class FleetLink;  // ctl/fleet.hh

/// Main config file -> topology (config, geo databases, policies); throws with a message
/// naming file, line and field. `secondaries`: the transferred zones to serve (lib/xfr).
/// `previous` (a reload: the topology in force, as loaded from the files): unchanged records
/// are shared with its configuration rather than parsed and stored again
/// (config::load_config), and keep their backend arrays and ids (gslb::build_topology).
std::shared_ptr<const gslb::Topology> load_topology(
    const std::string& path, std::shared_ptr<const zone::Secondaries> secondaries = nullptr,
    const gslb::Topology* previous = nullptr);

struct ReloadResult {
    bool ok = false;
    std::uint64_t generation = 0;  ///< serving now
    std::string error;
};

struct ReloadCounters {
    std::uint64_t ok = 0, failed = 0;
    std::string last_error;
    std::chrono::system_clock::time_point last_at{};
    bool last_ok = true;
};

enum class AdminAction : std::uint8_t { Enable, Disable, Drain, Weight };

class Control {
  public:
    /// `state_file` ("" = none) is read now: throws std::runtime_error when it is unreadable
    /// or malformed (a missing file is an empty state).
    Control(std::string config_path, gslb::SnapshotHolder& holder, std::string state_file);
    /// Stops the gradual ticker.
    ~Control();
    Control(const Control&) = delete;
    Control& operator=(const Control&) = delete;

    /// Stores the verdicts and publishes them with the overrides laid over them, as a new
    /// generation: the health monitor's PublishFn, and at start-up the Health that
    /// Monitor::set_topology returned (null health: every backend up).
    void publish(std::shared_ptr<const gslb::Topology> topo,
                 std::shared_ptr<const gslb::Health> health);
    /// The monitor whose topology reload() replaces and whose status the API shows. Set once,
    /// before the first reload or API request.
    void attach(health::Monitor& monitor) noexcept { monitor_ = &monitor; }

    /// Turns the monitor's verdicts into the ones to publish before the overrides are laid
    /// over them: the fleet's quorum verdicts (ctl/fleet.hh). Called with Control's lock
    /// held: it must not call back into Control. Set once, before the first publish.
    using HealthFilter = std::function<std::shared_ptr<const gslb::Health>(
        const gslb::Topology&, const std::shared_ptr<const gslb::Health>&)>;
    void set_health_filter(HealthFilter f) { filter_ = std::move(f); }
    /// Fleet-wide overrides (ctl/fleet.hh, `override_scope: fleet`): called, with Control's
    /// lock held, for every override apply() changed once it is in force here. Set once,
    /// before the API starts.
    using AdminSink = std::function<void(const BackendKey&, const Override&)>;
    void set_admin_sink(AdminSink s) { admin_sink_ = std::move(s); }
    /// Fleet-wide shifts (ctl/fleet.hh): called, with Control's lock held, with every shift
    /// document to publish (uid, document) or to remove (uid, nullopt) after a shift was
    /// started, paused, resumed, aborted or restored here. Set once, before the API starts.
    using ShiftSink =
        std::function<void(const std::string& uid, const std::optional<std::string>& doc)>;
    void set_shift_sink(ShiftSink s) { shift_sink_ = std::move(s); }
    /// Takes the fleet's shifts (uid -> document; ShiftBook::adopt), publishes and writes the
    /// state file when that changed something. Before the first topology they wait for it.
    void adopt_shifts(const std::map<std::string, std::string>& fleet);
    /// Takes the fleet's overrides as this node's (and writes them to the state file, the
    /// fallback for a start without etcd); publishes when they differ from the current ones.
    void adopt_admin(const AdminStore& fleet);
    /// Called by reload() with the new configuration once it has loaded and before any of it
    /// is in force (the fleet applies a changed `cluster:` block here); it may throw, a
    /// message naming file:line:column, to refuse the reload: the old generation keeps
    /// serving. Set once, before the first reload.
    using ReloadHook = std::function<void(const config::Config&)>;
    void set_reload_hook(ReloadHook h) { reload_hook_ = std::move(h); }
    /// The fleet link, for the API and /metrics (null without a `cluster:` block).
    void set_fleet(const FleetLink* f) noexcept { fleet_ = f; }
    const FleetLink* fleet() const noexcept { return fleet_; }
    /// The discovery thread, for status and /metrics (nullptr: none); set before the API
    /// starts, outlives it.
    void set_discoverer(const discovery::Discoverer* d) noexcept { discoverer_ = d; }
    const discovery::Discoverer* discoverer() const noexcept { return discoverer_; }
    /// The transfer thread (secondary zones), for status and /metrics; as set_discoverer.
    void set_secondary(const xfr::Secondary* s) noexcept { secondary_ = s; }
    const xfr::Secondary* secondary() const noexcept { return secondary_; }
    /// lib/xfr's installer: serves `data` as zone `zone`'s transferred copy, built and
    /// published exactly as a reload would (the GSLB overlay checks included) with the pools
    /// kept. Returns "" once it is published, else the reason (the topology refused it; the
    /// previous copy stays served). Serialized with reloads and pool changes.
    std::string install_secondary(const std::string& zone, zone::Transferred data);

    /// Runs the filter again over the stored verdicts and publishes a new generation when the
    /// result differs from what is published (the fleet's view changed).
    void republish();
    health::Monitor* monitor() const noexcept { return monitor_; }

    /// Loads the config file again, off to the side; on success the monitor gets the new
    /// topology (verdicts of backends that still exist carry over) and the Health it returns
    /// is published with it, as a new generation. On
    /// failure the old generation keeps serving and the error is logged, counted and
    /// returned. Serialized: concurrent callers wait. `trigger` is for the log (SIGHUP, API).
    ReloadResult reload(const std::string& trigger);
    ReloadCounters reload_counters() const;

    /// Pools (docs/discovery.md, docs/api.md): backend lists that replace a record's
    /// `backends` at run time, from the API (persisted in the state file, kept over reloads
    /// and restarts until deleted) or from discovery (a record with `discovery:` only).
    ///
    /// The topology to serve for `base` (as loaded from the files): the pools laid over it.
    /// Remembers `base` for later pool changes. Called once at start-up, before the first
    /// publish; a stored pool that no longer loads is logged and left out.
    std::shared_ptr<const gslb::Topology> prepare(std::shared_ptr<const gslb::Topology> base);
    /// Called with every configuration loaded (start-up is the caller's, then every good
    /// reload), outside Control's locks: lib/discovery's sources follow the config this way.
    using ConfigHook = std::function<void(const config::Config&)>;
    void set_config_hook(ConfigHook h) { config_hook_ = std::move(h); }
    /// PUT: replaces the pool of `record` in `zone` with the backend list `body` (JSON: a list
    /// of zone-file backends or {"backends": [...]}), validated like the zone file; persisted
    /// (state file first) and published. Returns the addresses now in the pool. Throws
    /// RequestError: 400 for a bad list (the zone file's error text), 404 for an unknown zone
    /// or record, 409 for a record whose pool comes from discovery, 500 when the state file
    /// cannot be written (nothing changes then).
    std::vector<std::string> set_pool(const std::string& zone, const std::string& record,
                                      const std::string& body);
    /// DELETE: back to the zone file's backends. Returns false when there was no API pool.
    bool clear_pool(const std::string& zone, const std::string& record);
    /// Discovery's sink: `backends` found for `record` (non-empty; lib/discovery keeps the
    /// last good list on failures). Publishes when they differ from the pool in force; a list
    /// the topology refuses (an unknown location, too many backends) is logged and dropped,
    /// keeping the last good pool.
    void set_discovered(const std::string& record, std::vector<config::Backend> backends);
    /// Where each record's pool comes from now: record -> "api" / "discovery".
    std::map<std::string, std::string> pool_sources() const;

    /// Applies `action` to every backend `sel` names: all of them or none (the state file is
    /// written first; a failure to write it changes nothing). Returns the backends changed
    /// as (record, address). Throws RequestError.
    std::vector<BackendKey> apply(const Selector& sel, AdminAction action,
                                  std::uint32_t weight = 0);
    AdminStore admin() const;

    /// Traffic shifts (ctl/shift.hh, docs/gradual.md): start one (its first step is published
    /// at once), pause / resume / abort one by id (abort publishes the restored weights at
    /// once), list them or show one with its steps. Throw RequestError (400, 404, 409, 503).
    nlohmann::json shift_start(const ShiftParams& p);
    nlohmann::json shift_action(std::uint64_t id, const std::string& verb);
    nlohmann::json shifts() const;
    nlohmann::json shift(std::uint64_t id) const;
    /// Plans (docs/gradual.md "Plan"): the snapshot a change would publish, built off to the
    /// side and never published. A reload of `path` ("" = the config file in use): loaded,
    /// composed with the pools and checked exactly as reload() does; the verdicts, overrides
    /// and slow start percents of backends that stay carry over, new backends count as up at
    /// their full weight. Throws RequestError 422 with the reload's error (file:line:column)
    /// when the candidate does not load, 503 before the first snapshot.
    gslb::Snapshot plan_reload(const std::string& path) const;
    /// The same for an override as apply() takes it; `changed` gets the backends it would
    /// change. Throws RequestError (404 when the selector names no backend).
    gslb::Snapshot plan_override(const Selector& sel, AdminAction action, std::uint32_t weight,
                                 std::vector<BackendKey>& changed) const;

    /// A copy of the snapshot published last (generation 0 and null pointers before the
    /// first): it shares the topology and health, so it stays valid on any thread.
    gslb::Snapshot current() const;
    /// Config loaded and every probe target has finished one round (latched: a reload that
    /// adds targets does not make a ready daemon unready).
    bool ready() const;
    const std::string& config_path() const noexcept { return config_path_; }
    const std::string& state_file() const noexcept { return state_file_; }

  private:
    void publish_locked(bool only_if_changed = false);
    /// Shifts: the state file's (restore_shifts_) and the fleet's (fleet_shifts_) taken once a
    /// topology exists; documents to the sink and into admin_ (flush); admin_ to the state
    /// file (save_shifts, outside mu_: a failure is logged, the shift goes on).
    void take_kept_shifts_locked();
    void flush_shifts_locked();
    void save_shifts();
    /// Writes admin_ (copied under mu_) to the state file under state_mu_; a failure is
    /// logged as "<what> the state file could not be written: <reason>", nothing thrown.
    void save_state_logged(const char* what);
    /// Writes `next` to the state file when there is one; RequestError 500 when it cannot.
    void save_state(const AdminStore& next) const;
    using Discovered = std::map<std::string, std::vector<config::Backend>>;
    /// Drops the discovered pools of records that no longer have `discovery:` in `base`.
    static void keep_discovered(const gslb::Topology& base, Discovered& discovered);
    /// Applies `action` to the backends of `topo` that `sel` names, in `store`; returns them.
    static std::vector<BackendKey> change_overrides(AdminStore& store, const gslb::Topology& topo,
                                                    const Selector& sel, AdminAction action,
                                                    std::uint32_t weight);
    /// `base` with the pools laid over it (`problems`: stored pools that did not load).
    static std::shared_ptr<const gslb::Topology> compose(
        const std::shared_ptr<const gslb::Topology>& base,
        const std::map<std::string, std::string>& api, const Discovered& discovered,
        std::vector<std::string>* problems);
    /// Serves `topo` (a new pool composition): the monitor takes it, then it is published.
    void switch_to(std::shared_ptr<const gslb::Topology> topo);

    std::string config_path_;
    gslb::SnapshotHolder& holder_;
    std::string state_file_;
    health::Monitor* monitor_ = nullptr;
    HealthFilter filter_;
    AdminSink admin_sink_;
    ShiftSink shift_sink_;
    ReloadHook reload_hook_;
    const FleetLink* fleet_ = nullptr;
    const discovery::Discoverer* discoverer_ = nullptr;
    const xfr::Secondary* secondary_ = nullptr;

    /// Slow start, flap damping and dynamic TTLs (docs/gradual.md): applied to every Health
    /// publish_locked() builds; while it says something moves with time, the ticker thread
    /// runs publish_locked(true) once a second, which publishes only when a weight, verdict
    /// or TTL changed (one new generation per ramp step, not per second).
    void tick_loop();
    std::thread ticker_;
    std::condition_variable tick_cv_;
    bool stop_ = false;  ///< under mu_

    mutable std::mutex mu_;  ///< everything below; never held while calling into the monitor
    health::GradualTracker gradual_;
    /// mutable: showing a shift brings its answer counts up to date
    mutable ShiftBook shifts_;
    nlohmann::json restore_shifts_;  ///< from the state file, until the first topology
    std::optional<std::map<std::string, std::string>> fleet_shifts_;  ///< same, from the fleet
    bool gradual_moving_ = false;
    std::uint64_t generation_ = 0;
    std::shared_ptr<const gslb::Topology> topo_;
    std::shared_ptr<const gslb::Health> verdicts_;  ///< from the monitor, without overrides
    std::shared_ptr<const gslb::Health> published_;
    /// The last Health built: published_, or one that answers the same with newer gradual
    /// notes (what current() shows the API).
    std::shared_ptr<const gslb::Health> fresh_;
    AdminStore admin_;
    ReloadCounters reloads_;
    mutable std::atomic<bool> ready_{false};

    std::shared_ptr<const gslb::Topology> base_;  ///< as loaded from the files, no pools
    Discovered discovered_;
    ConfigHook config_hook_;

    std::mutex reload_mu_;  ///< serializes reload() and pool changes; taken before mu_
    /// Held by whoever writes the state file, from copying admin_ to installing the change
    /// (after reload_mu_, before mu_): the last writer writes the newest state.
    std::mutex state_mu_;
};

}  // namespace gslbd::ctl
