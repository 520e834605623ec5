// Micro benchmarks of the pieces the pipeline is made of, each alone: every selection
// mode's select() on the example zone, geo lookups (location map; MaxMind when the test
// databases are built), and building a response. The whole pipeline is bench_pipeline.cc.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "cache_world.hh"  // bench::query
#include "config/model.hh"
#include "dns/query.hh"
#include "dns/response.hh"
#include "geo/geo.hh"
#include "gslb/policy.hh"
#include "gslb/snapshot.hh"

using namespace gslbd;

namespace {

/// The example configuration (examples/gslbd.yml) built into a snapshot, all backends up.
struct Example {
    std::shared_ptr<const config::Config> cfg;
    std::shared_ptr<const geo::GeoDbs> geo;
    gslb::Snapshot snap;
    Example() {
        const char* root = std::getenv("GSLBD_SOURCE_ROOT");
        cfg = std::make_shared<const config::Config>(
            config::load_config(std::string(root ? root : ".") + "/examples/gslbd.yml"));
        geo = geo::load_geo(*cfg);
        snap.generation = 1;
        snap.topo = gslb::build_topology(cfg, geo);
        snap.health = gslb::all_up(*snap.topo);
    }
};

Example& example() {
    static Example e;
    return e;
}

/// select() of the record's own mode over all of its IPv4 backends, the client
/// 198.51.100.7 (from ECS for geoip): BM_select/<mode>.
void BM_select(benchmark::State& state, const char* name, bool from_ecs) {
    auto& e = example();
    const gslb::RecordRt* rec = nullptr;
    for (const auto& r : e.snap.topo->records)
        if (r.cfg->name == name) rec = &r;
    if (rec == nullptr || rec->v4.empty()) {
        state.SkipWithError((std::string(name) + ": no such record with A backends").c_str());
        return;
    }
    gslb::WorkerState ws(42);
    ws.prepare(*e.snap.topo);
    std::vector<std::uint16_t> eligible;
    for (std::size_t i = 0; i < rec->v4.size(); ++i)
        eligible.push_back(static_cast<std::uint16_t>(i));
    const gslb::ClientInfo client{*util::IpAddr::parse("198.51.100.7"),
                                  static_cast<std::uint8_t>(from_ecs ? 24 : 32), from_ecs};
    const gslb::SelectContext ctx{e.snap, *rec, rec->v4, eligible, client, ws};
    for (auto _ : state) {
        gslb::Selection out;
        rec->policy->select(ctx, out);
        benchmark::DoNotOptimize(out);
    }
    state.SetLabel(std::string(rec->policy->name()));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_select, failover, "www.gslb.example.", false);
BENCHMARK_CAPTURE(BM_select, roundrobin, "rr.gslb.example.", false);
BENCHMARK_CAPTURE(BM_select, random, "shuffle.gslb.example.", false);
BENCHMARK_CAPTURE(BM_select, weighted, "weighted.gslb.example.", false);
BENCHMARK_CAPTURE(BM_select, geoip_ecs, "geo.gslb.example.", true);

void BM_geo_location_map(benchmark::State& state) {
    const auto& map = *example().geo->locations;
    // addresses that hit a /24, a /25 inside it, a /8 and nothing
    const util::IpAddr addrs[] = {
        *util::IpAddr::parse("198.51.100.7"), *util::IpAddr::parse("198.51.100.200"),
        *util::IpAddr::parse("127.0.0.1"), *util::IpAddr::parse("10.1.2.3")};
    std::size_t i = 0;
    for (auto _ : state) {
        auto m = map.lookup(addrs[i++ & 3]);
        benchmark::DoNotOptimize(m);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_geo_location_map);

/// MaxMind lookups on the small test databases (tests/data/geo/make_mmdb.pl), which
/// bench/micro/meson.build passes in GSLBD_BENCH_*_MMDB when the tests are built.
template <typename Lookup>
void bench_mmdb(benchmark::State& state, const char* var, Lookup lookup) {
    const char* path = std::getenv(var);
    if (path == nullptr) {
        state.SkipWithError((std::string(var) + " not set (built with -Dtests=disabled?)").c_str());
        return;
    }
    geo::MaxMindDb db(path);
    const util::IpAddr addrs[] = {
        *util::IpAddr::parse("198.51.100.7"), *util::IpAddr::parse("203.0.113.9"),
        *util::IpAddr::parse("2001:db8:1::1"), *util::IpAddr::parse("10.1.2.3")};
    std::size_t i = 0;
    for (auto _ : state) {
        auto r = lookup(db, addrs[i++ & 3]);
        benchmark::DoNotOptimize(r);
    }
    state.SetItemsProcessed(state.iterations());
}
void BM_geo_maxmind_country(benchmark::State& s) {
    bench_mmdb(s, "GSLBD_BENCH_COUNTRY_MMDB",
               [](const geo::MaxMindDb& db, const util::IpAddr& a) { return db.country(a); });
}
void BM_geo_maxmind_asn(benchmark::State& s) {
    bench_mmdb(s, "GSLBD_BENCH_ASN_MMDB",
               [](const geo::MaxMindDb& db, const util::IpAddr& a) { return db.asn(a); });
}
BENCHMARK(BM_geo_maxmind_country);
BENCHMARK(BM_geo_maxmind_asn);

/// Two A records, OPT with the ECS option echoed: what a GSLB answer miss writes.
void BM_response_build(benchmark::State& state) {
    const auto client = *util::IpAddr::parse("198.51.100.7");
    const auto q = bench::query("www.gslb.example.", &client, 24);
    dns::Query query;
    if (dns::parse_query(q, query).status != dns::ParseStatus::Ok || !query.ecs.present) {
        state.SkipWithError("the benchmark's own query does not parse");
        return;
    }
    std::vector<std::uint8_t> buf(1232);
    const std::uint8_t a1[4] = {192, 0, 2, 10}, a2[4] = {192, 0, 2, 11};
    for (auto _ : state) {
        dns::ResponseWriter w(buf, 1232);
        w.begin(query, dns::Rcode::NoError, true);
        w.add_a(dns::Section::Answer, dns::NameRef::qname(), 30, a1);
        w.add_a(dns::Section::Answer, dns::NameRef::qname(), 30, a2);
        w.set_opt(1232, false, &query.ecs, 24);
        benchmark::DoNotOptimize(w.finish());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_response_build);

}  // namespace
