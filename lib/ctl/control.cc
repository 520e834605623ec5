#include "ctl/control.hh"

#include <malloc.h>
#include <algorithm>
#include <cstdlib>
#include <exception>
#include <nlohmann/json.hpp>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "config/model.hh"
#include "geo/geo.hh"
#include "util/log.hh"

namespace gslbd::ctl {

std::shared_ptr<const gslb::Topology> load_topology(
    const std::string& path, std::shared_ptr<const zone::Secondaries> secondaries,
    const gslb::Topology* previous) {
    auto cfg = std::make_shared<const config::Config>(
        config::load_config(path, previous != nullptr ? previous->config.get() : nullptr));
    auto geo = geo::load_geo(*cfg);
    // GSLBD_RELOAD_WHOLE=1 (benchmarks, as in config::load_policy_file): no topology sharing
    static const bool whole = std::getenv("GSLBD_RELOAD_WHOLE") != nullptr;
    return gslb::build_topology(cfg, std::move(geo), std::move(secondaries),
                                whole ? nullptr : previous);
}

namespace {

struct RecordChanges {
    std::size_t added = 0, changed = 0, removed = 0, unchanged = 0;
    std::size_t shared = 0;  ///< Record objects the new configuration shares with the old
};

// Records by name, compared by the hash of their YAML (config::Record::source_hash). Records
// mostly keep their positions: compared there first (zone by zone when the zones are the same),
// and a map by name is made only of the others (none when records changed in place), so that
// a reload of 100,000 records does not hold a map of every name beside the new topology.
RecordChanges record_changes(const config::Config& before, const config::Config& after) {
    RecordChanges c;
    std::vector<const config::Record*> gone, come;  // not matched by position
    auto compare = [&c](const config::Record& a, const config::Record& b) {
        ++(a.source_hash == b.source_hash ? c.unchanged : c.changed);
    };
    bool aligned = before.zones.size() == after.zones.size();
    for (std::size_t zi = 0; aligned && zi < after.zones.size(); ++zi)
        aligned = before.zones[zi].name == after.zones[zi].name;
    if (aligned) {
        for (std::size_t zi = 0; zi < after.zones.size(); ++zi) {
            const auto& a = before.zones[zi].records;
            const auto& b = after.zones[zi].records;
            const std::size_t n = std::min(a.size(), b.size());
            for (std::size_t i = 0; i < n; ++i) {
                if (a[i].name == b[i].name) {
                    compare(a[i], b[i]);
                } else {
                    gone.push_back(&a[i]);
                    come.push_back(&b[i]);
                }
            }
            for (std::size_t i = n; i < a.size(); ++i) gone.push_back(&a[i]);
            for (std::size_t i = n; i < b.size(); ++i) come.push_back(&b[i]);
        }
    } else {
        for (const auto& z : before.zones)
            for (const auto& r : z.records) gone.push_back(&r);
        for (const auto& z : after.zones)
            for (const auto& r : z.records) come.push_back(&r);
    }
    if (!gone.empty() || !come.empty()) {
        std::unordered_map<std::string_view, const config::Record*> old;
        old.reserve(gone.size());
        for (const auto* r : gone) old.emplace(r->name, r);
        std::size_t found = 0;
        for (const auto* r : come) {
            auto it = old.find(r->name);
            if (it == old.end()) {
                ++c.added;
                continue;
            }
            ++found;
            compare(*it->second, *r);
        }
        c.removed = old.size() > found ? old.size() - found : 0;
    }
    for (const auto& z : after.zones)
        for (const auto& pz : before.zones)
            if (pz.name == z.name) c.shared += z.records.shared_with(pz.records);
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
        if (!admin_.shifts().empty()) restore_shifts_ = nlohmann::json::parse(admin_.shifts());
    }
    ticker_ = std::thread([this] { tick_loop(); });
}

Control::~Control() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    tick_cv_.notify_all();
    ticker_.join();
}

void Control::tick_loop() {
    std::unique_lock lock(mu_);
    while (!stop_) {
        // a shift's next step may be due before the next second
        const double due = std::clamp(shifts_.next_due(health::steady_seconds()), 0.001, 1.0);
        tick_cv_.wait_for(lock, std::chrono::duration<double>(due));
        if (stop_) continue;
        if (shifts_.advance(health::steady_seconds())) {
            publish_locked(true);
            flush_shifts_locked();  // a drill that ended leaves the fleet
        }
        if (!gradual_moving_) continue;
        // health scores: the monitor's recent rounds, asked without mu_ held
        const auto topo = topo_;
        lock.unlock();
        std::map<std::uint32_t, std::vector<health::Monitor::Score>> scores;
        if (monitor_ != nullptr && topo != nullptr)
            for (std::uint32_t w : health::GradualTracker::score_windows(*topo))
                scores[w] = monitor_->scores(w);
        lock.lock();
        if (stop_) break;
        if (!scores.empty()) gradual_.set_scores(std::move(scores));
        publish_locked(true);
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

namespace {

double wall_seconds() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

void Control::take_kept_shifts_locked() {
    const double now = health::steady_seconds(), wall = wall_seconds();
    if (!restore_shifts_.is_null()) {
        for (const auto& line : shifts_.restore(restore_shifts_, topo_, now, wall))
            util::log_info("state file: {}", line);
        restore_shifts_ = nullptr;
    }
    if (fleet_shifts_) {
        std::vector<std::string> log;
        shifts_.adopt(*fleet_shifts_, topo_, now, wall, log);
        for (const auto& line : log) util::log_info("fleet: {}", line);
        fleet_shifts_.reset();
    }
    flush_shifts_locked();
}

void Control::flush_shifts_locked() {
    for (const auto& [uid, doc] : shifts_.take_outbox())
        if (shift_sink_) shift_sink_(uid, doc);
    const nlohmann::json kept = shifts_.durable();
    admin_.set_shifts(kept.empty() ? std::string() : kept.dump());
}

void Control::save_shifts() {
    save_state_logged("shifts: in force but not kept:");
}

void Control::save_state_logged(const char* what) {
    if (state_file_.empty()) return;
    std::lock_guard file(state_mu_);
    AdminStore now;
    {
        std::lock_guard lock(mu_);
        now = admin_;
    }
    try {
        now.save(state_file_);
    } catch (const std::exception& e) {
        util::log_warn("{} the state file could not be written: {}", what, e.what());
    }
}

void Control::adopt_shifts(const std::map<std::string, std::string>& fleet) {
    {
        std::lock_guard lock(mu_);
        if (topo_ == nullptr) {
            fleet_shifts_ = fleet;
            return;
        }
        std::vector<std::string> log;
        const bool changed =
            shifts_.adopt(fleet, topo_, health::steady_seconds(), wall_seconds(), log);
        for (const auto& line : log) util::log_info("fleet: {}", line);
        if (!changed) return;
        publish_locked(true);
        flush_shifts_locked();
    }
    tick_cv_.notify_all();
    save_shifts();
}

void Control::publish_locked(bool only_if_changed) {
    if (topo_ == nullptr) return;
    if (!restore_shifts_.is_null() || fleet_shifts_) take_kept_shifts_locked();
    auto h = std::make_shared<gslb::Health>();
    const auto base = filter_ ? filter_(*topo_, verdicts_) : verdicts_;
    if (base != nullptr) h->up = base->up;
    h->up.resize(topo_->backend_count, 1);
    admin_.overlay(*topo_, h->admin, h->weight);
    const double now = health::steady_seconds();
    gradual_moving_ = gradual_.apply(topo_, *h, now);
    // after the gradual rules: their tracker never sees a shift, so its end is no comeback
    shifts_.apply(topo_, *h, now);
    // a new generation empties every worker's cache: only for a real change
    if (only_if_changed && published_ != nullptr && published_->up == h->up &&
        published_->admin == h->admin && published_->weight == h->weight &&
        published_->ramp == h->ramp && published_->short_ttl == h->short_ttl &&
        published_->split == h->split) {
        // the same answers: only the notes (scores, penalties) are newer, for the API
        fresh_ = std::move(h);
        return;
    }
    fresh_ = h;
    published_ = h;
    holder_.publish(
        std::make_unique<const gslb::Snapshot>(gslb::Snapshot{++generation_, topo_, std::move(h)}));
}

ReloadResult Control::reload(const std::string& trigger) {
    std::lock_guard serial(reload_mu_);
    ReloadResult r;
    try {
        std::shared_ptr<const zone::Secondaries> secondaries;
        std::shared_ptr<const gslb::Topology> previous;  // unchanged records are shared with it
        {
            std::lock_guard lock(mu_);
            if (base_ != nullptr) secondaries = base_->secondaries;
            previous = base_;
        }
        auto base = load_topology(config_path_, secondaries, previous.get());
        previous.reset();
        Discovered discovered;
        std::map<std::string, std::string> api;
        {
            std::lock_guard lock(mu_);
            discovered = discovered_;
            api = admin_.pools();
        }
        keep_discovered(*base, discovered);
        std::vector<std::string> problems;
        auto topo = compose(base, api, discovered, &problems);
        for (const auto& p : problems) util::log_warn("reload ({}): {}", trigger, p);
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
            if (a.probe_source_v4 != b.probe_source_v4 || a.probe_source_v6 != b.probe_source_v6)
                util::log_warn(
                    "reload: health.source changed; it takes effect only after a restart");
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
                       topo->backends);
        if (old.topo != nullptr) {
            const RecordChanges c = record_changes(*old.topo->config, *topo->config);
            const config::LoadStats& st = base->config->load_stats;
            util::log_info(
                "reload ({}): records: {} added, {} changed, {} removed, {} unchanged ({} "
                "shared with the previous load, not parsed again); {} parsed, {} moved (copied "
                "with their lines shifted); zone files read by record: {}, whole: {}; {} records "
                "kept their backends and ids in the topology; names {}",
                trigger, c.added, c.changed, c.removed, c.unchanged, c.shared, st.parsed, st.moved,
                st.files_split, st.files_whole, base->records_shared,
                base->names_shared ? "shared (the same at the same positions)" : "indexed anew");
        }
        // Validates the checks and carries over the verdicts of backends that still exist.
        std::shared_ptr<const gslb::Health> health;
        if (monitor_ != nullptr) {
            const config::Config& c = *topo->config;
            monitor_->set_defaults(c.health_rise, c.health_fall, c.health_assume_healthy);
            health = monitor_->set_topology(topo);
        }
        {
            std::lock_guard lock(mu_);
            // From set_topology's return on, the monitor thread may publish verdicts of the
            // new topology; one that came first is newer than `health` and stands.
            base_ = base;
            discovered_ = std::move(discovered);
            if (topo_ != topo) {
                topo_ = std::move(topo);
                verdicts_ = std::move(health);
                publish_locked();
            }
        }
        r.ok = true;
        if (config_hook_) config_hook_(*base->config);
    } catch (const std::exception& e) {
        r.error = e.what();
    }
#ifdef __GLIBC__
    // The previous generation (or a refused candidate) is freed by now, in many small chunks
    // that glibc keeps; hand the free pages back so that RSS falls back to the steady size.
    malloc_trim(0);
#endif
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

void Control::keep_discovered(const gslb::Topology& base, Discovered& discovered) {
    // A discovered pool lives while its record still has `discovery:`.
    for (auto it = discovered.begin(); it != discovered.end();) {
        bool keep = false;
        for (const auto& z : base.config->zones)
            for (const auto& rec : z.records)
                if (rec.name == it->first && rec.discovery != nullptr) keep = true;
        it = keep ? std::next(it) : discovered.erase(it);
    }
}

std::vector<BackendKey> Control::change_overrides(AdminStore& next, const gslb::Topology& topo,
                                                  const Selector& sel, AdminAction action,
                                                  std::uint32_t weight) {
    const auto matched = AdminStore::select(topo, sel);
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
    return keys;
}

gslb::Snapshot Control::plan_reload(const std::string& path) const {
    const gslb::Snapshot old = current();
    if (old.topo == nullptr) throw RequestError(503, "no configuration loaded yet");
    Discovered discovered;
    std::map<std::string, std::string> api;
    AdminStore admin;
    {
        std::lock_guard lock(mu_);
        discovered = discovered_;
        api = admin_.pools();
        admin = admin_;
    }
    std::shared_ptr<const gslb::Topology> topo;
    try {
        // the steps of reload() up to the point where it changes anything
        auto base = load_topology(path.empty() ? config_path_ : path, nullptr, old.topo.get());
        keep_discovered(*base, discovered);
        topo = compose(base, api, discovered, nullptr);
        if (old.topo->config->cluster.enabled != topo->config->cluster.enabled)
            throw std::runtime_error(
                "cluster: joining or leaving a fleet needs a restart of gslbd (a reload would "
                "be refused)");
        health::Monitor check({}, [](auto, auto) {});  // the checks, as a reload sees them
        check.set_topology(topo);
    } catch (const RequestError&) {
        throw;
    } catch (const std::exception& e) {
        throw RequestError(422, e.what());
    }
    // what the backends that stay have now (by record and address: health::carry_ids, no
    // string per backend); new ones: up, full weight
    const gslb::Health* h0 = old.health.get();
    const std::vector<std::uint32_t> prev = health::carry_ids(*old.topo, *topo);
    auto h = std::make_shared<gslb::Health>();
    h->up.assign(topo->backend_count, 1);
    h->ramp.assign(topo->backend_count, 0);
    for (std::uint32_t id = 0; id < prev.size() && id < topo->backend_count; ++id) {
        const std::uint32_t p = prev[id];
        if (p == health::kNoBackend) continue;
        h->up[id] = h0 == nullptr || p >= h0->up.size() || h0->up[p] != 0 ? 1 : 0;
        h->ramp[id] = h0 != nullptr && p < h0->ramp.size() ? h0->ramp[p] : 0;
    }
    if (std::all_of(h->ramp.begin(), h->ramp.end(), [](std::uint8_t r) { return r == 0; }))
        h->ramp.clear();
    admin.overlay(*topo, h->admin, h->weight);
    return gslb::Snapshot{old.generation + 1, std::move(topo), std::move(h)};
}

gslb::Snapshot Control::plan_override(const Selector& sel, AdminAction action, std::uint32_t weight,
                                      std::vector<BackendKey>& changed) const {
    const gslb::Snapshot cur = current();
    if (cur.topo == nullptr || cur.health == nullptr)
        throw RequestError(503, "no configuration loaded yet");
    AdminStore next = admin();
    changed = change_overrides(next, *cur.topo, sel, action, weight);
    auto h = std::make_shared<gslb::Health>(*cur.health);
    h->admin.clear();
    h->weight.clear();
    next.overlay(*cur.topo, h->admin, h->weight);
    return gslb::Snapshot{cur.generation + 1, cur.topo, std::move(h)};
}

std::vector<BackendKey> Control::apply(const Selector& sel, AdminAction action,
                                       std::uint32_t weight) {
    // Serialized with reloads and pool changes; mu_ is held only to copy and to install, so
    // the state file's fsync (seconds on a busy disk) never holds up a health publish.
    std::lock_guard serial(reload_mu_);
    std::lock_guard file(state_mu_);
    std::shared_ptr<const gslb::Topology> topo;
    AdminStore next;
    {
        std::lock_guard lock(mu_);
        topo = topo_;
        next = admin_;
    }
    if (topo == nullptr) throw RequestError(503, "no configuration loaded yet");
    const auto keys = change_overrides(next, *topo, sel, action, weight);
    // The file first: if it cannot be written, nothing changes (the API says so).
    save_state(next);
    std::lock_guard lock(mu_);
    // Only the changed overrides: the fleet may have installed others meanwhile.
    for (const auto& key : keys) admin_.set(key, next.get(key.first, key.second));
    publish_locked();
    if (admin_sink_)
        for (const auto& key : keys) admin_sink_(key, admin_.get(key.first, key.second));
    return keys;
}

void Control::adopt_admin(const AdminStore& fleet) {
    {
        std::lock_guard lock(mu_);
        if (fleet.overrides() == admin_.overrides()) return;
        util::log_info("admin state: {} override(s) from the fleet", fleet.overrides().size());
        AdminStore next = fleet;  // pools are this node's (the fleet carries overrides only)
        next.set_pools(admin_.pools());
        next.set_shifts(admin_.shifts());  // shifts come from the fleet apart (adopt_shifts)
        admin_ = std::move(next);
        publish_locked();
    }
    // In force first; the file after, outside mu_ (its fsync never holds up a publish). The
    // copy is taken under state_mu_, so whichever writer comes last writes the newest state.
    save_state_logged("admin state: the fleet's overrides are in force but");
}

AdminStore Control::admin() const {
    std::lock_guard lock(mu_);
    return admin_;
}

nlohmann::json Control::shift_start(const ShiftParams& p) {
    nlohmann::json out;
    {
        std::lock_guard lock(mu_);
        if (topo_ == nullptr) throw RequestError(503, "no configuration loaded yet");
        const double now = health::steady_seconds();
        const std::uint64_t id = shifts_.start(p, topo_, now, wall_seconds());
        publish_locked();
        flush_shifts_locked();
        out = shifts_.to_json(id, now);
        out["generation"] = generation_;
    }
    tick_cv_.notify_all();  // the ticker waits for the next step from now on
    save_shifts();
    util::log_info(
        "shift {}: {} ({} % in steps of {} % every {} s{})", out["id"].get<std::uint64_t>(),
        p.selector.describe(), p.share, p.step, p.interval,
        p.restore_after > 0 ? ", drill restored after " + std::to_string(p.restore_after) + " s"
                            : "");
    return out;
}

nlohmann::json Control::shift_action(std::uint64_t id, const std::string& verb) {
    nlohmann::json out;
    {
        std::lock_guard lock(mu_);
        const double now = health::steady_seconds();
        if (verb == "pause")
            shifts_.pause(id, now, wall_seconds());
        else if (verb == "resume")
            shifts_.resume(id, now, wall_seconds());
        else if (verb == "abort")
            shifts_.abort(id, now);
        else
            throw RequestError(404, "unknown shift action '" + verb + "'");
        // abort restores at once; pause and resume change no weight (nothing new to publish)
        publish_locked(true);
        flush_shifts_locked();
        out = shifts_.to_json(id, now);
        out["generation"] = generation_;
    }
    tick_cv_.notify_all();
    save_shifts();
    util::log_info("shift {}: {}", id, verb);
    return out;
}

nlohmann::json Control::shifts() const {
    std::lock_guard lock(mu_);
    return shifts_.to_json(health::steady_seconds());
}

nlohmann::json Control::shift(std::uint64_t id) const {
    std::lock_guard lock(mu_);
    return shifts_.to_json(id, health::steady_seconds());
}

namespace {

std::string lower_abs(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (s.empty() || s.back() != '.') s += '.';
    return s;
}

// What makes two pools serve the same: compared before a discovered pool is republished.
std::string pool_key(const std::vector<config::Backend>& pool) {
    std::string k;
    for (const auto& b : pool) {
        k += b.address_text + '|' + std::to_string(b.port) + '|' + std::to_string(b.priority) +
             '|' + std::to_string(b.weight) + '|' + (b.enable ? '1' : '0') + '|' + b.description;
        for (const auto* list : {&b.tags, &b.countries, &b.cities, &b.locations, &b.continents})
            for (const auto& x : *list) k += '|' + x;
        for (auto a : b.asns) k += '|' + std::to_string(a);
        k += '\n';
    }
    return k;
}

}  // namespace

std::shared_ptr<const gslb::Topology> Control::compose(
    const std::shared_ptr<const gslb::Topology>& base,
    const std::map<std::string, std::string>& api, const Discovered& discovered,
    std::vector<std::string>* problems) {
    if (api.empty() && discovered.empty()) return base;
    auto cfg = std::make_shared<config::Config>(*base->config);
    bool changed = false;
    for (auto& z : cfg->zones) {
        // the records are shared with `base`: only a record whose pool changes is copied
        for (std::size_t i = 0; i < z.records.size(); ++i) {
            const config::Record& rec = std::as_const(z.records)[i];
            if (rec.discovery != nullptr) {
                if (api.count(rec.name) != 0 && problems != nullptr)
                    problems->push_back("pool of " + rec.name +
                                        " from the API is not used: the record has discovery");
                auto it = discovered.find(rec.name);
                if (it == discovered.end()) continue;
                z.records.edit(i).backends = it->second;
                changed = true;
                continue;
            }
            auto it = api.find(rec.name);
            if (it == api.end()) continue;
            try {
                auto pool =
                    config::parse_backend_list(it->second, "state file pool " + rec.name, z);
                z.records.edit(i).backends = std::move(pool);
                changed = true;
            } catch (const config::ConfigError& e) {
                if (problems != nullptr)
                    problems->push_back(std::string("pool from the API not used: ") + e.what());
            }
        }
    }
    if (!changed) return base;
    return gslb::build_topology(std::move(cfg), base->geo, base->secondaries, base.get());
}

std::string Control::install_secondary(const std::string& zone_name, zone::Transferred data) {
    std::lock_guard serial(reload_mu_);
    std::shared_ptr<const gslb::Topology> base;
    std::map<std::string, std::string> api;
    Discovered discovered;
    {
        std::lock_guard lock(mu_);
        base = base_;
        api = admin_.pools();
        discovered = discovered_;
    }
    if (base == nullptr) return "no configuration loaded yet";
    auto map = base->secondaries != nullptr
                   ? std::make_shared<zone::Secondaries>(*base->secondaries)
                   : std::make_shared<zone::Secondaries>();
    (*map)[zone_name] = std::move(data);
    std::shared_ptr<const gslb::Topology> next, topo;
    try {
        next = gslb::build_topology(base->config, base->geo, std::move(map), base.get());
        topo = compose(next, api, discovered, nullptr);
    } catch (const std::exception& e) {
        return e.what();
    }
    {
        std::lock_guard lock(mu_);
        base_ = next;
    }
    switch_to(topo);
    return "";
}

std::shared_ptr<const gslb::Topology> Control::prepare(std::shared_ptr<const gslb::Topology> base) {
    std::lock_guard serial(reload_mu_);
    std::map<std::string, std::string> api;
    {
        std::lock_guard lock(mu_);
        base_ = base;
        api = admin_.pools();
    }
    std::vector<std::string> problems;
    auto topo = compose(base, api, {}, &problems);
    for (const auto& p : problems) util::log_warn("{}", p);
    if (topo != base)
        util::log_info("pools: {} record(s) served from API pools (state file)", api.size());
    return topo;
}

void Control::save_state(const AdminStore& next) const {
    if (state_file_.empty()) return;
    try {
        next.save(state_file_);
    } catch (const std::exception& e) {
        throw RequestError(500, e.what());
    }
}

void Control::switch_to(std::shared_ptr<const gslb::Topology> topo) {
    std::shared_ptr<const gslb::Health> health;
    if (monitor_ != nullptr) health = monitor_->set_topology(topo);
    std::lock_guard lock(mu_);
    if (topo_ == topo) return;
    topo_ = std::move(topo);
    verdicts_ = std::move(health);
    publish_locked();
}

std::vector<std::string> Control::set_pool(const std::string& zone_name,
                                           const std::string& record_name,
                                           const std::string& body) {
    std::lock_guard serial(reload_mu_);
    std::lock_guard file(state_mu_);
    std::shared_ptr<const gslb::Topology> base;
    AdminStore next;
    Discovered discovered;
    {
        std::lock_guard lock(mu_);
        base = base_;
        next = admin_;
        discovered = discovered_;
    }
    if (base == nullptr) throw RequestError(503, "no configuration loaded yet");
    const std::string zname = lower_abs(zone_name), rname = lower_abs(record_name);
    const config::Zone* zone = nullptr;
    for (const auto& z : base->config->zones)
        if (z.name == zname) zone = &z;
    if (zone == nullptr) throw RequestError(404, "unknown zone '" + zname + "'");
    const config::Record* rec = nullptr;
    for (const auto& r : zone->records)
        if (r.name == rname) rec = &r;
    if (rec == nullptr)
        throw RequestError(404, "unknown record '" + rname + "' in zone '" + zname + "'");
    if (rec->discovery != nullptr)
        throw RequestError(409, "the pool of '" + rname + "' comes from discovery (" +
                                    rec->discovery->type_name +
                                    "); change the zone file to set it by hand");
    // JSON is the API's format (and what the state file keeps); the zone file's parser reads
    // the body itself so that errors point into it.
    nlohmann::json doc;
    try {
        doc = nlohmann::json::parse(body);
    } catch (const nlohmann::json::exception& e) {
        throw RequestError(400, std::string("the body is not JSON: ") + e.what());
    }
    std::vector<config::Backend> backends;
    try {
        backends = config::parse_backend_list(body, "request body", *zone);
    } catch (const config::ConfigError& e) {
        throw RequestError(400, e.what());
    }
    const nlohmann::json list = doc.is_object() && doc.contains("backends") ? doc["backends"] : doc;
    next.set_pool(rname, list.dump());
    std::shared_ptr<const gslb::Topology> topo;
    try {
        topo = compose(base, next.pools(), discovered, nullptr);
        // The checks, as a reload would see them (unsupported types, ICMP privilege).
        health::Monitor check({}, [](auto, auto) {});
        check.set_topology(topo);
    } catch (const config::ConfigError& e) {
        throw RequestError(400, e.what());
    }
    save_state(next);
    {
        std::lock_guard lock(mu_);
        admin_.set_pool(rname, list.dump());
    }
    switch_to(topo);
    std::vector<std::string> out;
    for (const auto& b : backends) out.push_back(b.address_text);
    util::log_info("pool of {} set through the API: {} backend(s)", rname, out.size());
    return out;
}

bool Control::clear_pool(const std::string& zone_name, const std::string& record_name) {
    std::lock_guard serial(reload_mu_);
    const std::string rname = lower_abs(record_name);
    (void)zone_name;
    std::lock_guard file(state_mu_);
    std::shared_ptr<const gslb::Topology> base;
    AdminStore next;
    Discovered discovered;
    {
        std::lock_guard lock(mu_);
        base = base_;
        next = admin_;
        discovered = discovered_;
    }
    auto pools = next.pools();
    if (pools.erase(rname) == 0) return false;
    next.set_pools(pools);
    save_state(next);
    {
        std::lock_guard lock(mu_);
        admin_.set_pools(pools);
    }
    if (base != nullptr) switch_to(compose(base, pools, discovered, nullptr));
    util::log_info("pool of {} from the API removed: the zone file's backends again", rname);
    return true;
}

void Control::set_discovered(const std::string& record, std::vector<config::Backend> backends) {
    std::lock_guard serial(reload_mu_);
    std::shared_ptr<const gslb::Topology> base;
    std::map<std::string, std::string> api;
    Discovered discovered;
    {
        std::lock_guard lock(mu_);
        base = base_;
        api = admin_.pools();
        discovered = discovered_;
    }
    if (base == nullptr || backends.empty()) return;
    auto it = discovered.find(record);
    if (it != discovered.end() && pool_key(it->second) == pool_key(backends)) return;
    std::string list;
    for (const auto& b : backends)
        list += (list.empty() ? "" : ", ") + b.address_text +
                (b.port != 0 ? ":" + std::to_string(b.port) : "");
    discovered[record] = std::move(backends);
    try {
        auto topo = compose(base, api, discovered, nullptr);
        switch_to(topo);
    } catch (const std::exception& e) {
        util::log_warn(
            "discovery: {}: the pool found ({}) is refused, keeping the last good one: {}", record,
            list, e.what());
        return;
    }
    {
        std::lock_guard lock(mu_);
        discovered_ = std::move(discovered);
    }
    util::log_info("discovery: {}: pool now {}", record, list);
}

std::map<std::string, std::string> Control::pool_sources() const {
    std::lock_guard lock(mu_);
    std::map<std::string, std::string> out;
    for (const auto& [rec, _] : admin_.pools()) out[rec] = "api";
    for (const auto& [rec, _] : discovered_) out[rec] = "discovery";
    return out;
}

gslb::Snapshot Control::current() const {
    std::lock_guard lock(mu_);
    // fresh_ answers exactly as published_ (publish_locked compares every field workers read)
    // and carries the newest gradual notes
    return gslb::Snapshot{generation_, topo_, fresh_ != nullptr ? fresh_ : published_};
}

bool Control::ready() const {
    if (ready_.load()) return true;
    if (monitor_ == nullptr) return false;
    {
        std::lock_guard lock(mu_);
        if (topo_ == nullptr) return false;
    }
    // a batch of targets at a time: no copy of every target while a large estate starts
    constexpr std::size_t kBatch = 1024;
    for (std::size_t first = 0;; first += kBatch) {
        const auto targets = monitor_->targets(first, first + kBatch);
        for (const auto& t : targets)
            if (t.rounds == 0 && t.assigned) return false;  // targets other nodes probe: not ours
        if (targets.size() < kBatch) break;
    }
    ready_.store(true);
    return true;
}

}  // namespace gslbd::ctl
