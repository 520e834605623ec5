#include "daemon.hh"

#include <pthread.h>
#include <signal.h>

#include <array>
#include <cstdio>
#include <exception>
#include <memory>
#include <stdexcept>
#include <mutex>

#include "config/model.hh"
#include "ctl/api.hh"
#include "ctl/control.hh"
#include "ctl/watch.hh"
#include "geo/geo.hh"
#include "gslb/publish.hh"
#include "gslb/snapshot.hh"
#include "health/monitor.hh"
#include "io/socket/sockaddr.hh"
#include "io/socket/tcp.hh"
#include "io/socket/udp.hh"
#ifdef GSLBD_HAVE_DPDK
#include "io/dpdk/dataplane.hh"
#endif

namespace gslbd::app {

namespace {

/// Config file -> topology, everything the control side builds before a publish.
std::shared_ptr<const gslb::Topology> load_topology(const std::string& path) {
    auto cfg = std::make_shared<const config::Config>(config::load_config(path));
    auto geo = geo::load_geo(*cfg);
    return gslb::build_topology(cfg, std::move(geo));
}

std::string listeners_text(const std::vector<config::Listener>& ls) {
    std::string s;
    for (const auto& l : ls) s += (s.empty() ? "" : ", ") + io::listener_text(l);
    return s.empty() ? "none" : s;
}

void log_topology(const gslb::Topology& t, std::uint64_t generation) {
    for (const auto& z : t.config->zones)
        util::log_info("zone {}: {} records (from {})", z.name, z.records.size(), z.policy_file);
    util::log_info("generation {}: {} zones, {} records, {} backends", generation, t.zones.size(),
                   t.records.size(), t.backend_count);
}

}  // namespace

int check_config(const std::string& path) {
    try {
        auto topo = load_topology(path);
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
    // Block the signals we handle before any thread exists so every thread inherits the
    // mask and only sigwait() below sees them.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    signal(SIGPIPE, SIG_IGN);

    gslb::SnapshotHolder holder;
    // Publishes health verdicts with the operator's overrides, reloads, serves the API.
    std::unique_ptr<ctl::Control> control;
    std::unique_ptr<ctl::ApiServer> api;
    std::unique_ptr<ctl::ConfigWatcher> watcher;
    std::unique_ptr<health::Monitor> monitor;
    std::shared_ptr<const gslb::Topology> topo;
    std::unique_ptr<io::UdpServer> udp;
#ifdef GSLBD_HAVE_DPDK
    std::unique_ptr<io::dpdk::DpdkServer> dpdk;
#endif
    std::unique_ptr<io::TcpServer> tcp;
    try {
        topo = load_topology(opts.config_path);
        const config::Config& cfg = *topo->config;
        util::LogLevel level = util::LogLevel::info;
        if (opts.log_level) {
            level = *opts.log_level;
        } else if (!util::parse_log_level(cfg.log_level, level)) {
            util::log_warn("unknown log_level '{}', using info", cfg.log_level);
        }
        util::set_log_level(level);
        log_topology(*topo, 1);
        health::Options hopts;
        hopts.assume_healthy_at_start = cfg.health_assume_healthy;
        hopts.default_rise = cfg.health_rise;
        hopts.default_fall = cfg.health_fall;
        control = std::make_unique<ctl::Control>(opts.config_path, holder, cfg.api.state_file);
        monitor = std::make_unique<health::Monitor>(
            hopts, [c = control.get()](auto t, auto h) { c->publish(std::move(t), std::move(h)); });
        control->attach(*monitor);
        control->publish(topo, monitor->set_topology(topo));  // generation 1
        if (cfg.io == config::IoMode::Dpdk) {
            // UDP is served by DPDK worker lcores; the ports' exception devices get their
            // kernel addresses here, before the TCP listeners bind to them.
#ifdef GSLBD_HAVE_DPDK
            dpdk = std::make_unique<io::dpdk::DpdkServer>(holder, cfg);
            util::log_info("DPDK: {}", dpdk->describe());
#else
            throw std::runtime_error(cfg.file + ": io: dpdk, but this gslbd was built without "
                                     "DPDK (install libdpdk-dev, meson setup -Ddpdk=enabled)");
#endif
        } else {
            udp = std::make_unique<io::UdpServer>(holder, cfg.udp, cfg.workers);
        }
        tcp = std::make_unique<io::TcpServer>(
            holder, cfg.tcp, io::TcpOptions{cfg.tcp_idle_timeout, cfg.tcp_max_connections});
        if (udp)
            util::log_info("listening: UDP {} ({} workers), TCP {}", listeners_text(cfg.udp),
                           udp->workers(), listeners_text(cfg.tcp));
        else
            util::log_info("listening: UDP through DPDK, TCP {}", listeners_text(cfg.tcp));
        if (cfg.api.enabled) {
            // Read at scrape time, without locks: each backend sums its workers' counters.
            auto stats = [&] {
                ctl::DataPlaneStats s;
                if (udp) {
                    const auto u = udp->stats();
                    s.udp = u.dns;
                    s.udp_rx = u.rx_packets;
                    s.udp_tx = u.tx_packets;
                    s.drops.emplace_back("udp_send_error", u.tx_errors);
                    s.drops.emplace_back("udp_oversize", u.rx_truncated);
                }
#ifdef GSLBD_HAVE_DPDK
                if (dpdk) {
                    unsigned i = 0;
                    std::array<std::uint64_t, io::dpdk::kDropReasons> drops{};
                    for (const auto& w : dpdk->worker_stats()) {
                        io::add_counters(s.udp, w.pipeline);
                        s.udp_rx += w.dns;
                        s.udp_tx += w.dns_replies;
                        for (std::size_t k = 0; k < drops.size(); ++k) drops[k] += w.drops[k];
                        s.workers.push_back({"dpdk", i++, w.rx, true, w.busy_cycles,
                                             w.idle_cycles});
                    }
                    for (std::size_t k = 0; k < drops.size(); ++k)
                        s.drops.emplace_back(
                            std::string("dpdk_") +
                                io::dpdk::drop_reason_name(static_cast<io::dpdk::DropReason>(k)),
                            drops[k]);
                }
#endif
                const auto t = tcp->stats();
                s.tcp = t.dns;
                s.tcp_accepted = t.accepted;
                s.tcp_rejected = t.rejected;
                s.tcp_timed_out = t.timed_out;
                s.tcp_closed = t.closed;
                s.tcp_active = t.active;
                ctl::add_pipeline_totals(s);
                return s;
            };
            try {
                api = std::make_unique<ctl::ApiServer>(*control, cfg.api, stats, GSLBD_VERSION);
                util::log_info("control API: {}", api->url());
            } catch (const ctl::BindError& e) {
                // The default address is a convenience: a second daemon on this machine must
                // still start when the first one holds it. An explicit api.listen must work.
                if (cfg.api.listen_explicit) throw;
                util::log_warn("{}: the control API is off", e.what());
            }
        }
        if (cfg.api.watch) watcher = std::make_unique<ctl::ConfigWatcher>(*control);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "gslbd: %s\n", e.what());
        return 1;
    }
    monitor->start();
    if (udp) udp->start();
#ifdef GSLBD_HAVE_DPDK
    if (dpdk) dpdk->start();
#endif
    tcp->start();
    if (api) api->start();
    if (watcher) watcher->start();
    util::log_info("gslbd ready");

    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGHUP) {
            util::log_info("SIGHUP: reloading {}", opts.config_path);
            control->reload("SIGHUP");
            continue;
        }
        util::log_info("signal {}: shutting down", sig);
        break;
    }
    watcher.reset();
    if (api) api->stop();  // before the servers whose counters it reads go away
    monitor->stop();
    if (udp) udp->stop();
    tcp->stop();
#ifdef GSLBD_HAVE_DPDK
    if (dpdk) {
        dpdk->stop();
        const auto d = dpdk->totals();
        util::log_info("DPDK: {} received, {} sent, {} DNS answered, {} to the kernel, {} from "
                       "the kernel, {} dropped",
                       d.rx, d.tx, d.dns_replies, d.to_kernel, d.from_kernel, d.dropped());
        dpdk.reset();  // closes the ports and releases the EAL
    }
#endif
    const auto us = udp ? udp->stats() : io::UdpStats{};
    const auto ts = tcp->stats();
    util::log_info(
        "UDP: {} received, {} sent, {} send errors; TCP: {} connections, {} rejected, "
        "{} timed out, {} queries",
        us.rx_packets, us.tx_packets, us.tx_errors, ts.accepted, ts.rejected, ts.timed_out,
        ts.dns.queries);
    return 0;
}

}  // namespace gslbd::app
