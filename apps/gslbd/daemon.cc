#include "daemon.hh"

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <stdexcept>
#include <mutex>

#include "config/model.hh"
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

/// Publishes {topology, health} pairs as snapshots with increasing generations. The health
/// monitor calls it from its thread on every verdict change and from set_topology() on
/// (re)load; either way workers see one immutable snapshot and its generation.
class Publisher {
public:
    explicit Publisher(gslb::SnapshotHolder& holder) : holder_(holder) {}
    void operator()(std::shared_ptr<const gslb::Topology> topo,
                    std::shared_ptr<const gslb::Health> health) {
        std::lock_guard lock(mu_);
        holder_.publish(std::make_unique<const gslb::Snapshot>(
            gslb::Snapshot{++generation_, std::move(topo), std::move(health)}));
    }
    std::uint64_t generation() const {
        std::lock_guard lock(mu_);
        return generation_;
    }

private:
    gslb::SnapshotHolder& holder_;
    mutable std::mutex mu_;
    std::uint64_t generation_ = 0;
};

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

// Settings a running daemon cannot change: they are bound to sockets and threads.
void warn_static_changes(const config::Config& old_cfg, const config::Config& cfg) {
    auto same = [](const std::vector<config::Listener>& a, const std::vector<config::Listener>& b) {
        if (a.size() != b.size()) return false;
        for (std::size_t i = 0; i < a.size(); ++i)
            if (!(a[i].addr == b[i].addr) || a[i].port != b[i].port) return false;
        return true;
    };
    if (!same(old_cfg.udp, cfg.udp) || !same(old_cfg.tcp, cfg.tcp) ||
        old_cfg.workers != cfg.workers || old_cfg.tcp_idle_timeout != cfg.tcp_idle_timeout ||
        old_cfg.tcp_max_connections != cfg.tcp_max_connections || old_cfg.io != cfg.io)
        util::log_warn(
            "reload: listeners, workers and tcp settings changed; they take effect "
            "only after a restart");
}

void reload(const std::string& path, const gslb::Topology& current, health::Monitor& monitor,
            const Publisher& pub) {
    try {
        auto topo = load_topology(path);
        warn_static_changes(*current.config, *topo->config);
        log_topology(*topo, pub.generation() + 1);
        // Validates the checks, carries over the state of backends that still exist and
        // publishes the new topology with their verdicts (no fresh "unknown" period).
        monitor.set_topology(std::move(topo));
        util::log_info("reload: serving generation {}", pub.generation());
    } catch (const std::exception& e) {
        util::log_error("reload failed, still serving generation {}: {}", pub.generation(),
                        e.what());
    }
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
    Publisher publisher(holder);
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
        monitor = std::make_unique<health::Monitor>(
            hopts, [&publisher](auto t, auto h) { publisher(std::move(t), std::move(h)); });
        monitor->set_topology(topo);  // publishes generation 1
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
    util::log_info("gslbd ready");

    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGHUP) {
            util::log_info("SIGHUP: reloading {}", opts.config_path);
            reload(opts.config_path, *holder.current_for_writer()->topo, *monitor, publisher);
            continue;
        }
        util::log_info("signal {}: shutting down", sig);
        break;
    }
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
