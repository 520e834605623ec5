// Instructions per query, for callgrind: runs `n` queries of one kind through a Pipeline
// inside measured_loop(), which callgrind alone collects:
//   valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*measured_loop*'
//            build/bench/micro/cache_count hit-failover 20000
// then Ir / n is the cost of one query (plus a few instructions of loop).
// Kinds: hit-failover, hit-failover-ecs (the same failover hit with BM_cache_hit_failover_ecs's
// ECS option: the base the ECS kinds compare with), hit-geoip-ecs, miss-geoip-ecs,
// nocache-failover, nocache-geoip-ecs, hit-iphash-ecs, nocache-iphash-ecs, and
// (GSLBD_BENCH_CITY_MMDB set to the city test database) hit-nearest-ecs, nocache-nearest-ecs.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cache_world.hh"
#include "pipeline/pipeline.hh"

using namespace gslbd;

namespace {

[[gnu::noinline]] std::size_t measured_loop(pipeline::Pipeline& p,
                                            const std::vector<std::uint8_t>& q,
                                            const util::IpAddr& src, std::vector<std::uint8_t>& out,
                                            long n, bool miss) {
    std::size_t sum = 0;
    std::uint32_t now = 1000;
    for (long i = 0; i < n; ++i) {
        if (miss) p.tick(now += 100000);  // every entry found expired: build, store, patch
        sum += p.handle(q, src, out, false);
        gslb::RcuThread::quiescent();
    }
    return sum;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s KIND N\n", argv[0]);
        return 2;
    }
    const std::string kind = argv[1];
    const long n = std::atol(argv[2]);
    const bool iphash = kind.find("iphash-ecs") != std::string::npos;
    const bool nearest = kind.find("nearest-ecs") != std::string::npos;
    const bool failover_ecs = kind.find("failover-ecs") != std::string::npos;
    const bool ecs =
        kind.find("geoip-ecs") != std::string::npos || iphash || nearest || failover_ecs;
    const bool nocache = kind.rfind("nocache", 0) == 0;
    const bool miss = kind.rfind("miss", 0) == 0;
    if (!ecs && kind.find("failover") == std::string::npos) {
        std::fprintf(stderr, "unknown kind %s\n", kind.c_str());
        return 2;
    }
    auto& w = bench::world();
    gslb::RcuThread rcu;
    pipeline::Pipeline p(w.holder, 42, nocache ? 0 : 65536, 256);
    if (nearest && std::getenv("GSLBD_BENCH_CITY_MMDB") == nullptr) {
        std::fprintf(stderr, "%s needs GSLBD_BENCH_CITY_MMDB (the city test database)\n",
                     kind.c_str());
        return 2;
    }
    const auto client = *util::IpAddr::parse(nearest || failover_ecs ? "100.64.2.7" : "21.7.9.1");
    const char* name = iphash                 ? "hash.bench."
                       : nearest              ? "near.bench."
                       : ecs && !failover_ecs ? "n7.bench."
                                              : "www.bench.";
    const auto q = bench::query(name, ecs ? &client : nullptr, 24);
    std::vector<std::uint8_t> out(4096);
    const auto src = *util::IpAddr::parse("127.0.0.1");
    p.tick(1000);
    p.handle(q, src, out, false);  // the first query fills the cache
    const std::size_t sum = measured_loop(p, q, src, out, n, miss);
    const auto& c = p.cache_counters();
    std::printf("%s: %ld queries, %zu bytes out, cache hits %llu misses %llu\n", kind.c_str(), n,
                sum, static_cast<unsigned long long>(c.hits),
                static_cast<unsigned long long>(c.misses));
    return 0;
}
