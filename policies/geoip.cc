// geoip: answer with the backends that match where the client is.
//
// The client (ECS address or packet source; its family may differ from the query's, e.g.
// an IPv4 client asking AAAA) is classified step by step, in CoreDNS-GSLB's order:
//
//   1. nearest    city database coordinates                   backend `latitude`/`longitude`
//   2. city       city database (geoip.city_db), the name     backend `city`
//      subdivision  subdivisions[0].iso_code and the client's  backend `subdivision`
//                 country (a backend's "CA" belongs to each country it names, or to any;
//                 "US-CA" names its own)
//      country    city database                               backend `country`
//      continent  city database                               backend `continent`
//   3. country    country database (geoip.country_db), then   backend `country`,
//      continent  its continent                               `continent`
//   4. asn        ASN database (geoip.asn_db)                 backend `asn`
//   5. location   custom subnet map (geoip.location_map)      backend `location`
//
// Nearest (when the city database is loaded and backends have coordinates): the eligible
// backend nearest to the client's city-database coordinates by great-circle distance, with
// every eligible backend at exactly its coordinates and of its priority (the best priority
// among those at that distance). A client the database does not place (no entry, or no
// location) is measured from latitude 0, longitude 0, as CoreDNS-GSLB does.
//
// Only steps that some eligible backend uses are looked up. The first step where at least
// one eligible backend matches decides; among the matching backends failover semantics
// apply (best priority, config order), except ASN, which answers the first matching
// eligible backend alone (as CoreDNS-GSLB does). When nothing matches: failover over all
// eligible backends.
//
// The city database is read through the worker's memo (geo::PlaceMemo): a warm client
// costs a table probe, not a database walk, which is what keeps a cache hit (whose key is
// the class computed here) cheap.
//
// ECS scope: the largest prefix among the lookups consulted, since each of them
// influenced the answer (a miss in an earlier dimension is why a later one decided). The
// geo lookups report an honest block for misses too. No lookup consulted -> scope 0,
// decision class 0 (the same answer for everyone).
//
// Decision class: dimension in the top 4 bits, below it what matched: the location id,
// the packed country/continent code, or, for ASN and city (which do not fit 28 bits
// exactly), the position of the first backend of the family listing that value with the
// index in its list -- exact, so two clients share a class only if they share an answer.
#include <algorithm>
#include <string>

#include "common.hh"
#include "geo/geo.hh"

namespace gslbd::policies {
namespace {

enum Dimension : std::uint32_t {
    kLocation = 1,
    kAsn = 2,
    kCity = 3,
    kCountry = 4,
    kContinent = 5,
    kNearest = 6,      ///< value: index of the representative backend (nearest_backend)
    kSubdivision = 7,  ///< value: subdivision code | country in 10 bits << 18
    kNoMatch = 15,     ///< a lookup was consulted but no eligible backend matched
};

constexpr std::uint32_t decision_class(Dimension d, std::uint32_t value) noexcept {
    return (static_cast<std::uint32_t>(d) << 28) | (value & 0x0fffffffu);
}

template <class T>
bool has(const std::vector<T>& list, const auto& value) noexcept {
    return std::find(list.begin(), list.end(), value) != list.end();
}

/// (first backend in `family` listing `value`) << 12 | its index in that backend's list.
template <class T>
std::uint32_t position(std::span<const gslb::BackendRt> family,
                       const std::vector<T> gslb::BackendRt::*list, const auto& value) noexcept {
    for (std::size_t b = 0; b < family.size(); ++b) {
        const auto& l = family[b].*list;
        auto it = std::find(l.begin(), l.end(), value);
        if (it != l.end()) {
            auto k = static_cast<std::uint32_t>(std::min<std::ptrdiff_t>(it - l.begin(), 0xfff));
            return static_cast<std::uint32_t>(b) << 12 | k;
        }
    }
    return 0;
}

template <class Match>
bool any_eligible(const gslb::SelectContext& ctx, Match&& match) noexcept {
    for (std::uint16_t i : ctx.eligible)
        if (match(ctx.family[i])) return true;
    return false;
}

struct Uses {
    bool locations = false, asns = false, cities = false, countries = false, continents = false,
         subdivisions = false;
};

/// A country code in 10 bits (5 per letter) and back, for the subdivision class.
constexpr std::uint32_t country10(std::uint16_t c) noexcept {
    if (c == 0) return 0;
    return (((c >> 8) - 'A' + 1u) & 31u) << 5 | (((c & 0xffu) - 'A' + 1u) & 31u);
}
constexpr std::uint16_t country_of10(std::uint32_t v) noexcept {
    if (v == 0) return 0;
    return geo::pack_code(static_cast<char>('A' + ((v >> 5) & 31u) - 1),
                          static_cast<char>('A' + (v & 31u) - 1));
}

/// A backend's subdivision list holds the client's (code, country).
bool in_subdivision(const gslb::BackendRt& b, std::uint32_t code, std::uint16_t country) noexcept {
    for (const auto& s : b.subdivisions)
        if (s.code == code && (s.country == 0 || s.country == country)) return true;
    return false;
}

/// position() for a city name, compared as same_city() does.
std::uint32_t city_position(std::span<const gslb::BackendRt> family,
                            std::string_view name) noexcept {
    for (std::size_t b = 0; b < family.size(); ++b) {
        const auto& l = family[b].cities;
        for (std::size_t k = 0; k < l.size() && k <= 0xfff; ++k)
            if (same_city(l[k], name)) return static_cast<std::uint32_t>(b) << 12 | k;
    }
    return 0;
}

class GeoIp final : public DecidedPolicy {
  public:
    std::string_view name() const noexcept override { return "geoip"; }

    void validate(const config::Record& rec, const config::Config& cfg,
                  const geo::GeoDbs* geo) const override {
        // Without loaded databases (e.g. a config check), trust the paths the config names.
        const bool have_map =
            geo ? geo->locations != nullptr : !cfg.location_map.empty() || !cfg.locations.empty();
        const bool have_asn = geo ? geo->asn_db != nullptr : !cfg.asn_db.empty();
        const bool have_city = geo ? geo->city_db != nullptr : !cfg.city_db.empty();
        const bool have_country =
            have_city || (geo ? geo->country_db != nullptr : !cfg.country_db.empty());

        std::string problems;
        auto need = [&](bool have, bool uses, const config::Backend* b, const char* field,
                        const char* what, const char* key) {
            if (have || !uses) return;
            if (!problems.empty()) problems += "; ";
            problems += "backend " + b->address_text + " (" + b->pos.to_string() + ") uses `" +
                        field + "` but no " + what + " is configured: set " + key +
                        " in the main config";
        };
        auto first_using = [&](auto member) -> const config::Backend* {
            for (const auto& b : rec.backends)
                if (!(b.*member).empty()) return &b;
            return nullptr;
        };
        const config::Backend* b = nullptr;
        b = first_using(&config::Backend::locations);
        need(have_map, b != nullptr, b, "location", "location map", "geoip.location_map");
        b = first_using(&config::Backend::asns);
        need(have_asn, b != nullptr, b, "asn", "ASN database", "geoip.asn_db");
        b = first_using(&config::Backend::cities);
        need(have_city, b != nullptr, b, "city", "city database", "geoip.city_db");
        b = first_using(&config::Backend::countries);
        need(have_country, b != nullptr, b, "country", "country database",
             "geoip.country_db (or geoip.city_db)");
        b = first_using(&config::Backend::continents);
        need(have_country, b != nullptr, b, "continent", "country database",
             "geoip.country_db (or geoip.city_db)");
        b = first_using(&config::Backend::subdivisions);
        need(have_city, b != nullptr, b, "subdivision", "city database", "geoip.city_db");
        b = nullptr;
        for (const auto& x : rec.backends)
            if (x.has_coordinates && b == nullptr) b = &x;
        need(have_city, b != nullptr, b, "latitude/longitude",
             "city database (the client's coordinates)", "geoip.city_db");
        if (!problems.empty()) throw config::ConfigError(rec.pos, "mode", "geoip: " + problems);
    }

    // Lookups happen here; the class alone then fixes the answer (select_decided), so the
    // response cache can serve every client of a class from one entry.
    void classify(const gslb::SelectContext& ctx, gslb::Decision& d) const noexcept override {
        d.decision_class = 0;
        d.scope = 0;
        const geo::GeoDbs* geo = ctx.snap.topo ? ctx.snap.topo->geo.get() : nullptr;
        const util::IpAddr& addr = ctx.client.addr;
        if (geo == nullptr || addr.family == 0) return;

        // 1. nearest: it decides whenever the city database is loaded and an eligible
        // backend has coordinates (an unplaced client is measured from (0, 0), as
        // CoreDNS-GSLB does: its reader gives zero coordinates then), so the city database
        // is then the only lookup and no other key needs a look.
        if (geo->city_db &&
            any_eligible(ctx, [](const gslb::BackendRt& b) noexcept { return b.has_coords; })) {
            const geo::PlaceMemo::Place here = client_place(ctx, *geo->city_db);
            const int r = nearest_backend(ctx, here.point,
                                          [](const gslb::BackendRt&) noexcept { return true; });
            if (r >= 0) {
                d.scope = here.result.prefix;
                d.decision_class = decision_class(kNearest, static_cast<std::uint32_t>(r));
                return;
            }
        }

        Uses u;
        for (std::uint16_t i : ctx.eligible) {
            const auto& b = ctx.family[i];
            u.locations |= !b.locations.empty();
            u.asns |= !b.asns.empty();
            u.cities |= !b.cities.empty();
            u.countries |= !b.countries.empty();
            u.continents |= !b.continents.empty();
            u.subdivisions |= !b.subdivisions.empty();
        }

        bool consulted = false;
        std::uint8_t scope = 0;
        auto note = [&](std::uint8_t prefix) noexcept {
            consulted = true;
            scope = std::max(scope, prefix);
        };
        auto decide = [&](Dimension dim, std::uint32_t value, auto&& match) noexcept {
            if (!any_eligible(ctx, match)) return false;
            d.scope = scope;
            d.decision_class = decision_class(dim, value);
            return true;
        };

        // 2. the city database's hierarchy (one memoised lookup)
        if ((u.cities || u.subdivisions || u.countries || u.continents) && geo->city_db) {
            const geo::PlaceMemo::Place here = client_place(ctx, *geo->city_db);
            const auto& place = here.result;
            note(place.prefix);
            const std::string_view name = place.city;
            if (u.cities && !name.empty() &&
                decide(kCity, city_position(ctx.family, name),
                       [&](const gslb::BackendRt& b) noexcept { return has_city(b.cities, name); }))
                return;
            if (u.subdivisions && place.subdivision != 0 &&
                decide(kSubdivision, place.subdivision | country10(place.country) << 18,
                       [&](const gslb::BackendRt& b) noexcept {
                           return in_subdivision(b, place.subdivision, place.country);
                       }))
                return;
            if (u.countries && place.country != 0 &&
                decide(kCountry, place.country, [&](const gslb::BackendRt& b) noexcept {
                    return has(b.countries, place.country);
                }))
                return;
            if (u.continents && place.continent != 0 &&
                decide(kContinent, place.continent, [&](const gslb::BackendRt& b) noexcept {
                    return has(b.continents, place.continent);
                }))
                return;
        }
        // 3. the country database
        if ((u.countries || u.continents) && geo->country_db) {
            const auto r = geo->country_db->country(addr);
            note(r.prefix);
            if (r.found && u.countries && r.country != 0 &&
                decide(kCountry, r.country, [&](const gslb::BackendRt& b) noexcept {
                    return has(b.countries, r.country);
                }))
                return;
            if (u.continents && r.continent != 0 &&
                decide(kContinent, r.continent, [&](const gslb::BackendRt& b) noexcept {
                    return has(b.continents, r.continent);
                }))
                return;
        }
        // 4. ASN
        if (u.asns && geo->asn_db) {
            const auto r = geo->asn_db->asn(addr);
            note(r.prefix);
            if (r.found &&
                decide(kAsn, position(ctx.family, &gslb::BackendRt::asns, r.asn),
                       [&](const gslb::BackendRt& b) noexcept { return has(b.asns, r.asn); }))
                return;
        }
        // 5. the location map
        if (u.locations && geo->locations) {
            const auto m = geo->locations->lookup(addr);
            note(m.prefix);
            if (m.id >= 0 &&
                decide(kLocation, static_cast<std::uint32_t>(m.id),
                       [&](const gslb::BackendRt& b) noexcept { return has(b.locations, m.id); }))
                return;
        }
        if (consulted) {
            d.scope = scope;
            d.decision_class = decision_class(kNoMatch, 0);
        }
    }

    // The class names the dimension and the matched value exactly (see the top of the
    // file), so the matching set is rebuilt from it without another lookup.
    void select_decided(const gslb::SelectContext& ctx, const gslb::Decision& d,
                        gslb::Selection& out) const noexcept override {
        reset(out, d);
        const std::uint32_t dim = d.decision_class >> 28;
        const std::uint32_t value = d.decision_class & 0x0fffffffu;
        const std::size_t b = value >> 12, k = value & 0xfffu;
        bool done = false;
        switch (dim) {
            case kLocation: {
                const auto id = static_cast<std::int32_t>(value);
                done = add_best_priority(ctx, out, [&](const gslb::BackendRt& x) noexcept {
                    return has(x.locations, id);
                });
                break;
            }
            case kAsn:
                if (b < ctx.family.size() && k < ctx.family[b].asns.size()) {
                    const std::uint32_t asn = ctx.family[b].asns[k];
                    for (std::uint16_t i : ctx.eligible)
                        if (has(ctx.family[i].asns, asn)) {
                            out.add(i);
                            break;
                        }
                    done = out.count != 0;
                }
                break;
            case kCity:
                if (b < ctx.family.size() && k < ctx.family[b].cities.size()) {
                    const std::string& city = ctx.family[b].cities[k];
                    done = add_best_priority(ctx, out, [&](const gslb::BackendRt& x) noexcept {
                        return has_city(x.cities, city);
                    });
                }
                break;
            case kNearest:
                if (value < ctx.family.size()) {
                    const gslb::BackendRt& r = ctx.family[value];
                    for (std::uint16_t i : ctx.eligible)
                        if (same_site(ctx.family[i], r)) out.add(i);
                    done = out.count != 0;
                }
                break;
            case kSubdivision: {
                const std::uint32_t code = value & 0x3ffffu;
                const std::uint16_t country = country_of10(value >> 18);
                done = add_best_priority(ctx, out, [&](const gslb::BackendRt& x) noexcept {
                    return in_subdivision(x, code, country);
                });
                break;
            }
            case kCountry:
            case kContinent: {
                const auto code = static_cast<std::uint16_t>(value);
                const bool country = dim == kCountry;
                done = add_best_priority(ctx, out, [&](const gslb::BackendRt& x) noexcept {
                    return has(country ? x.countries : x.continents, code);
                });
                break;
            }
            default:
                break;
        }
        if (!done) add_best_priority(ctx, out);
    }

    // Reads the class back into words: which dimension decided and on what value.
    void explain(const gslb::SelectContext& ctx, const gslb::Decision& d,
                 gslb::Explanation& out) const override {
        out.consults_geo = true;
        const std::uint32_t dim = d.decision_class >> 28;
        const std::uint32_t value = d.decision_class & 0x0fffffffu;
        const std::size_t b = value >> 12, k = value & 0xfffu;
        const geo::GeoDbs* geo = ctx.snap.topo ? ctx.snap.topo->geo.get() : nullptr;
        auto code = [](std::uint32_t packed) {
            return std::string{static_cast<char>(packed >> 8 & 0xff),
                               static_cast<char>(packed & 0xff)};
        };
        std::string by, matched;
        switch (dim) {
            case kLocation:
                by = "location";
                if (geo != nullptr && geo->locations)
                    matched = geo->locations->name_of(static_cast<std::int32_t>(value));
                break;
            case kAsn:
                by = "asn";
                if (b < ctx.family.size() && k < ctx.family[b].asns.size())
                    matched = "AS" + std::to_string(ctx.family[b].asns[k]);
                break;
            case kCity:
                by = "city";
                if (b < ctx.family.size() && k < ctx.family[b].cities.size())
                    matched = ctx.family[b].cities[k];
                break;
            case kNearest:
                by = "nearest";
                if (value < ctx.family.size()) {
                    const auto& r = ctx.family[value];
                    matched = r.addr.to_string() + " at " + std::to_string(r.latitude) + ", " +
                              std::to_string(r.longitude);
                    const geo::MaxMindDb* city = geo != nullptr ? geo->city_db.get() : nullptr;
                    if (city != nullptr) {
                        const auto p = city->place(ctx.client.addr);
                        if (p.has_coordinates)
                            matched += ", " +
                                       std::to_string(static_cast<long>(geo::distance_km(
                                           p.latitude, p.longitude, r.latitude, r.longitude))) +
                                       " km from the client";
                    }
                }
                break;
            case kSubdivision:
                by = "subdivision";
                matched =
                    code(country_of10(value >> 18)) + "-" + geo::subdivision_text(value & 0x3ffffu);
                break;
            case kCountry:
                by = "country";
                matched = code(value);
                break;
            case kContinent:
                by = "continent";
                matched = code(value);
                break;
            case kNoMatch:
                by = "no match: no eligible backend matches the client in any dimension looked "
                     "up; failover over every eligible backend";
                break;
            default:
                by = "no lookup: no eligible backend names a dimension a configured source "
                     "covers (or the client has no address); failover over every eligible "
                     "backend";
                break;
        }
        out.notes.emplace_back("decided_by", by);
        if (!matched.empty()) out.notes.emplace_back("matched", matched);
    }
};

}  // namespace

GSLBD_REGISTER_POLICY("geoip", GeoIp)

}  // namespace gslbd::policies
