#include "ctl/fleet.hh"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <pthread.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string_view>
#include <thread>
#include <utility>

#include "ctl/control.hh"
#include "util/log.hh"

namespace gslbd::ctl {

namespace {

cluster::FleetOptions fleet_options(const config::Config& cfg, const std::string& version) {
    auto o = cluster::options_from_config(cfg.cluster);
    o.self.version = version;
    o.self.config_digest = FleetLink::config_digest(cfg);
    return o;
}

}  // namespace

std::string FleetLink::config_digest(const config::Config& cfg) {
    // FNV-1a over every file that shapes the answers, in a fixed order
    std::uint64_t h = 0xcbf29ce484222325ull;
    auto feed = [&](const std::string& path) {
        std::ifstream in(path, std::ios::binary);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        for (unsigned char c : text) {
            h ^= c;
            h *= 0x100000001b3ull;
        }
        h ^= 0xff;  // file boundary
        h *= 0x100000001b3ull;
    };
    feed(cfg.file);
    for (const auto& z : cfg.zones)
        if (!z.policy_file.empty()) feed(z.policy_file);
    if (!cfg.location_map.empty()) feed(cfg.location_map);
    return fmt::format("{:016x}", h);
}

FleetLink::FleetLink(const config::Config& cfg, health::Monitor& monitor, std::string version)
    : monitor_(monitor),
      version_(std::move(version)),
      passive_(cfg.cluster.passive),
      fleet_(std::make_shared<cluster::Fleet>(fleet_options(cfg, version_), nullptr)),
      fleet_overrides_(cfg.cluster.override_fleet),
      cluster_(cfg.cluster),
      rule_(cfg.cluster.quorum) {
    self_ = fleet_->options().self;
    digest_ = self_.config_digest;
}

std::shared_ptr<cluster::Fleet> FleetLink::agent() const {
    std::lock_guard lk(agent_mu_);
    return fleet_;
}

FleetLink::~FleetLink() {
    stop();
}

namespace {

// Overrides in etcd: key overrides/<record>/<address>, value {"state": ..., "weight": N}.
std::string override_id(const BackendKey& key) {
    return key.first + "/" + key.second;
}

std::string override_doc(const Override& o) {
    return nlohmann::json{{"state", std::string(to_string(o.state))}, {"weight", o.weight}}.dump();
}

// Shifts share the overrides' directory (no lease: they outlive every node) under an id that
// no record name can take: overrides/~shift/<uid>, value ShiftBook's durable document.
constexpr std::string_view kShiftPrefix = "~shift/";

std::optional<std::pair<BackendKey, Override>> parse_override(const std::string& id,
                                                              const std::string& doc) {
    const auto slash = id.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == id.size()) return std::nullopt;
    auto j = nlohmann::json::parse(doc, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    Override o;
    const std::string state = j.value("state", "enabled");
    if (state == to_string(AdminState::Disabled))
        o.state = AdminState::Disabled;
    else if (state == to_string(AdminState::Drained))
        o.state = AdminState::Drained;
    else if (state != to_string(AdminState::Enabled))
        return std::nullopt;
    if (auto w = j.find("weight"); w != j.end() && w->is_number_unsigned())
        o.weight = w->get<std::uint32_t>();
    return std::make_pair(BackendKey{id.substr(0, slash), id.substr(slash + 1)}, o);
}

}  // namespace

void FleetLink::sync_overrides() {
    if (!fleet_overrides_ || control_ == nullptr) return;
    std::lock_guard serial(sync_mu_);
    const auto view = agent()->view();
    if (!view->synced) return;  // before the first full read the fleet knows nothing
    std::map<std::string, std::optional<std::string>> pending;
    {
        std::lock_guard lk(mu_);
        for (auto it = pending_overrides_.begin(); it != pending_overrides_.end();) {
            auto have = view->overrides->find(it->first);
            const bool seen = it->second
                                  ? (have != view->overrides->end() && have->second == *it->second)
                                  : have == view->overrides->end();
            it = seen ? pending_overrides_.erase(it) : std::next(it);
        }
        pending = pending_overrides_;
    }
    AdminStore store;
    std::map<std::string, std::string> shifts;  // uid -> document
    auto shift_uid = [](const std::string& id) {
        return id.rfind(kShiftPrefix, 0) == 0 ? id.substr(kShiftPrefix.size()) : std::string();
    };
    for (const auto& [id, doc] : *view->overrides) {
        if (pending.count(id)) continue;
        if (const std::string uid = shift_uid(id); !uid.empty())
            shifts[uid] = doc;
        else if (auto o = parse_override(id, doc))
            store.set(o->first, o->second);
        else
            util::log_warn("fleet: ignoring unreadable override '{}': {}", id, doc);
    }
    for (const auto& [id, doc] : pending) {
        if (!doc) continue;
        if (const std::string uid = shift_uid(id); !uid.empty())
            shifts[uid] = *doc;
        else if (auto o = parse_override(id, *doc))
            store.set(o->first, o->second);
    }
    control_->adopt_admin(store);
    control_->adopt_shifts(shifts);
}

void FleetLink::attach(Control& control) {
    control_ = &control;
    control.set_fleet(this);
    // installed whatever the scope: a reload may change it
    control.set_admin_sink([this](const BackendKey& key, const Override& o) {
        if (!fleet_overrides_) return;
        const std::string id = override_id(key);
        std::optional<std::string> doc;
        if (!o.empty()) doc = override_doc(o);
        {
            std::lock_guard lk(mu_);
            pending_overrides_[id] = doc;
        }
        agent()->set_override(id, std::move(doc));
    });
    control.set_shift_sink([this](const std::string& uid, const std::optional<std::string>& doc) {
        if (!fleet_overrides_) return;  // override_scope: node keeps shifts on this node too
        const std::string id = std::string(kShiftPrefix) + uid;
        {
            std::lock_guard lk(mu_);
            pending_overrides_[id] = doc;
        }
        agent()->set_override(id, doc);
    });
    control.set_health_filter(
        [this](const gslb::Topology& t, const std::shared_ptr<const gslb::Health>& own) {
            return filter(t, own);
        });
    control.set_reload_hook([this](const config::Config& next) { reconfigure(next); });
}

namespace {

/// A passive node probes nothing.
class ProbeNothing final : public health::Monitor::ProbeFilter {
  public:
    std::uint64_t epoch() const override { return 0; }
    bool assigned(const std::string&) const override { return false; }
};

/// probes_per_target k: rendezvous over the live probing members. Without etcd (degraded:
/// own verdicts decide) and until this node is a member, it probes everything. The monitor
/// keeps each target's answer until epoch() changes: only a change of the agent, of the
/// membership or of the connection can move a target.
class ProbeShare final : public health::Monitor::ProbeFilter {
  public:
    ProbeShare(const FleetLink& link, const std::atomic<std::uint64_t>& agent_gen, unsigned k)
        : link_(link), agent_gen_(agent_gen), k_(k) {}

    std::uint64_t epoch() const override {
        const auto v = link_.agent()->view();
        std::uint64_t e = agent_gen_.load(std::memory_order_acquire);
        e = e * 0x9E3779B97F4A7C15ULL + v->epoch;
        e = e * 0x9E3779B97F4A7C15ULL + (v->connected ? 1 : 0);
        e = e * 0x9E3779B97F4A7C15ULL + static_cast<std::uint64_t>(v->self_index + 1);
        return e * 0x9E3779B97F4A7C15ULL + v->probing_hashes.size();
    }
    bool assigned(const std::string& key) const override {
        const auto v = link_.agent()->view();
        return !v->connected || v->assigned(key, k_);
    }

  private:
    const FleetLink& link_;
    const std::atomic<std::uint64_t>& agent_gen_;
    unsigned k_;
};

}  // namespace

void FleetLink::install_probe_filter(unsigned k) {
    if (passive_)
        monitor_.set_probe_filter(std::make_shared<ProbeNothing>());
    else if (k > 0)
        monitor_.set_probe_filter(std::make_shared<ProbeShare>(*this, agent_gen_, k));
    else
        monitor_.set_probe_filter(nullptr);
}

void FleetLink::wake_tick() {
    {
        std::lock_guard lk(tick_mu_);
        change_pending_ = true;
    }
    tick_cv_.notify_all();
}

void FleetLink::start() {
    install_probe_filter(agent()->options().probes_per_target);
    // The fleet agent tells us when its view changed; the tick thread re-runs the filter then
    // (Control publishes only when the answers change).
    agent()->set_on_change([this] { wake_tick(); });
    tick_stop_ = false;
    tick_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "gslbd-fleet-tk");
        std::uint64_t seen = monitor_.vote_epoch();
        std::unique_lock lk(tick_mu_);
        while (!tick_stop_) {
            tick_cv_.wait_for(lk, std::chrono::milliseconds{100},
                              [&] { return tick_stop_ || change_pending_; });
            if (tick_stop_) break;
            const bool changed = change_pending_;
            change_pending_ = false;
            const std::uint64_t now = passive_ ? seen : monitor_.vote_epoch();
            if ((!changed && now == seen) || control_ == nullptr) continue;
            seen = now;
            lk.unlock();
            if (changed) sync_overrides();
            control_->republish();  // runs the filter: sends the votes, publishes if needed
            lk.lock();
        }
    });
    agent()->start();
}

bool FleetLink::wait_synced(std::chrono::milliseconds timeout) const {
    return agent()->wait_synced(timeout);
}

void FleetLink::stop() {
    if (tick_.joinable()) {
        {
            std::lock_guard lk(tick_mu_);
            tick_stop_ = true;
        }
        tick_cv_.notify_all();
        tick_.join();
    }
    auto a = agent();
    a->set_on_change(nullptr);
    a->stop();
}

namespace {

bool same_cluster(const config::ClusterConfig& a, const config::ClusterConfig& b) {
    return a.enabled == b.enabled && a.endpoints == b.endpoints && a.ca_file == b.ca_file &&
           a.cert_file == b.cert_file && a.key_file == b.key_file && a.user == b.user &&
           a.password == b.password && a.prefix == b.prefix && a.node == b.node &&
           a.labels == b.labels && a.lease_ttl == b.lease_ttl && a.passive == b.passive &&
           a.quorum == b.quorum && a.min_voters == b.min_voters &&
           a.probes_per_target == b.probes_per_target && a.override_fleet == b.override_fleet &&
           a.timeout == b.timeout;
}

}  // namespace

std::unordered_map<std::string, bool> FleetLink::votes_locked() const {
    std::unordered_map<std::string, bool> votes;
    if (layout_ == nullptr) return votes;
    for (std::size_t i = 0; i < sent_.size(); ++i)
        if (sent_[i] >= 0) votes.emplace(layout_->keys[i], sent_[i] == 1);
    return votes;
}

void FleetLink::reconfigure(const config::Config& next) {
    std::lock_guard serial(reconf_mu_);
    const config::ClusterConfig& c = next.cluster;
    if (c.passive != passive_)
        throw config::ConfigError(c.pos, "cluster.role",
                                  "changing a node's role (probe <-> passive) needs a restart "
                                  "of gslbd; the reload was refused");
    if (same_cluster(cluster_, c)) return;
    auto opts = fleet_options(next, version_);
    {
        std::lock_guard lk(mu_);
        opts.self.generation = generation_;
    }
    // may throw std::invalid_argument: the reload is refused and the old agent stays
    auto fresh = std::make_shared<cluster::Fleet>(opts, nullptr);
    {
        std::lock_guard lk(mu_);
        if (!passive_) fresh->set_votes(votes_locked());
    }
    util::log_info("fleet: the cluster block changed: joining as node {} (etcd {}, quorum {})",
                   c.node, fmt::join(c.endpoints, ", "), c.quorum);
    fresh->set_on_change([this] { wake_tick(); });
    fresh->start();
    // take over once the new agent has read the fleet and holds a lease: the answers stay
    // those of the old agent meanwhile
    const auto wait =
        std::min<std::chrono::milliseconds>(c.timeout * 2, std::chrono::milliseconds{5000});
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (!fresh->view()->connected && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
    if (!fresh->view()->connected)
        util::log_warn(
            "fleet: the new cluster settings did not reach etcd within {} ms ({}); "
            "going on with them, on this node's own verdicts until they do",
            wait.count(), fresh->view()->last_error);
    std::shared_ptr<cluster::Fleet> old;
    {
        std::lock_guard lk(agent_mu_);
        old = std::exchange(fleet_, fresh);
        agent_gen_.fetch_add(1, std::memory_order_release);
    }
    {
        std::lock_guard lk(mu_);
        rule_ = c.quorum;
        self_.name = opts.self.name;
        self_.labels = opts.self.labels;
        sent_to_ = nullptr;     // the new agent was given the votes above: send them again
        seen_table_ = nullptr;  // read every fleet verdict again from the new agent
    }
    fleet_overrides_ = c.override_fleet;
    if (c.probes_per_target != cluster_.probes_per_target)
        install_probe_filter(c.probes_per_target);
    cluster_ = c;
    old->set_on_change(nullptr);
    old->stop();  // revokes its lease: a renamed node's old record and votes vanish at once
    wake_tick();
}

std::shared_ptr<const gslb::Health> FleetLink::filter(
    const gslb::Topology& topo, const std::shared_ptr<const gslb::Health>& own) {
    const health::FleetInputs in = monitor_.fleet_inputs();
    const auto fleet = agent();
    const auto view = fleet->view();
    const health::FleetLayout& layout = *in.layout;
    const std::size_t n = layout.keys.size();
    std::lock_guard lk(mu_);
    if (&topo != last_topo_) {
        last_topo_ = &topo;
        ++generation_;
        digest_ = config_digest(*topo.config);
        self_.config_digest = digest_;
        self_.generation = generation_;
        fleet->set_info(self_);
    }
    if (in.layout != layout_) {
        layout_ = in.layout;
        sent_to_ = nullptr;
        seen_table_ = nullptr;
        shard_targets_.assign(cluster::TargetTable::kShards, {});
        for (std::uint32_t i = 0; i < n; ++i)
            shard_targets_[cluster::TargetTable::shard_of(layout.keys[i])].push_back(i);
        fleet_v_.assign(n, cluster::FleetVerdict::NoQuorum);
    }
    // own votes out: only real rounds, only what changed
    std::size_t up = 0, down = 0;
    if (!passive_) {
        std::vector<std::uint32_t> changed;
        const bool full = sent_to_ != fleet.get();
        if (full) sent_.assign(n, -1);
        for (std::uint32_t i = 0; i < n; ++i) {
            const health::Verdict v = in.verdicts[i];
            const std::int8_t now = v == health::Verdict::Up     ? 1
                                    : v == health::Verdict::Down ? 0
                                                                 : -1;
            if (now == 1) ++up;
            if (now == 0) ++down;
            if (now != sent_[i]) {
                sent_[i] = now;
                changed.push_back(i);
            }
        }
        if (full) {
            sent_to_ = fleet.get();
            fleet->set_votes(votes_locked());
        } else if (!changed.empty()) {
            fleet->update_votes([&](cluster::VoteEdit& votes) {
                for (const std::uint32_t i : changed) {
                    if (sent_[i] < 0)
                        votes.erase(layout.keys[i]);
                    else
                        votes.set(layout.keys[i], sent_[i] == 1);
                }
            });
        }
    }
    votes_up_ = up;
    votes_down_ = down;

    // the fleet's verdicts in: only the shards of its table that changed since last time
    if (view->targets != seen_table_) {
        for (std::size_t s = 0; s < cluster::TargetTable::kShards; ++s) {
            if (seen_table_ != nullptr && seen_table_->shard(s) == view->targets->shard(s))
                continue;
            for (const std::uint32_t i : shard_targets_[s]) {
                const cluster::TargetView* tv = view->targets->find(layout.keys[i]);
                fleet_v_[i] = tv == nullptr ? cluster::FleetVerdict::NoQuorum : tv->verdict;
            }
        }
        seen_table_ = view->targets;
    }

    // Not connected yet but no failure either (start-up: the fleet is read, the lease or the
    // watch still on their way) counts as in the fleet: the first answers are the fleet's.
    const bool use_fleet =
        view->synced && (view->connected || view->last_error.empty() || passive_);
    if (use_fleet == degraded_) {
        degraded_ = !use_fleet;
        if (degraded_)
            util::log_warn("fleet: degraded: answering from this node's own verdicts ({})",
                           view->last_error.empty() ? "not synced with etcd" : view->last_error);
        else
            util::log_info("fleet: answering from the fleet's verdicts (rule {})", rule_);
    }
    targets_fleet_ = targets_own_ = 0;
    if (!use_fleet || own == nullptr) {
        for (const auto& list : layout.backend_targets) targets_own_ += list.size();
        return own;
    }
    auto h = std::make_shared<gslb::Health>(*own);
    h->up.resize(topo.backend_count, 1);
    for (std::size_t id = 0; id < layout.backend_targets.size() && id < h->up.size(); ++id) {
        const auto& list = layout.backend_targets[id];
        if (list.empty()) continue;
        bool all_up = true;
        bool own_fallback = false;
        for (const std::uint32_t ti : list) {
            const auto fv = fleet_v_[ti];
            if (fv == cluster::FleetVerdict::Up) {
                ++targets_fleet_;
            } else if (fv == cluster::FleetVerdict::Down) {
                ++targets_fleet_;
                all_up = false;
            } else {
                ++targets_own_;
                if (in.verdicts[ti] == health::Verdict::Down)
                    all_up = false;
                else if (in.verdicts[ti] == health::Verdict::Unknown)
                    own_fallback = true;
            }
        }
        // a target nobody decided yet: this node's own published bit (start state) decides
        if (own_fallback && all_up) continue;
        h->up[id] = all_up ? 1 : 0;
    }
    return h;
}

std::unique_ptr<FleetLink> start_fleet(const config::Config& cfg, health::Monitor& monitor,
                                       Control& control, const std::string& version) {
    auto link = std::make_unique<FleetLink>(cfg, monitor, version);
    link->attach(control);
    link->start();
    const auto wait = std::min<std::chrono::milliseconds>(cfg.cluster.timeout * 2,
                                                          std::chrono::milliseconds{5000});
    util::log_info("fleet: node {} ({}), etcd {}, quorum {}", cfg.cluster.node,
                   cfg.cluster.passive ? "passive" : "probe",
                   fmt::join(cfg.cluster.endpoints, ", "), cfg.cluster.quorum);
    const bool synced = link->wait_synced(wait);
    link->sync_overrides();  // the fleet's overrides are in force from the first answer on
    if (synced)
        util::log_info("fleet: state read ({} members); starting on the fleet's verdicts",
                       link->agent()->view()->members.size());
    else
        util::log_warn(
            "fleet: etcd not reached within {} ms; starting on this node's own "
            "verdicts (the fleet joins when etcd answers)",
            wait.count());
    return link;
}

nlohmann::json FleetLink::to_json() const {
    const FleetStatus s = status();
    const cluster::View& v = *s.view;
    std::uint64_t generation = 0;
    {
        std::lock_guard lk(mu_);
        generation = generation_;
    }
    nlohmann::json members = nlohmann::json::array();
    std::size_t divergent = 0;
    for (const auto& [name, m] : v.members) {
        const bool differs = m.info.config_digest != s.config_digest;
        divergent += differs ? 1 : 0;
        members.push_back({{"name", name},
                           {"role", std::string(cluster::to_string(m.info.role))},
                           {"labels", m.info.labels},
                           {"version", m.info.version},
                           {"config_digest", m.info.config_digest},
                           {"config_divergent", differs},
                           {"generation", m.info.generation},
                           {"self", name == s.node}});
    }
    const auto& c = v.counters;
    return {{"node", s.node},
            {"role", std::string(cluster::to_string(s.role))},
            {"quorum", s.rule},
            {"config_digest", s.config_digest},
            {"generation", generation},
            {"connected", v.connected},
            {"synced", v.synced},
            {"degraded", s.degraded},
            {"last_error", v.last_error},
            {"revision", v.revision},
            {"members", members},
            {"divergent_configs", divergent},
            {"votes", {{"up", s.votes_up}, {"down", s.votes_down}}},
            {"targets", v.targets->size()},
            {"counters",
             {{"etcd_errors", c.etcd_errors},
              {"resyncs", c.resyncs},
              {"watch_events", c.watch_events},
              {"txns", c.txns},
              {"votes_written", c.votes_written},
              {"lease_grants", c.lease_grants}}}};
}

nlohmann::json FleetLink::explain_backend(std::uint32_t backend_id) const {
    const health::FleetInputs in = monitor_.fleet_inputs();
    nlohmann::json out = nlohmann::json::array();
    if (backend_id >= in.layout->backend_targets.size()) return out;
    const auto fleet = agent();
    const auto view = fleet->view();
    std::string rule;
    {
        std::lock_guard lk(mu_);
        rule = rule_;
    }
    for (const std::uint32_t ti : in.layout->backend_targets[backend_id]) {
        const std::string& key = in.layout->keys[ti];
        nlohmann::json up = nlohmann::json::array(), down = nlohmann::json::array(),
                       stale = nlohmann::json::array();
        for (const auto& vote : fleet->votes(key))
            (!vote.fresh ? stale : vote.up ? up : down).push_back(vote.node);
        const auto tv = view->target(key);
        const bool by_fleet = tv.verdict != cluster::FleetVerdict::NoQuorum && view->synced &&
                              (view->connected || view->last_error.empty() || passive_);
        out.push_back({{"target", key},
                       {"own", std::string(health::to_string(in.verdicts[ti]))},
                       {"votes", {{"up", up}, {"down", down}, {"stale", stale}}},
                       {"fleet", std::string(cluster::to_string(tv.verdict))},
                       {"rule", rule},
                       {"decided_by", by_fleet ? "fleet" : "own"}});
    }
    return out;
}

FleetStatus FleetLink::status() const {
    FleetStatus s;
    const auto fleet = agent();
    s.node = fleet->options().self.name;
    s.role = fleet->options().self.role;
    s.view = fleet->view();
    std::lock_guard lk(mu_);
    s.rule = rule_;
    s.degraded = degraded_;
    s.targets_fleet = targets_fleet_;
    s.targets_own = targets_own_;
    s.votes_up = votes_up_;
    s.votes_down = votes_down_;
    s.config_digest = digest_;
    return s;
}

}  // namespace gslbd::ctl
