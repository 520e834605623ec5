// Where the control side's memory goes at N records (issue 20): loads a generated zone of N
// failover records x 3 backends (the same file as scale.py) step by step, as gslbd does, and
// prints the bytes each step keeps (glibc's in-use bytes, mallinfo2) per record and per
// backend, with the structure sizes behind them.
//
//   footprint N        (a temporary zone of N records)
//   footprint -c FILE  (a main config of your own)
//
// In-use bytes are what the structures hold, malloc's own overhead per chunk included; RSS
// adds what the allocator keeps free (fragmentation) and the process's code and stacks.
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/model.hh"
#include "config/yaml_doc.hh"
#include "ctl/control.hh"
#include "geo/geo.hh"
#include "gslb/snapshot.hh"
#include "health/gradual.hh"
#include "health/monitor.hh"
#include "util/log.hh"

using namespace gslbd;

namespace {

std::size_t in_use() {
    const struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

double rss_mb() {
    std::ifstream f("/proc/self/statm");
    std::size_t pages = 0, resident = 0;
    f >> pages >> resident;
    return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1048576.0;
}

/// `changed`: the file scale.py's reload writes (record n/2's third backend moved to .99).
void write_zone(const std::string& path, std::size_t n, bool changed = false) {
    std::ofstream f(path);
    f << "defaults:\n  record_ttl: 30\nrecords:\n";
    for (std::size_t i = 0; i < n; ++i) {
        f << "  r" << i << ".scale.test.:\n    mode: failover\n    backends:\n";
        for (std::size_t j = 0; j < 3; ++j)
            f << "      - address: \"192.0.2."
              << (changed && i == n / 2 && j == 2 ? 99 : (i * 3 + j) % 200 + 10)
              << "\"\n        priority: " << j + 1 << "\n";
    }
}

void write_main(const std::string& path, const std::string& zone) {
    std::ofstream f(path);
    f << "listen: [127.0.0.1:5353]\nworkers: 1\nlog_level: warning\ncache: {entries: 1024}\n"
         "api: {listen: off}\nzones:\n  - name: scale.test.\n    policy: "
      << zone
      << "\n    soa: {mname: ns1.scale.test., rname: h.scale.test., serial: 1, refresh: 3600, "
         "retry: 600, expire: 604800, minimum: 60, ttl: 3600}\n    ns:\n      - name: "
         "ns1.scale.test.\n        addresses: [127.0.0.1]\n";
}

double cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Row {
    const char* what;
    double bytes;
};

}  // namespace

int main(int argc, char** argv) {
    std::string main_file;
    std::filesystem::path dir;
    std::size_t n = 0;
    if (argc == 3 && std::string(argv[1]) == "-c") {
        main_file = argv[2];
    } else if (argc == 2) {
        n = std::strtoul(argv[1], nullptr, 10);
        char tmpl[] = "/tmp/gslbd-footprint-XXXXXX";
        if (mkdtemp(tmpl) == nullptr) return 1;
        dir = tmpl;
        write_zone(dir / "zone.yml", n);
        main_file = dir / "main.yml";
        write_main(main_file, dir / "zone.yml");
    } else {
        std::fprintf(stderr, "usage: footprint N | footprint -c MAIN.yml\n");
        return 2;
    }
    util::set_log_level(util::LogLevel::warn);
    mallopt(M_MMAP_THRESHOLD, 1 << 30);  // large arrays in the counts too, not beside them

    const std::size_t base = in_use();
    auto cfg = std::make_shared<const config::Config>(config::load_config(main_file));
    const std::size_t after_config = in_use();
    std::size_t records = 0, backends = 0, zone_bytes = 0, doc_bytes = 0;
    for (const auto& z : cfg->zones) {
        records += z.records.size();
        for (const auto& r : z.records) backends += r.backends.size();
        if (z.policy_file.empty()) continue;
        std::ifstream f(z.policy_file, std::ios::binary);
        const std::string text((std::istreambuf_iterator<char>(f)), {});
        zone_bytes += text.size();
        doc_bytes += config::yaml::Document::parse(text).bytes();
    }
    const std::size_t before_geo = in_use();
    auto geo = geo::load_geo(*cfg);
    const std::size_t after_geo = in_use();
    auto topo = gslb::build_topology(cfg, geo);
    const std::size_t after_topo = in_use();
    std::size_t rec_vec = topo->records.capacity() * sizeof(gslb::RecordRt), be_vec = 0;
    for (const auto& r : topo->records) {
        be_vec += (r.v4.size() + r.v6.size()) * sizeof(gslb::BackendRt);
    }
    const std::size_t answers = topo->answers->backends() * topo->answers->stripes() * 8;
    auto monitor = std::make_unique<health::Monitor>(health::Options{}, [](auto, auto) {});
    const std::size_t before_health = in_use();
    auto health = monitor->set_topology(topo);
    const std::size_t after_health = in_use();
    // the gradual tracker as ctl::Control runs it over every Health it publishes (the copy
    // of the verdicts it works on not counted)
    gslb::Health published = *health;
    const std::size_t before_gradual = in_use();
    auto tracker = std::make_unique<health::GradualTracker>();
    tracker->apply(topo, published, health::steady_seconds());
    const std::size_t after_gradual = in_use();

    // a reload with one record changed (the file of scale.py's reload; a generated zone
    // only): what the new config and topology add beside the ones in force, as in gslbd
    double reload_cfg = -1, reload_topo = -1;
    bool reload_names_shared = false;
    std::uint32_t reload_records_shared = 0;
    if (!dir.empty()) {
        write_zone(dir / "zone.yml", n, true);
        const std::size_t r0 = in_use();
        auto cfg1 =
            std::make_shared<const config::Config>(config::load_config(main_file, cfg.get()));
        const std::size_t r1 = in_use();
        auto topo1 = gslb::build_topology(cfg1, geo, nullptr, topo.get());
        const std::size_t r2 = in_use();
        reload_cfg = static_cast<double>(r1 - r0);
        reload_topo = static_cast<double>(r2 - r1);
        reload_names_shared = topo1->names_shared;
        reload_records_shared = topo1->records_shared;
        write_zone(dir / "zone.yml", n);
    }

    // a reload of the same file (nothing changed: every record shared with the first load):
    // the health side's CPU time for the new topology (monitor carry-over + tracker remap)
    auto cfg2 = std::make_shared<const config::Config>(config::load_config(main_file, cfg.get()));
    auto topo2 = gslb::build_topology(cfg2, geo, nullptr, topo.get());
    const double cpu0 = cpu_seconds();
    auto health2 = monitor->set_topology(topo2);
    gslb::Health published2 = *health2;
    tracker->apply(topo2, published2, health::steady_seconds());
    const double health_reload_s = cpu_seconds() - cpu0;

    const double nr = static_cast<double>(records), nb = static_cast<double>(backends);
    std::printf("records %zu, backends %zu, zone file %zu bytes; RSS now %.1f MB\n", records,
                backends, zone_bytes, rss_mb());
    std::printf(
        "sizeof: config::Record %zu, config::Backend %zu, gslb::RecordRt %zu, "
        "gslb::BackendRt %zu, config::SourcePos %zu\n",
        sizeof(config::Record), sizeof(config::Backend), sizeof(gslb::RecordRt),
        sizeof(gslb::BackendRt), sizeof(config::SourcePos));
    const Row rows[] = {
        {"YAML text + document while a file loads (freed after)",
         static_cast<double>(zone_bytes + doc_bytes)},
        {"config model (config::Config, kept by the topology)",
         static_cast<double>(after_config - base)},
        {"geo databases", static_cast<double>(after_geo - before_geo)},
        {"topology total (gslb::build_topology)", static_cast<double>(after_topo - after_geo)},
        {"  RecordRt array", static_cast<double>(rec_vec)},
        {"  BackendRt arrays", static_cast<double>(be_vec)},
        {"  answer counters (backends x stripes x 8)", static_cast<double>(answers)},
        {"  name index + zone maps + rest", static_cast<double>(after_topo - after_geo) -
                                                static_cast<double>(rec_vec + be_vec + answers)},
        {"health registry (health::Monitor::set_topology)",
         static_cast<double>(after_health - before_health)},
        {"gradual tracker (health::GradualTracker::apply, no record uses a rule)",
         static_cast<double>(after_gradual - before_gradual)},
        {"total kept (config + geo + topology + health + tracker)",
         static_cast<double>(after_config - base + after_geo - before_geo + after_topo - after_geo +
                             after_health - before_health + after_gradual - before_gradual)},
    };
    std::printf("| structure | MB | bytes/record | bytes/backend |\n| --- | --- | --- | --- |\n");
    for (const auto& r : rows)
        std::printf("| %s | %.1f | %.0f | %.0f |\n", r.what, r.bytes / 1048576.0, r.bytes / nr,
                    r.bytes / nb);
    if (reload_topo >= 0) {
        std::printf(
            "reload with one record changed, built beside the generation in force (as gslbd "
            "does; the health registry's %.1f MB not included):\n",
            static_cast<double>(after_health - before_health) / 1048576.0);
        std::printf("| new config (records shared with the old one) | %.1f | %.0f | %.0f |\n",
                    reload_cfg / 1048576.0, reload_cfg / nr, reload_cfg / nb);
        std::printf(
            "| new topology (%u records kept their backends; names shared: %s) | %.1f | %.0f | "
            "%.0f |\n",
            reload_records_shared, reload_names_shared ? "yes" : "no", reload_topo / 1048576.0,
            reload_topo / nr, reload_topo / nb);
    }
    std::printf(
        "health side of a reload with nothing changed (Monitor::set_topology + "
        "GradualTracker::apply on the new topology): %.3f s CPU\n",
        health_reload_s);
    if (!dir.empty()) std::filesystem::remove_all(dir);
    return records > 0 ? 0 : 1;
}
