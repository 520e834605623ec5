// Start-up and shutdown cost of the health path at scale, without sockets or workers:
// generates N records x 3 backends with HTTP checks, then times config load, build_topology,
// Monitor::set_topology, a reload of the same topology, start() and stop().
// Usage: health_start [N]   (prints one JSON object)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <malloc.h>
#include <unistd.h>

#include "config/model.hh"
#include "geo/geo.hh"
#include "gslb/snapshot.hh"
#include "health/monitor.hh"

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// Heap bytes in use (glibc): what the data structures really hold, unlike RSS.
double heap_mb() {
    return static_cast<double>(mallinfo2().uordblks) / 1048576.0;
}

double rss_mb() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace gslbd;
    const int n = argc > 1 ? std::atoi(argv[1]) : 10000;
    const auto dir = std::filesystem::temp_directory_path() /
                     ("gslbd-health-start-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    {
        std::ofstream z(dir / "zone.yml");
        z << "defaults:\n  scrape_interval: 10s\n  scrape_timeout: 2s\nrecords:\n";
        for (int i = 0; i < n; ++i) {
            z << "  r" << i << ".scale.test.:\n    mode: failover\n    backends:\n";
            for (int j = 0; j < 3; ++j) {
                const int k = i * 3 + j;
                z << "      - address: \"127." << 1 + k / 62500 << '.' << (k / 250) % 250 << '.'
                  << k % 250 + 1 << "\"\n        priority: " << j + 1
                  << "\n        healthchecks:\n          - type: http\n"
                     "            params: {port: 8080, uri: /health, timeout: 2s}\n";
            }
        }
        std::ofstream m((dir / "gslbd.yml").string());
        m << "listen:\n  - {address: 127.0.0.1, port: 5353, tcp: false}\nworkers: 1\n"
             "zones:\n  - name: scale.test.\n    policy: zone.yml\n    ns:\n"
             "      - name: ns1.scale.test.\n        addresses: [127.0.0.1]\n";
    }
    auto t = Clock::now();
    auto cfg =
        std::make_shared<const config::Config>(config::load_config((dir / "gslbd.yml").string()));
    const double load_s = since(t);
    const double rss_config = rss_mb();
    const double heap_config = heap_mb();
    t = Clock::now();
    auto topo = gslb::build_topology(cfg, geo::load_geo(*cfg));
    const double topo_s = since(t);
    const double rss_topo = rss_mb();
    const double heap_topo = heap_mb();
    health::Monitor mon({}, [](auto, auto) {});
    t = Clock::now();
    mon.set_topology(topo);
    const double set_s = since(t);
    const double rss_set = rss_mb();
    const double heap_set = heap_mb();
    t = Clock::now();
    mon.set_topology(topo);
    const double reload_s = since(t);
    t = Clock::now();
    mon.start();
    const double start_s = since(t);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    t = Clock::now();
    mon.stop();
    const double stop_s = since(t);
    std::filesystem::remove_all(dir);
    std::printf(
        "{\"records\": %d, \"targets\": %zu, \"load_config_s\": %.3f, \"build_topology_s\": "
        "%.3f, \"set_topology_s\": %.3f, \"reload_s\": %.3f, \"start_s\": %.3f, \"stop_s\": "
        "%.3f, \"rss_mb_config\": %.1f, \"rss_mb_topology\": %.1f, \"rss_mb_monitor\": %.1f, "
        "\"heap_mb_config\": %.1f, \"heap_mb_topology\": %.1f, "
        "\"heap_mb_monitor\": %.1f}\n",
        n, mon.counters().targets, load_s, topo_s, set_s, reload_s, start_s, stop_s, rss_config,
        rss_topo, rss_set, heap_config, heap_topo, heap_set);
    return 0;
}
