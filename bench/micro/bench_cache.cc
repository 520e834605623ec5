// The response cache: the whole worker pipeline (parse -> plan -> lookup -> patched copy)
// on a hit, on a miss with geoip + ECS, without a cache for comparison, and the hit rate of
// decision-class keys against a cache keyed by client /24 (same size, same query stream:
// 1M distinct client /24s over 10 locations, Zipf-distributed names).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "cache/cache.hh"
#include "cache_world.hh"
#include "config/model.hh"
#include "dns/response.hh"
#include "geo/geo.hh"
#include "gslb/publish.hh"
#include "gslb/snapshot.hh"
#include "pipeline/pipeline.hh"
#include "util/random.hh"

using namespace gslbd;
using bench::kLocations;
using bench::kNames;
using bench::query;
using bench::world;

namespace {

enum class Mode { Hit, HitTicked, Miss, NoCache };

void run(benchmark::State& state, const char* name, bool ecs, Mode mode,
         const char* client_text = "21.7.9.1") {
    auto& w = world();
    gslb::RcuThread rcu;
    pipeline::Pipeline p(w.holder, 42, mode == Mode::NoCache ? 0 : 65536, 256);
    auto client = *util::IpAddr::parse(client_text);
    auto q = query(name, ecs ? &client : nullptr, 24);
    std::vector<std::uint8_t> out(4096);
    auto src = *util::IpAddr::parse("127.0.0.1");
    std::uint32_t now = 1000;
    if (mode == Mode::HitTicked || mode == Mode::Miss) p.tick(now);
    std::uint32_t i = 0;
    for (auto _ : state) {
        // a miss: the clock jumps past the TTL, so every lookup finds its entry expired and
        // the answer is built, stored and patched
        if (mode == Mode::Miss) p.tick(now += 100000);
        if (mode == Mode::HitTicked && (++i & 31) == 0) p.tick(now);  // once per burst of 32
        auto n = p.handle(q, src, out, false);
        benchmark::DoNotOptimize(n);
        gslb::RcuThread::quiescent();
    }
    const auto& c = p.cache_counters();
    state.counters["hits"] = static_cast<double>(c.hits);
    state.counters["misses"] = static_cast<double>(c.misses);
    state.SetItemsProcessed(state.iterations());
}

void BM_cache_hit_failover(benchmark::State& s) {
    run(s, "www.bench.", false, Mode::Hit);
}
// the same failover hit with an ECS option (parsed, echoed): the fair base for the ECS
// benchmarks of the geo modes and ip-hash below
void BM_cache_hit_failover_ecs(benchmark::State& s) {
    run(s, "www.bench.", true, Mode::HitTicked, "100.64.2.7");
}
void BM_cache_hit_failover_ticked(benchmark::State& s) {
    run(s, "www.bench.", false, Mode::HitTicked);
}
void BM_cache_hit_geoip_ecs(benchmark::State& s) {
    run(s, "n7.bench.", true, Mode::HitTicked);
}
void BM_cache_miss_geoip_ecs(benchmark::State& s) {
    run(s, "n7.bench.", true, Mode::Miss);
}
void BM_nocache_failover(benchmark::State& s) {
    run(s, "www.bench.", false, Mode::NoCache);
}
void BM_nocache_geoip_ecs(benchmark::State& s) {
    run(s, "n7.bench.", true, Mode::NoCache);
}
// issue 15's modes: ip-hash, and geoip nearest (client 100.64.2.7, Oakland, in the city
// test database; skipped without it)
void BM_cache_hit_iphash_ecs(benchmark::State& s) {
    run(s, "hash.bench.", true, Mode::HitTicked);
}
void BM_nocache_iphash_ecs(benchmark::State& s) {
    run(s, "hash.bench.", true, Mode::NoCache);
}
void BM_cache_hit_nearest_ecs(benchmark::State& s) {
    if (std::getenv("GSLBD_BENCH_CITY_MMDB") == nullptr) {
        s.SkipWithError("GSLBD_BENCH_CITY_MMDB not set");
        return;
    }
    run(s, "near.bench.", true, Mode::HitTicked, "100.64.2.7");
}
void BM_nocache_nearest_ecs(benchmark::State& s) {
    if (std::getenv("GSLBD_BENCH_CITY_MMDB") == nullptr) {
        s.SkipWithError("GSLBD_BENCH_CITY_MMDB not set");
        return;
    }
    run(s, "near.bench.", true, Mode::NoCache, "100.64.2.7");
}
void BM_cache_hit_affinity_ecs(benchmark::State& s) {
    if (std::getenv("GSLBD_BENCH_CITY_MMDB") == nullptr) {
        s.SkipWithError("GSLBD_BENCH_CITY_MMDB not set");
        return;
    }
    run(s, "aff.bench.", true, Mode::HitTicked, "100.64.2.7");
}
void BM_nocache_affinity_ecs(benchmark::State& s) {
    if (std::getenv("GSLBD_BENCH_CITY_MMDB") == nullptr) {
        s.SkipWithError("GSLBD_BENCH_CITY_MMDB not set");
        return;
    }
    run(s, "aff.bench.", true, Mode::NoCache, "100.64.2.7");
}
BENCHMARK(BM_cache_hit_iphash_ecs);
BENCHMARK(BM_nocache_iphash_ecs);
BENCHMARK(BM_cache_hit_nearest_ecs);
BENCHMARK(BM_nocache_nearest_ecs);
BENCHMARK(BM_cache_hit_affinity_ecs);
BENCHMARK(BM_nocache_affinity_ecs);
BENCHMARK(BM_cache_hit_failover);
BENCHMARK(BM_cache_hit_failover_ecs);
BENCHMARK(BM_cache_hit_failover_ticked);
BENCHMARK(BM_cache_hit_geoip_ecs);
BENCHMARK(BM_cache_miss_geoip_ecs);
BENCHMARK(BM_nocache_failover);
BENCHMARK(BM_nocache_geoip_ecs);

/// Hit rates over one stream: decision-class keys (the real pipeline, ECS on) against a
/// cache of the same size keyed by (name, client /24), as a resolver-style ECS cache is.
void BM_hit_rate_class_vs_subnet(benchmark::State& state) {
    auto& w = world();
    gslb::RcuThread rcu;
    constexpr std::size_t kEntries = 65536, kEntryBytes = 256;
    constexpr int kQueries = 2'000'000;
    // Zipf(1) over the names
    std::vector<double> cdf(kNames);
    double sum = 0;
    for (int i = 0; i < kNames; ++i) cdf[i] = (sum += 1.0 / (i + 1));
    for (auto& c : cdf) c /= sum;
    std::vector<std::vector<std::uint8_t>> names(kNames);
    for (int i = 0; i < kNames; ++i) {
        std::uint8_t wire[dns::kMaxNameWire];
        const std::size_t n = dns::name_from_text("n" + std::to_string(i) + ".bench.", wire);
        names[i].assign(wire, wire + n);
    }
    double class_rate = 0, subnet_rate = 0;
    for (auto _ : state) {
        pipeline::Pipeline p(w.holder, 42, kEntries, kEntryBytes);
        p.tick(1000);
        cache::Cache by24(kEntries, kEntryBytes, 42);
        util::Rng rng(7);
        std::vector<std::uint8_t> out(4096);
        const auto src = *util::IpAddr::parse("127.0.0.1");
        const std::vector<std::uint8_t> rr = {0xC0, 0x0C, 0, 1, 0,   1, 0, 0,
                                              0,    30,   0, 4, 192, 0, 2, 1};
        cache::Answer fake;
        fake.counts[0] = 1;
        fake.rrs = rr;
        for (int i = 0; i < kQueries; ++i) {
            const double u = static_cast<double>(rng.next() >> 11) * 0x1.0p-53;
            const int name =
                static_cast<int>(std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
            const std::uint32_t slash24 = rng.uniform(1u << 20);  // one of 2^20 client /24s
            util::IpAddr a = *util::IpAddr::parse("16.0.0.0");
            a.bytes[0] = static_cast<std::uint8_t>(16 + (slash24 >> 16));
            a.bytes[1] = static_cast<std::uint8_t>(slash24 >> 8);
            a.bytes[2] = static_cast<std::uint8_t>(slash24);
            auto q = query("n" + std::to_string(name) + ".bench.", &a, 24);
            benchmark::DoNotOptimize(p.handle(q, src, out, false));
            gslb::RcuThread::quiescent();

            const cache::Key k{names[name].data(),
                               static_cast<std::uint8_t>(names[name].size()),
                               1,
                               1,
                               false,
                               slash24,
                               0};
            cache::Answer hit;
            if (!by24.lookup(k, 1, 1000, hit)) by24.insert(k, 1, 1000, fake);
        }
        const auto& c = p.cache_counters();
        class_rate = 100.0 * static_cast<double>(c.hits) / static_cast<double>(c.hits + c.misses);
        const auto& s = by24.counters();
        subnet_rate = 100.0 * static_cast<double>(s.hits) / static_cast<double>(s.hits + s.misses);
    }
    state.counters["hit%_class"] = class_rate;
    state.counters["hit%_slash24"] = subnet_rate;
    std::fprintf(stderr,
                 "hit rate over %d queries (%zu entries, Zipf(1) over %d names, 2^20 client /24s "
                 "over %d locations): decision class %.2f %%, client /24 %.2f %%\n",
                 kQueries, kEntries, kNames, kLocations, class_rate, subnet_rate);
}
BENCHMARK(BM_hit_rate_class_vs_subnet)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
