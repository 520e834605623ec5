#include "ctl/control.hh"

#include <exception>
#include <string_view>
#include <unordered_map>

#include "config/model.hh"
#include "geo/geo.hh"
#include "util/log.hh"

namespace gslbd::ctl {

std::shared_ptr<const gslb::Topology> load_topology(const std::string& path) {
    auto cfg = std::make_shared<const config::Config>(config::load_config(path));
    auto geo = geo::load_geo(*cfg);
    return gslb::build_topology(cfg, std::move(geo));
}

namespace {

struct RecordChanges {
    std::size_t added = 0, changed = 0, removed = 0, unchanged = 0;
};

// Records by name, compared by the hash of their YAML (config::Record::source_hash).
RecordChanges record_changes(const config::Config& before, const config::Config& after) {
    std::unordered_map<std::string_view, std::uint64_t> old;
    for (const auto& z : before.zones)
        for (const auto& r : z.records) old.emplace(r.name, r.source_hash);
    RecordChanges c;
    std::size_t kept = 0;
    for (const auto& z : after.zones) {
        for (const auto& r : z.records) {
            auto it = old.find(r.name);
            if (it == old.end()) {
                ++c.added;
                continue;
            }
            ++kept;
            ++(it->second == r.source_hash ? c.unchanged : c.changed);
        }
    }
    c.removed = old.size() - kept;
    return c;
}

}  // namespace

Control::Control(std::string config_path, gslb::SnapshotHolder& holder, std::string state_file)
    : config_path_(std::move(config_path)), holder_(holder), state_file_(std::move(state_file)) {
    if (!state_file_.empty()) {
        admin_ = AdminStore::load(state_file_);
        if (!admin_.overrides().empty())
            util::log_info("admin state: {} override(s) restored from {}",
                           admin_.overrides().size(), state_file_);
    }
}

void Control::publish(std::shared_ptr<const gslb::Topology> topo,
                      std::shared_ptr<const gslb::Health> health) {
    std::lock_guard lock(mu_);
    topo_ = std::move(topo);
    verdicts_ = std::move(health);
    publish_locked();
}

void Control::republish() {
    std::lock_guard lock(mu_);
    publish_locked(true);
}

void Control::publish_locked(bool only_if_changed) {
    if (topo_ == nullptr) return;
    auto h = std::make_shared<gslb::Health>();
    const auto base = filter_ ? filter_(*topo_, verdicts_) : verdicts_;
    if (base != nullptr) h->up = base->up;
    h->up.resize(topo_->backend_count, 1);
    admin_.overlay(*topo_, h->admin, h->weight);
    // a new generation empties every worker's cache: only for a real change
    if (only_if_changed && published_ != nullptr && published_->up == h->up &&
        published_->admin == h->admin && published_->weight == h->weight)
        return;
    published_ = h;
    holder_.publish(
        std::make_unique<const gslb::Snapshot>(gslb::Snapshot{++generation_, topo_, std::move(h)}));
}

ReloadResult Control::reload(const std::string& trigger) {
    std::lock_guard serial(reload_mu_);
    ReloadResult r;
    try {
        auto topo = load_topology(config_path_);
        const auto old = current();
        if (old.topo != nullptr) {
            const auto& a = *old.topo->config;
            const auto& b = *topo->config;
            auto same = [](const std::vector<config::Listener>& x,
                           const std::vector<config::Listener>& y) {
                if (x.size() != y.size()) return false;
                for (std::size_t i = 0; i < x.size(); ++i)
                    if (!(x[i].addr == y[i].addr) || x[i].port != y[i].port) return false;
                return true;
            };
            if (!same(a.udp, b.udp) || !same(a.tcp, b.tcp) || a.workers != b.workers ||
                a.tcp_idle_timeout != b.tcp_idle_timeout ||
                a.tcp_max_connections != b.tcp_max_connections || a.io != b.io)
                util::log_warn(
                    "reload: listeners, workers, io and tcp settings changed; they take effect "
                    "only after a restart");
            if (!(a.api.addr == b.api.addr) || a.api.port != b.api.port ||
                a.api.enabled != b.api.enabled || a.api.token_file != b.api.token_file ||
                a.api.state_file != b.api.state_file || a.api.tls_cert != b.api.tls_cert ||
                a.api.read_requires_token != b.api.read_requires_token)
                util::log_warn(
                    "reload: api settings changed; they take effect only after a "
                    "restart");
        }
        if (old.topo != nullptr &&
            old.topo->config->cluster.enabled != topo->config->cluster.enabled) {
            const auto& c = topo->config->cluster;
            throw std::runtime_error(
                (c.enabled ? c.pos.to_string() + ": cluster: a `cluster:` block was added"
                           : topo->config->file + ": cluster: the `cluster:` block was removed") +
                "; joining or leaving a fleet needs a restart of gslbd (the reload was refused)");
        }
        if (reload_hook_) reload_hook_(*topo->config);
        util::log_info("reload ({}): generation {}: {} zones, {} records, {} backends", trigger,
                       old.generation + 1, topo->zones.size(), topo->records.size(),
                       topo->backend_count);
        if (old.topo != nullptr) {
            const RecordChanges c = record_changes(*old.topo->config, *topo->config);
            util::log_info("reload ({}): records: {} added, {} changed, {} removed, {} unchanged",
                           trigger, c.added, c.changed, c.removed, c.unchanged);
        }
        // Validates the checks and carries over the verdicts of backends that still exist.
        std::shared_ptr<const gslb::Health> health;
        if (monitor_ != nullptr) health = monitor_->set_topology(topo);
        std::lock_guard lock(mu_);
        // From set_topology's return on, the monitor thread may publish verdicts of the new
        // topology; one that came first is newer than `health` and stands.
        if (topo_ != topo) {
            topo_ = std::move(topo);
            verdicts_ = std::move(health);
            publish_locked();
        }
        r.ok = true;
    } catch (const std::exception& e) {
        r.error = e.what();
    }
    std::lock_guard lock(mu_);
    r.generation = generation_;
    reloads_.last_at = std::chrono::system_clock::now();
    reloads_.last_ok = r.ok;
    if (r.ok) {
        ++reloads_.ok;
        util::log_info("reload ({}): serving generation {}", trigger, r.generation);
    } else {
        ++reloads_.failed;
        reloads_.last_error = r.error;
        util::log_error("reload failed ({}), still serving generation {}: {}", trigger,
                        r.generation, r.error);
    }
    return r;
}

ReloadCounters Control::reload_counters() const {
    std::lock_guard lock(mu_);
    return reloads_;
}

std::vector<BackendKey> Control::apply(const Selector& sel, AdminAction action,
                                       std::uint32_t weight) {
    std::lock_guard lock(mu_);
    if (topo_ == nullptr) throw RequestError(503, "no configuration loaded yet");
    const auto matched = AdminStore::select(*topo_, sel);
    AdminStore next = admin_;
    std::vector<BackendKey> keys;
    for (const auto& [rec, b] : matched) {
        BackendKey key{rec->cfg->name, b->addr.to_string()};
        Override o = next.get(key.first, key.second);
        switch (action) {
            case AdminAction::Enable:
                o.state = AdminState::Enabled;
                break;
            case AdminAction::Disable:
                o.state = AdminState::Disabled;
                break;
            case AdminAction::Drain:
                o.state = AdminState::Drained;
                break;
            case AdminAction::Weight:
                o.weight = weight;
                break;
        }
        next.set(key, o);
        keys.push_back(std::move(key));
    }
    // The file first: if it cannot be written, nothing changes (the API says so).
    if (!state_file_.empty()) {
        try {
            next.save(state_file_);
        } catch (const std::exception& e) {
            throw RequestError(500, e.what());
        }
    }
    admin_ = std::move(next);
    publish_locked();
    if (admin_sink_)
        for (const auto& key : keys) admin_sink_(key, admin_.get(key.first, key.second));
    return keys;
}

void Control::adopt_admin(const AdminStore& fleet) {
    std::lock_guard lock(mu_);
    if (fleet.overrides() == admin_.overrides()) return;
    util::log_info("admin state: {} override(s) from the fleet", fleet.overrides().size());
    if (!state_file_.empty()) {
        try {
            fleet.save(state_file_);
        } catch (const std::exception& e) {
            util::log_warn(
                "admin state: the fleet's overrides are in force but the state file "
                "could not be written: {}",
                e.what());
        }
    }
    admin_ = fleet;
    publish_locked();
}

AdminStore Control::admin() const {
    std::lock_guard lock(mu_);
    return admin_;
}

gslb::Snapshot Control::current() const {
    std::lock_guard lock(mu_);
    return gslb::Snapshot{generation_, topo_, published_};
}

bool Control::ready() const {
    if (ready_.load()) return true;
    if (monitor_ == nullptr) return false;
    {
        std::lock_guard lock(mu_);
        if (topo_ == nullptr) return false;
    }
    for (const auto& t : monitor_->targets())
        if (t.rounds == 0 && t.assigned) return false;  // targets other nodes probe: not ours
    ready_.store(true);
    return true;
}

}  // namespace gslbd::ctl
