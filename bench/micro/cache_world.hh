#pragma once
// The zone the response-cache benchmarks answer from (bench_cache.cc, cache_count.cc):
// kNames geoip records of kLocations backends plus one failover name, and a query builder.
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "config/model.hh"
#include "dns/response.hh"
#include "geo/geo.hh"
#include "gslb/publish.hh"
#include "gslb/snapshot.hh"

namespace gslbd::bench {

/// A wire query (A, IN, RD, EDNS 1232) for `name`, with an IPv4 ECS option of `ecs_len`
/// bits when `ecs` is set.
inline std::vector<std::uint8_t> query(const std::string& name, const util::IpAddr* ecs,
                                       std::uint8_t ecs_len) {
    std::vector<std::uint8_t> q = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1};
    std::uint8_t wire[dns::kMaxNameWire];
    const std::size_t n = dns::name_from_text(name, wire);
    q.insert(q.end(), wire, wire + n);
    q.insert(q.end(), {0, 1, 0, 1});
    std::vector<std::uint8_t> opt;
    if (ecs != nullptr) {
        const auto alen = static_cast<std::uint8_t>((ecs_len + 7) / 8);
        opt = {0, 8, 0, static_cast<std::uint8_t>(4 + alen), 0, 1, ecs_len, 0};
        const auto m = ecs->masked(ecs_len);
        opt.insert(opt.end(), m.bytes.begin(), m.bytes.begin() + alen);
    }
    q.insert(q.end(), {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, static_cast<std::uint8_t>(opt.size() >> 8),
                       static_cast<std::uint8_t>(opt.size())});
    q.insert(q.end(), opt.begin(), opt.end());
    return q;
}

inline constexpr int kLocations = 10;
inline constexpr int kNames = 1000;

/// Zone bench. with kNames geoip records of kLocations backends each; the location map
/// splits 16.0.0.0/4 (2^20 /24s) into its sixteen /8s, /8 number i -> location i % 10.
/// Also hash.bench. (ip-hash) and, when GSLBD_BENCH_CITY_MMDB names the city test
/// database, near.bench. (geoip by coordinates) and aff.bench. (geoip_affinity: country,
/// then coordinates): ten backends each.
struct World {
    gslb::SnapshotHolder holder;
    World() {
        auto cfg = std::make_shared<config::Config>();
        cfg->location_map = "in-memory";
        for (int i = 0; i < 16; ++i) {
            auto p = util::IpPrefix::parse(std::to_string(16 + i) + ".0.0.0/8");
            cfg->locations.push_back({*p, "loc" + std::to_string(i % kLocations), {}});
        }
        config::Zone z;
        z.name = "bench.";
        z.soa.mname = "ns1.bench.";
        z.soa.rname = "hostmaster.bench.";
        z.ns.push_back({"ns1.example.", {}});
        for (int n = 0; n < kNames; ++n) {
            config::Record r;
            r.name = "n" + std::to_string(n) + ".bench.";
            r.mode = "geoip";
            for (int l = 0; l < kLocations; ++l) {
                config::Backend b;
                b.address_text = "192.0.2." + std::to_string(l + 1);
                b.address = *util::IpAddr::parse(b.address_text);
                b.locations = {"loc" + std::to_string(l)};
                r.backends.push_back(b);
            }
            z.records.push_back(r);
        }
        {
            config::Record r;  // one failover name for the plain hit benchmark
            r.name = "www.bench.";
            config::Backend b;
            b.address_text = "192.0.2.99";
            b.address = *util::IpAddr::parse(b.address_text);
            r.backends.push_back(b);
            z.records.push_back(r);
        }
        {
            // ip-hash over ten backends, and (with the city test database) geoip nearest
            // over ten sites: the cache-hit cost of the modes of issue 15
            const double sites[10][2] = {{48.8566, 2.3522},    {40.7128, -74.0060},
                                         {52.52, 13.405},      {35.6762, 139.6503},
                                         {51.5074, -0.1278},   {47.6062, -122.3321},
                                         {49.2827, -123.1207}, {37.3382, -121.8863},
                                         {45.764, 4.8357},     {21.3069, -157.8583}};
            const char* city = std::getenv("GSLBD_BENCH_CITY_MMDB");
            if (city != nullptr) cfg->city_db = city;
            const char* countries[10] = {"FR", "US", "DE", "JP", "GB",
                                         "US", "CA", "US", "FR", "US"};
            for (const std::string mode : {"ip-hash", "geoip", "geoip_affinity"}) {
                if (mode != "ip-hash" && city == nullptr) continue;
                config::Record r;
                r.name = mode == "geoip"     ? "near.bench."
                         : mode == "ip-hash" ? "hash.bench."
                                             : "aff.bench.";
                r.mode = mode;
                for (int l = 0; l < 10; ++l) {
                    config::Backend b;
                    b.address_text = "192.0.2." + std::to_string(l + 101);
                    b.address = *util::IpAddr::parse(b.address_text);
                    b.has_coordinates = true;
                    b.latitude = sites[l][0];
                    b.longitude = sites[l][1];
                    if (mode == "geoip_affinity") b.countries = {countries[l]};
                    r.backends.push_back(b);
                }
                z.records.push_back(r);
            }
        }
        cfg->zones.push_back(z);
        auto geo = geo::load_geo(*cfg);
        auto s = std::make_unique<gslb::Snapshot>();
        s->generation = 1;
        s->topo = gslb::build_topology(cfg, geo);
        s->health = gslb::all_up(*s->topo);
        holder.publish(std::move(s));
    }
};

inline World& world() {
    static World w;
    return w;
}

}  // namespace gslbd::bench
