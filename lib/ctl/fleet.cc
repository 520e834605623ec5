#include "ctl/fleet.hh"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

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
      fleet_(fleet_options(cfg, version), nullptr),
      passive_(cfg.cluster.passive),
      rule_(cfg.cluster.quorum),
      version_(std::move(version)),
      fleet_overrides_(cfg.cluster.override_fleet) {
    digest_ = fleet_.options().self.config_digest;
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
    const auto view = fleet_.view();
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
    for (const auto& [id, doc] : *view->overrides) {
        if (pending.count(id)) continue;
        if (auto o = parse_override(id, doc))
            store.set(o->first, o->second);
        else
            util::log_warn("fleet: ignoring unreadable override '{}': {}", id, doc);
    }
    for (const auto& [id, doc] : pending)
        if (doc)
            if (auto o = parse_override(id, *doc)) store.set(o->first, o->second);
    control_->adopt_admin(store);
}

void FleetLink::attach(Control& control) {
    control_ = &control;
    control.set_fleet(this);
    if (fleet_overrides_) {
        control.set_admin_sink([this](const BackendKey& key, const Override& o) {
            const std::string id = override_id(key);
            std::optional<std::string> doc;
            if (!o.empty()) doc = override_doc(o);
            {
                std::lock_guard lk(mu_);
                pending_overrides_[id] = doc;
            }
            fleet_.set_override(id, std::move(doc));
        });
    }
    control.set_health_filter(
        [this](const gslb::Topology& t, const std::shared_ptr<const gslb::Health>& own) {
            return filter(t, own);
        });
}

void FleetLink::start() {
    if (passive_) {
        monitor_.set_probe_filter([](const std::string&) { return false; });
    } else if (const unsigned k = fleet_.options().probes_per_target; k > 0) {
        // rendezvous over the live probing members; without etcd (degraded: own verdicts
        // decide) and until this node is a member, it probes everything
        monitor_.set_probe_filter([this, k](const std::string& key) {
            const auto v = fleet_.view();
            return !v->connected || v->assigned(key, k);
        });
    }
    // The fleet agent tells us when its view changed; Control re-runs the filter then (and
    // publishes only when the answers change).
    fleet_.set_on_change([this] {
        if (control_ == nullptr) return;
        sync_overrides();
        control_->republish();
    });
    fleet_.start();
    if (!passive_) {
        tick_stop_ = false;
        tick_ = std::thread([this] {
            std::uint64_t seen = monitor_.vote_epoch();
            std::unique_lock lk(tick_mu_);
            while (!tick_cv_.wait_for(lk, std::chrono::milliseconds{100},
                                      [&] { return tick_stop_; })) {
                const std::uint64_t now = monitor_.vote_epoch();
                if (now == seen || control_ == nullptr) continue;
                seen = now;
                lk.unlock();
                control_->republish();  // runs the filter: sends the votes, publishes if needed
                lk.lock();
            }
        });
    }
}

bool FleetLink::wait_synced(std::chrono::milliseconds timeout) const {
    return fleet_.wait_synced(timeout);
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
    fleet_.set_on_change(nullptr);
    fleet_.stop();
}

std::shared_ptr<const gslb::Health> FleetLink::filter(
    const gslb::Topology& topo, const std::shared_ptr<const gslb::Health>& own) {
    const health::FleetInputs in = monitor_.fleet_inputs();
    const auto view = fleet_.view();
    std::lock_guard lk(mu_);
    if (&topo != last_topo_) {
        last_topo_ = &topo;
        digest_ = config_digest(*topo.config);
        cluster::NodeInfo info = fleet_.options().self;
        info.config_digest = digest_;
        fleet_.set_info(std::move(info));
    }
    // own votes out (only real rounds; only when they changed)
    std::size_t up = 0, down = 0;
    if (!passive_) {
        std::unordered_map<std::string, bool> votes;
        votes.reserve(in.targets.size());
        for (const auto& t : in.targets) {
            if (t.verdict == health::Verdict::Unknown) continue;
            const bool is_up = t.verdict == health::Verdict::Up;
            votes.emplace(t.key, is_up);
            ++(is_up ? up : down);
        }
        if (votes != sent_votes_) {
            sent_votes_ = votes;
            fleet_.set_votes(std::move(votes));
        }
    }
    votes_up_ = up;
    votes_down_ = down;

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
        for (const auto& list : in.backend_targets) targets_own_ += list.size();
        return own;
    }
    auto h = std::make_shared<gslb::Health>(*own);
    h->up.resize(topo.backend_count, 1);
    for (std::size_t id = 0; id < in.backend_targets.size() && id < h->up.size(); ++id) {
        const auto& list = in.backend_targets[id];
        if (list.empty()) continue;
        bool all_up = true;
        bool own_fallback = false;
        for (const std::uint32_t ti : list) {
            const auto& t = in.targets[ti];
            const auto fv = view->target(t.key).verdict;
            if (fv == cluster::FleetVerdict::Up) {
                ++targets_fleet_;
            } else if (fv == cluster::FleetVerdict::Down) {
                ++targets_fleet_;
                all_up = false;
            } else {
                ++targets_own_;
                if (t.verdict == health::Verdict::Down)
                    all_up = false;
                else if (t.verdict == health::Verdict::Unknown)
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
                       link->fleet().view()->members.size());
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
                           {"self", name == s.node}});
    }
    const auto& c = v.counters;
    return {{"node", s.node},
            {"role", std::string(cluster::to_string(s.role))},
            {"quorum", s.rule},
            {"config_digest", s.config_digest},
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
    if (backend_id >= in.backend_targets.size()) return out;
    const auto view = fleet_.view();
    for (const std::uint32_t ti : in.backend_targets[backend_id]) {
        const auto& t = in.targets[ti];
        nlohmann::json up = nlohmann::json::array(), down = nlohmann::json::array(),
                       stale = nlohmann::json::array();
        for (const auto& vote : fleet_.votes(t.key))
            (!vote.fresh ? stale : vote.up ? up : down).push_back(vote.node);
        const auto tv = view->target(t.key);
        const bool by_fleet = tv.verdict != cluster::FleetVerdict::NoQuorum && view->synced &&
                              (view->connected || view->last_error.empty() || passive_);
        out.push_back({{"target", t.key},
                       {"own", std::string(health::to_string(t.verdict))},
                       {"votes", {{"up", up}, {"down", down}, {"stale", stale}}},
                       {"fleet", std::string(cluster::to_string(tv.verdict))},
                       {"rule", rule_},
                       {"decided_by", by_fleet ? "fleet" : "own"}});
    }
    return out;
}

FleetStatus FleetLink::status() const {
    FleetStatus s;
    s.node = fleet_.options().self.name;
    s.role = fleet_.options().self.role;
    s.rule = rule_;
    s.view = fleet_.view();
    std::lock_guard lk(mu_);
    s.degraded = degraded_;
    s.targets_fleet = targets_fleet_;
    s.targets_own = targets_own_;
    s.votes_up = votes_up_;
    s.votes_down = votes_down_;
    s.config_digest = digest_;
    return s;
}

}  // namespace gslbd::ctl
