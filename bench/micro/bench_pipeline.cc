// Micro benchmarks of the per-packet path: parse, build, and the whole pipeline for
// each selection mode, with and without ECS. Run: build/bench/micro/bench_micro
// (add --benchmark_format=json for machine-readable output).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "config/model.hh"
#include "dns/query.hh"
#include "dns/response.hh"
#include "geo/geo.hh"
#include "gslb/publish.hh"
#include "gslb/snapshot.hh"
#include "pipeline/pipeline.hh"

using namespace gslbd;

namespace {

/// Builds a wire query for `name`/`qtype`, optionally with EDNS and an IPv4 ECS option.
std::vector<std::uint8_t> make_query(const std::string& name, std::uint16_t qtype, bool edns,
                                     const char* ecs_v4 = nullptr, std::uint8_t ecs_len = 24) {
    std::vector<std::uint8_t> q = {
        0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, static_cast<std::uint8_t>(edns ? 1 : 0)};
    std::uint8_t wire[dns::kMaxNameWire];
    std::size_t n = dns::name_from_text(name, wire);
    q.insert(q.end(), wire, wire + n);
    q.insert(q.end(),
             {static_cast<std::uint8_t>(qtype >> 8), static_cast<std::uint8_t>(qtype), 0, 1});
    if (edns) {
        std::vector<std::uint8_t> opt;
        if (ecs_v4 != nullptr) {
            auto a = util::IpAddr::parse(ecs_v4)->masked(ecs_len);
            std::uint8_t alen = static_cast<std::uint8_t>((ecs_len + 7) / 8);
            opt = {0, 8, 0, static_cast<std::uint8_t>(4 + alen), 0, 1, ecs_len, 0};
            opt.insert(opt.end(), a.bytes.begin(), a.bytes.begin() + alen);
        }
        q.insert(q.end(),
                 {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, static_cast<std::uint8_t>(opt.size() >> 8),
                  static_cast<std::uint8_t>(opt.size())});
        q.insert(q.end(), opt.begin(), opt.end());
    }
    return q;
}

struct World {
    gslb::SnapshotHolder holder;
    /// `idle`: health.resolution_idle_timeout set, so every query marks its record
    /// (gslb::QueryMarks): the per-packet cost of idle-record probing.
    explicit World(bool idle = false) {
        const char* root = std::getenv("GSLBD_SOURCE_ROOT");
        std::string base = root ? root : ".";
        config::Config loaded = config::load_config(base + "/examples/gslbd.yml");
        // a static zone beside the GSLB one (issue 21): cache-hit static vs GSLB answers
        config::Zone stat;
        stat.name = "static.example.";
        stat.file = base + "/examples/static.example.zone";
        loaded.zones.push_back(stat);
        if (idle) {
            loaded.idle_timeout = config::Millis(3600000);
            loaded.idle_multiplier = 10;
        }
        auto cfg = std::make_shared<const config::Config>(std::move(loaded));
        auto geo = geo::load_geo(*cfg);
        auto topo = gslb::build_topology(cfg, geo);
        auto snap = std::make_unique<gslb::Snapshot>();
        snap->generation = 1;
        snap->topo = topo;
        snap->health = gslb::all_up(*topo);
        holder.publish(std::move(snap));
    }
};

World& world() {
    static World w;
    return w;
}

World& idle_world() {
    static World w(true);
    return w;
}

void BM_parse_query(benchmark::State& state) {
    auto q = make_query("www.gslb.example.", dns::qtype::A, true, "198.51.100.7");
    dns::Query out;
    for (auto _ : state) {
        auto r = dns::parse_query(q, out);
        benchmark::DoNotOptimize(r);
        benchmark::DoNotOptimize(out.qname_len);
    }
}
BENCHMARK(BM_parse_query);

void pipeline_bench(benchmark::State& state, const char* name, std::uint16_t qtype, bool edns,
                    const char* ecs, bool idle = false) {
    auto& w = idle ? idle_world() : world();
    gslb::RcuThread rcu;
    pipeline::Pipeline p(w.holder, 42);
    auto q = make_query(name, qtype, edns, ecs);
    std::vector<std::uint8_t> out(4096);
    auto src = *util::IpAddr::parse("127.0.0.1");
    for (auto _ : state) {
        auto n = p.handle(q, src, out, false);
        benchmark::DoNotOptimize(n);
        gslb::RcuThread::quiescent();
    }
    state.SetItemsProcessed(state.iterations());
}

void BM_pipeline_failover(benchmark::State& s) {
    pipeline_bench(s, "www.gslb.example.", 1, true, nullptr);
}
void BM_pipeline_roundrobin(benchmark::State& s) {
    pipeline_bench(s, "rr.gslb.example.", 1, true, nullptr);
}
void BM_pipeline_random(benchmark::State& s) {
    pipeline_bench(s, "shuffle.gslb.example.", 1, true, nullptr);
}
void BM_pipeline_weighted(benchmark::State& s) {
    pipeline_bench(s, "weighted.gslb.example.", 1, true, nullptr);
}
void BM_pipeline_geoip_ecs(benchmark::State& s) {
    pipeline_bench(s, "geo.gslb.example.", 1, true, "198.51.100.7");
}
void BM_pipeline_nxdomain(benchmark::State& s) {
    pipeline_bench(s, "nope.gslb.example.", 1, true, nullptr);
}
// static zone answers (lib/zone), through the same cache: compare with BM_pipeline_failover
void BM_pipeline_static_a(benchmark::State& s) {
    pipeline_bench(s, "www.static.example.", 1, true, nullptr);
}
void BM_pipeline_static_cname(benchmark::State& s) {
    pipeline_bench(s, "alias.static.example.", 1, true, nullptr);
}
void BM_pipeline_static_wildcard(benchmark::State& s) {
    pipeline_bench(s, "x.wild.static.example.", 1, true, nullptr);
}
void BM_pipeline_static_nxdomain(benchmark::State& s) {
    pipeline_bench(s, "nope.static.example.", 1, true, nullptr);
}
BENCHMARK(BM_pipeline_static_a);
BENCHMARK(BM_pipeline_static_cname);
BENCHMARK(BM_pipeline_static_wildcard);
BENCHMARK(BM_pipeline_static_nxdomain);
// The same query with query marks on (idle-record probing): compare with BM_pipeline_failover.
void BM_pipeline_failover_idle_marks(benchmark::State& s) {
    pipeline_bench(s, "www.gslb.example.", 1, true, nullptr, true);
}
BENCHMARK(BM_pipeline_failover);
BENCHMARK(BM_pipeline_failover_idle_marks);
BENCHMARK(BM_pipeline_roundrobin);
BENCHMARK(BM_pipeline_random);
BENCHMARK(BM_pipeline_weighted);
BENCHMARK(BM_pipeline_geoip_ecs);
BENCHMARK(BM_pipeline_nxdomain);

}  // namespace

BENCHMARK_MAIN();
