#include "daemon.hh"

#include <linux/capability.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <vector>

#include "config/model.hh"
#include "ctl/api.hh"
#include "ctl/control.hh"
#include "ctl/fleet.hh"
#include "ctl/watch.hh"
#include "discovery/discovery.hh"
#include "edge/dynblock.hh"
#include "gslb/publish.hh"
#include "gslb/snapshot.hh"
#include "health/monitor.hh"
#include "io/backends.hh"
#include "util/privileges.hh"
#include "xfr/secondary.hh"

namespace gslbd::app {

namespace {

using Backends = std::vector<std::unique_ptr<io::Backend>>;

void log_topology(const gslb::Topology& t, std::uint64_t generation) {
    for (const auto& z : t.config->zones)
        util::log_info("zone {}: {} records (from {})", z.name, z.records.size(), z.policy_file);
    util::log_info("generation {}: {} zones, {} records, {} backends", generation, t.zones.size(),
                   t.records.size(), t.backend_count);
}

void set_log_level(const Options& opts, const config::Config& cfg) {
    util::LogLevel level = util::LogLevel::info;
    if (opts.log_level) {
        level = *opts.log_level;
    } else if (!util::parse_log_level(cfg.log_level, level)) {
        util::log_warn("unknown log_level '{}', using info", cfg.log_level);
    }
    util::set_log_level(level);
}

health::Options health_options(const config::Config& cfg) {
    health::Options h;
    h.assume_healthy_at_start = cfg.health_assume_healthy;
    h.default_rise = cfg.health_rise;
    h.default_fall = cfg.health_fall;
    h.source_v4 = cfg.probe_source_v4;
    h.source_v6 = cfg.probe_source_v6;
    return h;
}

/// Blocks the signals we handle; called before any thread exists so every thread inherits
/// the mask and only wait_for_stop()'s sigwait() sees them.
sigset_t block_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    signal(SIGPIPE, SIG_IGN);
    return set;
}

/// Reloads on SIGHUP; returns on SIGTERM or SIGINT.
void wait_for_stop(const sigset_t& set, ctl::Control& control, const std::string& path) {
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig != SIGHUP) {
            util::log_info("signal {}: shutting down", sig);
            return;
        }
        util::log_info("SIGHUP: reloading {}", path);
        control.reload("SIGHUP");
    }
}

/// The control API, or nullptr when its default address is taken. /metrics reads every
/// backend's counters at scrape time, without locks.
std::unique_ptr<ctl::ApiServer> make_api(ctl::Control& control, const config::Config& cfg,
                                         const Backends& backends) {
    auto stats = [&backends] {
        ctl::DataPlaneStats s;
        for (const auto& b : backends) b->collect(s);
        return s;
    };
    try {
        auto api = std::make_unique<ctl::ApiServer>(control, cfg.api, stats, GSLBD_VERSION);
        util::log_info("control API: {}", api->url());
        return api;
    } catch (const ctl::BindError& e) {
        // The default address is a convenience: a second daemon on this machine must
        // still start when the first one holds it. An explicit api.listen must work.
        if (cfg.api.listen_explicit) throw;
        util::log_warn("{}: the control API is off", e.what());
        return nullptr;
    }
}

}  // namespace

int check_config(const std::string& path) {
    try {
        auto topo = ctl::load_topology(path);
        // Health checks are validated too (unsupported types, ICMP privilege).
        health::Monitor probe_check({}, [](auto, auto) {});
        probe_check.set_topology(topo);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
    std::printf("%s: OK\n", path.c_str());
    return 0;
}

int run(const Options& opts) {
    const sigset_t signals = block_signals();

    gslb::SnapshotHolder holder;
    // Publishes health verdicts with the operator's overrides, reloads, serves the API.
    std::unique_ptr<ctl::Control> control;
    std::unique_ptr<health::Monitor> monitor;
    std::unique_ptr<ctl::FleetLink> fleet;  // with a `cluster:` block (docs/fleet.md)
    Backends backends;
    std::unique_ptr<ctl::ApiServer> api;
    std::unique_ptr<ctl::ConfigWatcher> watcher;
    std::unique_ptr<discovery::Discoverer> discoverer;  // records with `discovery:`
    std::unique_ptr<xfr::Secondary> secondary;          // zones with `primaries:`
    try {
        auto topo = ctl::load_topology(opts.config_path);
        const config::Config& cfg = *topo->config;
        set_log_level(opts, cfg);
        log_topology(*topo, 1);
        control = std::make_unique<ctl::Control>(opts.config_path, holder, cfg.api.state_file);
        monitor = std::make_unique<health::Monitor>(
            health_options(cfg),
            [c = control.get()](auto t, auto h) { c->publish(std::move(t), std::move(h)); });
        control->attach(*monitor);
        if (cfg.cluster.enabled) fleet = ctl::start_fleet(cfg, *monitor, *control, GSLBD_VERSION);
        discoverer = std::make_unique<discovery::Discoverer>(
            [c = control.get()](const std::string& record, auto backends) {
                c->set_discovered(record, std::move(backends));
            });
        discoverer->set_sources(cfg);
        control->set_discoverer(discoverer.get());  // its status in the API and /metrics
        // Secondary zones: their disk copies are served from the first generation on.
        secondary = std::make_unique<xfr::Secondary>(
            [c = control.get()](const std::string& zone, zone::Transferred data) {
                return c->install_secondary(zone, std::move(data));
            });
        if (auto sec = secondary->set_config(cfg); !sec->empty())
            topo = gslb::build_topology(topo->config, topo->geo, sec);
        control->set_secondary(secondary.get());
        control->set_config_hook([d = discoverer.get(), s = secondary.get()](const auto& c) {
            d->set_sources(c);
            s->set_config(c);
        });
        topo = control->prepare(topo);  // pools set through the API (state file)
        control->publish(topo, monitor->set_topology(topo));  // generation 1
        backends = io::make_backends(holder, cfg);  // the config's `io` picks the UDP backend
        for (const auto& b : backends) util::log_info("{}", b->describe());
        if (cfg.api.enabled) api = make_api(*control, cfg, backends);
        if (cfg.api.watch) watcher = std::make_unique<ctl::ConfigWatcher>(*control);
        // Everything privileged is done (sockets bound, EAL up): keep only what probes
        // (raw ICMP sockets) and a reload's new listeners need.
        if (!cfg.edge.user.empty()) {
            util::drop_privileges(cfg.edge.user, cfg.edge.group,
                                  {CAP_NET_BIND_SERVICE, CAP_NET_RAW});
            util::log_info("running as user {} (uid {}), capabilities: net_bind_service, net_raw",
                           cfg.edge.user, ::getuid());
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "gslbd: %s\n", e.what());
        return 1;
    }
    if (!fleet || !fleet->passive()) monitor->start();  // a passive node never probes
    for (const auto& b : backends) b->start();
    if (api) api->start();
    if (watcher) watcher->start();
    discoverer->start();
    secondary->start();
    // logs each dynamic block when it starts and ends, and what RRL's log-only mode counts
    auto block_log = std::make_unique<edge::BlockWatch>([&backends] {
        ctl::DataPlaneStats s;
        for (const auto& b : backends) b->collect(s);
        return s.edge.rrl_would_limit;
    });
    util::log_info("gslbd ready");

    wait_for_stop(signals, *control, opts.config_path);
    watcher.reset();
    discoverer->stop();
    secondary->stop();
    if (api) api->stop();      // before the backends whose counters it reads go away
    if (fleet) fleet->stop();  // revokes the lease: this node's votes vanish at once
    monitor->stop();
    block_log.reset();  // before the backends it reads
    for (const auto& b : backends) b->stop();
    for (const auto& b : backends) util::log_info("{}", b->summary());
    while (!backends.empty()) backends.pop_back();  // last made, first gone (DPDK: the EAL)
    return 0;
}

}  // namespace gslbd::app
