// Micro benchmarks of the pieces the pipeline is made of, each alone: every selection
// mode's select() on the example zone and, side by side on one zone with the city
// database, every mode including ip-hash, nearest, subdivision and geoip_affinity, geo lookups
// (location map; MaxMind when the test databases are built), and building a response. The whole
// pipeline is bench_pipeline.cc.
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

/// Every mode side by side on one zone built in code, the city test database loaded
/// (GSLBD_BENCH_CITY_MMDB): eight IPv4 backends per record, each in one city of the
/// database with its country, subdivision and coordinates; the client 100.64.2.7/24 (ECS,
/// Oakland US-CA). BM_select_mode/<mode> compares the new modes (ip-hash, geoip nearest,
/// geoip subdivision, geoip_affinity) with the older ones in the same run.
struct ModeWorld {
    gslb::Snapshot snap;
    std::string error;
    ModeWorld() {
        const char* city = std::getenv("GSLBD_BENCH_CITY_MMDB");
        if (city == nullptr) {
            error = "GSLBD_BENCH_CITY_MMDB not set (built with -Dtests=disabled?)";
            return;
        }
        auto cfg = std::make_shared<config::Config>();
        cfg->city_db = city;
        config::Zone z;
        z.name = "modes.";
        z.soa.mname = "ns1.modes.";
        z.soa.rname = "hostmaster.modes.";
        z.ns.push_back({"ns1.example.", {}});
        struct Site {
            const char* country;
            const char* subdivision;
            const char* city;
            double lat, lon;
        };
        const Site sites[8] = {{"FR", "IDF", "Paris", 48.8566, 2.3522},
                               {"US", "NY", "New York", 40.7128, -74.0060},
                               {"DE", "BE", "Berlin", 52.52, 13.405},
                               {"JP", "13", "Tokyo", 35.6762, 139.6503},
                               {"GB", "ENG", "London", 51.5074, -0.1278},
                               {"US", "WA", "Seattle", 47.6062, -122.3321},
                               {"CA", "BC", "Vancouver", 49.2827, -123.1207},
                               {"US", "CA", "San Jose", 37.3382, -121.8863}};
        auto add = [&](const char* name, const char* mode, bool coords, bool subdivision,
                       bool country) {
            config::Record r;
            r.name = std::string(name) + ".modes.";
            r.mode = mode;
            for (int i = 0; i < 8; ++i) {
                config::Backend b;
                b.address_text = "192.0.2." + std::to_string(i + 1);
                b.address = *util::IpAddr::parse(b.address_text);
                if (country) b.countries = {sites[i].country};
                if (subdivision)
                    b.subdivisions = {std::string(sites[i].country) + "-" + sites[i].subdivision};
                if (coords) {
                    b.has_coordinates = true;
                    b.latitude = sites[i].lat;
                    b.longitude = sites[i].lon;
                }
                r.backends.push_back(b);
            }
            z.records.push_back(r);
        };
        add("failover", "failover", false, false, false);
        add("roundrobin", "roundrobin", false, false, false);
        add("weighted", "weighted", false, false, false);
        add("geoip-country", "geoip", false, false, true);
        // the same with `geo_priority: best` (the three US backends share priority 0: the same
        // answer, the other way of collecting it)
        add("geoip-country-best", "geoip", false, false, true);
        z.records.edit(z.records.size() - 1).geo_priority = config::GeoPriority::Best;
        add("ip-hash", "ip-hash", false, false, false);
        add("geoip-nearest", "geoip", true, false, false);
        add("geoip-subdivision", "geoip", false, true, false);
        add("geoip-affinity", "geoip_affinity", true, false, true);
        cfg->zones.push_back(z);
        std::shared_ptr<const config::Config> c = cfg;
        snap.generation = 1;
        snap.topo = gslb::build_topology(c, geo::load_geo(*c));
        snap.health = gslb::all_up(*snap.topo);
    }
};

void BM_select_mode(benchmark::State& state, const char* name) {
    static ModeWorld w;
    if (!w.error.empty()) {
        state.SkipWithError(w.error.c_str());
        return;
    }
    const gslb::RecordRt* rec = nullptr;
    for (const auto& r : w.snap.topo->records)
        if (r.cfg->name == std::string(name) + ".modes.") rec = &r;
    gslb::WorkerState ws(42);
    ws.prepare(*w.snap.topo);
    std::vector<std::uint16_t> eligible;
    for (std::size_t i = 0; i < rec->v4.size(); ++i)
        eligible.push_back(static_cast<std::uint16_t>(i));
    const gslb::ClientInfo client{*util::IpAddr::parse("100.64.2.7"), 24, true};
    const gslb::SelectContext ctx{w.snap, *rec, rec->v4, eligible, client, ws};
    gslb::Selection out;
    rec->policy->select(ctx, out);
    if (out.count == 0) {
        state.SkipWithError("the mode selected nothing");
        return;
    }
    for (auto _ : state) {
        gslb::Selection sel;
        rec->policy->select(ctx, sel);
        benchmark::DoNotOptimize(sel);
    }
    state.SetLabel(std::string(rec->policy->name()) + " -> " +
                   rec->v4[out.idx[0]].addr.to_string());
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_select_mode, failover, "failover");
BENCHMARK_CAPTURE(BM_select_mode, roundrobin, "roundrobin");
BENCHMARK_CAPTURE(BM_select_mode, weighted, "weighted");
BENCHMARK_CAPTURE(BM_select_mode, geoip_country, "geoip-country");
BENCHMARK_CAPTURE(BM_select_mode, geoip_country_best, "geoip-country-best");
BENCHMARK_CAPTURE(BM_select_mode, ip_hash, "ip-hash");
BENCHMARK_CAPTURE(BM_select_mode, geoip_nearest, "geoip-nearest");
BENCHMARK_CAPTURE(BM_select_mode, geoip_subdivision, "geoip-subdivision");
BENCHMARK_CAPTURE(BM_select_mode, geoip_affinity, "geoip-affinity");

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
void BM_geo_maxmind_city(benchmark::State& s) {
    bench_mmdb(s, "GSLBD_BENCH_CITY_MMDB",
               [](const geo::MaxMindDb& db, const util::IpAddr& a) { return db.city(a); });
}
void BM_geo_maxmind_place(benchmark::State& s) {
    bench_mmdb(s, "GSLBD_BENCH_CITY_MMDB",
               [](const geo::MaxMindDb& db, const util::IpAddr& a) { return db.place(a); });
}
BENCHMARK(BM_geo_maxmind_country);
BENCHMARK(BM_geo_maxmind_asn);
BENCHMARK(BM_geo_maxmind_city);
/// The same four clients through a worker's geo::PlaceMemo (warm after the first round):
/// what the geoip modes pay per query for a client seen before.
void BM_geo_place_memo(benchmark::State& s) {
    geo::PlaceMemo memo(gslb::WorkerState::kPlaceMemoSlots);
    bench_mmdb(s, "GSLBD_BENCH_CITY_MMDB", [&](const geo::MaxMindDb& db, const util::IpAddr& a) {
        return memo.place(db, a).result.prefix;
    });
}
BENCHMARK(BM_geo_maxmind_place);
BENCHMARK(BM_geo_place_memo);

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
