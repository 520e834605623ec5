#include "daemon.hh"

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <exception>
#include <memory>

#include "config/model.hh"
#include "geo/geo.hh"
#include "gslb/publish.hh"
#include "gslb/snapshot.hh"
#include "io/socket/sockaddr.hh"
#include "io/socket/tcp.hh"
#include "io/socket/udp.hh"

namespace gslbd::app {

namespace {

/// Config file -> topology, everything the control side builds before a publish.
std::shared_ptr<const gslb::Topology> load_topology(const std::string& path) {
    auto cfg = std::make_shared<const config::Config>(config::load_config(path));
    auto geo = geo::load_geo(*cfg);
    return gslb::build_topology(cfg, std::move(geo));
}

std::unique_ptr<const gslb::Snapshot> make_snapshot(std::uint64_t generation,
                                                    std::shared_ptr<const gslb::Topology> topo) {
    auto health = gslb::all_up(*topo);
    return std::make_unique<const gslb::Snapshot>(
        gslb::Snapshot{generation, std::move(topo), std::move(health)});
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
        old_cfg.tcp_max_connections != cfg.tcp_max_connections)
        util::log_warn(
            "reload: listeners, workers and tcp settings changed; they take effect "
            "only after a restart");
}

void reload(const std::string& path, gslb::SnapshotHolder& holder) {
    const gslb::Snapshot* cur = holder.current_for_writer();
    try {
        auto topo = load_topology(path);
        warn_static_changes(*cur->topo->config, *topo->config);
        const std::uint64_t gen = cur->generation + 1;
        log_topology(*topo, gen);
        holder.publish(make_snapshot(gen, std::move(topo)));
        util::log_info("reload: serving generation {}", gen);
    } catch (const std::exception& e) {
        util::log_error("reload failed, still serving generation {}: {}", cur->generation,
                        e.what());
    }
}

}  // namespace

int check_config(const std::string& path) {
    try {
        load_topology(path);
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
    std::unique_ptr<io::UdpServer> udp;
    std::unique_ptr<io::TcpServer> tcp;
    try {
        auto topo = load_topology(opts.config_path);
        const config::Config& cfg = *topo->config;
        util::LogLevel level = util::LogLevel::info;
        if (opts.log_level) {
            level = *opts.log_level;
        } else if (!util::parse_log_level(cfg.log_level, level)) {
            util::log_warn("unknown log_level '{}', using info", cfg.log_level);
        }
        util::set_log_level(level);
        log_topology(*topo, 1);
        holder.publish(make_snapshot(1, topo));
        udp = std::make_unique<io::UdpServer>(holder, cfg.udp, cfg.workers);
        tcp = std::make_unique<io::TcpServer>(
            holder, cfg.tcp, io::TcpOptions{cfg.tcp_idle_timeout, cfg.tcp_max_connections});
        util::log_info("listening: UDP {} ({} workers), TCP {}", listeners_text(cfg.udp),
                       udp->workers(), listeners_text(cfg.tcp));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "gslbd: %s\n", e.what());
        return 1;
    }
    udp->start();
    tcp->start();
    util::log_info("gslbd ready");

    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGHUP) {
            util::log_info("SIGHUP: reloading {}", opts.config_path);
            reload(opts.config_path, holder);
            continue;
        }
        util::log_info("signal {}: shutting down", sig);
        break;
    }
    udp->stop();
    tcp->stop();
    const auto us = udp->stats();
    const auto ts = tcp->stats();
    util::log_info(
        "UDP: {} received, {} sent, {} send errors; TCP: {} connections, {} rejected, "
        "{} timed out, {} queries",
        us.rx_packets, us.tx_packets, us.tx_errors, ts.accepted, ts.rejected, ts.timed_out,
        ts.dns.queries);
    return 0;
}

}  // namespace gslbd::app
