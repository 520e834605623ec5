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
// Nearest (when backends have coordinates and the client has a point, common.hh's
// client_point(): its location-map entry's coordinates, else the city database's): the
// eligible backend nearest to the client by great-circle distance, with every eligible
// backend at exactly its coordinates and of its priority (the best priority among those at
// that distance). A client the city database does not place (no entry, or no location) is
// measured from latitude 0, longitude 0, as CoreDNS-GSLB does. Without a city database only
// clients of map entries with coordinates have a point; the others go on to step 2.
//
// Contradictions (CoreDNS-GSLB's pickBackendWithGeoIP): a backend that declares a continent,
// country or subdivision the client is not in is dropped from the steps that check it:
//   city         continent, country, subdivision; among the rest, those declaring country
//                and subdivision come first, then those declaring a country, then the city
//                alone (the first non-empty tier answers)
//   subdivision  continent, country
//   country      continent (the city database's step and the country database's)
// Continent, ASN, location and nearest check nothing more. The client facts a step
// consulted travel in the decision's variant (common.hh's Facts), so the cache stays exact.
//
// Only steps that some eligible backend uses are looked up. The first step where at least
// one eligible backend matches decides. What it answers is CoreDNS-GSLB's: the city (its
// best tier), subdivision, country, continent and location steps every matching eligible
// backend in config order, whatever its priority; ASN the first matching eligible backend
// alone; nearest the best priority at the nearest site. A record's `geo_priority: best`
// (RecordRt::geo_best_priority) keeps gslbd's earlier answer for the five "every match"
// steps: the best priority among the matches. When nothing matches: failover (best
// priority) over all eligible backends. The class and variant name the matching set
// exactly under either choice, and the choice is the record's, so the cache key needs
// nothing more.
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

/// (first backend in `family` listing `value`) << 12 | its index in that backend's list.
template <class T>
std::uint32_t position(std::span<const gslb::BackendRt> family,
                       const util::CompactVector<T> gslb::BackendRt::*list,
                       const auto& value) noexcept {
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

/// The city step's tier of a backend (CoreDNS-GSLB): 0 declares country and subdivision,
/// 1 a country, 2 neither.
int city_tier(const gslb::BackendRt& b) noexcept {
    return b.countries.empty() ? 2 : b.subdivisions.empty() ? 1 : 0;
}
/// The city step's survivors: the city, and no contradiction.
bool city_match(const gslb::BackendRt& b, std::string_view name, const Facts& f) noexcept {
    return has_city(b.cities, name) && !other_continent(b, f) && !other_country(b, f) &&
           !other_subdivision(b, f);
}
/// The best tier among the eligible survivors of the city step (3: none).
int best_city_tier(const gslb::SelectContext& ctx, std::string_view name, const Facts& f) noexcept {
    int best = 3;
    for (std::uint16_t i : ctx.eligible)
        if (city_match(ctx.family[i], name, f)) best = std::min(best, city_tier(ctx.family[i]));
    return best;
}

class GeoIp final : public DecidedPolicy {
  public:
    std::string_view name() const noexcept override { return "geoip"; }
    /// A pure function of the snapshot and the client (the decision memo may keep it).
    bool by_client() const noexcept override { return true; }
    /// `geo_priority` chooses what the steps that match several backends answer.
    bool reads_geo_priority() const noexcept override { return true; }

    /// Some location map entry has coordinates (from the loaded map, else from the config).
    static bool map_points(const config::Config& cfg, const geo::GeoDbs* geo) {
        if (geo != nullptr) return geo->locations && geo->locations->has_coordinates();
        return std::any_of(cfg.locations.begin(), cfg.locations.end(),
                           [](const config::LocationEntry& e) { return e.has_coordinates; });
    }

    // The facts a step consulted are in the variant (see the top): classify() leaves them
    // in d.variant.
    std::uint32_t variant(const gslb::SelectContext&,
                          const gslb::Decision& d) const noexcept override {
        return d.variant;
    }

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
        need(have_city || map_points(cfg, geo), b != nullptr, b, "latitude/longitude",
             "source of client coordinates (a city database, or location map entries with "
             "latitude/longitude)",
             "geoip.city_db");
        if (!problems.empty()) throw config::ConfigError(rec.pos, "mode", "geoip: " + problems);
    }

    // Lookups happen here; the class (and the facts in the variant) then fix the answer
    // (select_decided), so the response cache can serve every client of a class from one
    // entry.
    void classify(const gslb::SelectContext& ctx, gslb::Decision& d) const noexcept override {
        d.decision_class = 0;
        d.scope = 0;
        d.variant = 0;
        const geo::GeoDbs* geo = ctx.snap.topo ? ctx.snap.topo->geo.get() : nullptr;
        const util::IpAddr& addr = ctx.client.addr;
        if (geo == nullptr || addr.family == 0) return;

        bool consulted = false;
        std::uint8_t scope = 0;
        auto note = [&](std::uint8_t prefix) noexcept {
            consulted = true;
            scope = std::max(scope, prefix);
        };

        // 1. nearest: it decides whenever the client has a point (a location map entry's
        // coordinates, or the city database: an unplaced client is measured from (0, 0), as
        // CoreDNS-GSLB does) and an eligible backend has coordinates; with the city
        // database that is always, so no other key needs a look.
        if ((geo->city_db || (geo->locations && geo->locations->has_coordinates())) &&
            any_eligible(ctx, [](const gslb::BackendRt& b) noexcept { return b.has_coords; })) {
            const ClientPoint at = client_point(ctx, *geo);
            note(at.scope);
            if (at.known) {
                const int r = nearest_backend(ctx, at.unit,
                                              [](const gslb::BackendRt&) noexcept { return true; });
                if (r >= 0) {
                    d.scope = scope;
                    d.decision_class = decision_class(kNearest, static_cast<std::uint32_t>(r));
                    return;
                }
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

        // `variant`: the facts the deciding step consulted (select_decided reads them back)
        auto decide = [&](Dimension dim, std::uint32_t value, std::uint32_t variant,
                          auto&& match) noexcept {
            if (!any_eligible(ctx, match)) return false;
            d.scope = scope;
            d.decision_class = decision_class(dim, value);
            d.variant = variant;
            return true;
        };
        // Which facts the backends matching `key` declare (only those can drop one).
        auto declared = [&](auto&& key, bool& continent, bool& country, bool& subdivision) {
            continent = country = subdivision = false;
            for (std::uint16_t i : ctx.eligible) {
                const auto& b = ctx.family[i];
                if (!key(b)) continue;
                continent |= !b.continents.empty();
                country |= !b.countries.empty();
                subdivision |= !b.subdivisions.empty();
            }
        };

        // 2. the city database's hierarchy (one memoised lookup)
        if ((u.cities || u.subdivisions || u.countries || u.continents) && geo->city_db) {
            const geo::PlaceMemo::Place here = client_place(ctx, *geo->city_db);
            const auto& place = here.result;
            note(place.prefix);
            const Facts f{place.continent, place.country, place.subdivision};
            const std::string_view name = place.city;
            bool cont = false, ctry = false, sub = false;
            if (u.cities && !name.empty()) {
                declared(
                    [&](const gslb::BackendRt& b) noexcept { return has_city(b.cities, name); },
                    cont, ctry, sub);
                // the subdivision check compares the country too
                if (decide(
                        kCity, city_position(ctx.family, name), f.pack(cont, ctry || sub, sub),
                        [&](const gslb::BackendRt& b) noexcept { return city_match(b, name, f); }))
                    return;
            }
            if (u.subdivisions && place.subdivision != 0) {
                auto in = [&](const gslb::BackendRt& b) noexcept {
                    return in_subdivision(b, place.subdivision, place.country);
                };
                declared(in, cont, ctry, sub);
                if (decide(kSubdivision, place.subdivision | country10(place.country) << 18,
                           f.pack(cont, false, false), [&](const gslb::BackendRt& b) noexcept {
                               return in(b) && !other_continent(b, f) && !other_country(b, f);
                           }))
                    return;
            }
            if (u.countries && place.country != 0) {
                auto in = [&](const gslb::BackendRt& b) noexcept {
                    return has(b.countries, place.country);
                };
                declared(in, cont, ctry, sub);
                if (decide(kCountry, place.country, f.pack(cont, false, false),
                           [&](const gslb::BackendRt& b) noexcept {
                               return in(b) && !other_continent(b, f);
                           }))
                    return;
            }
            if (u.continents && place.continent != 0 &&
                decide(kContinent, place.continent, 0, [&](const gslb::BackendRt& b) noexcept {
                    return has(b.continents, place.continent);
                }))
                return;
        }
        // 3. the country database
        if ((u.countries || u.continents) && geo->country_db) {
            const auto r = geo->country_db->country(addr);
            note(r.prefix);
            const Facts f{r.continent, r.country, 0};
            if (r.found && u.countries && r.country != 0) {
                auto in = [&](const gslb::BackendRt& b) noexcept {
                    return has(b.countries, r.country);
                };
                bool cont = false, ctry = false, sub = false;
                declared(in, cont, ctry, sub);
                if (decide(kCountry, r.country, f.pack(cont, false, false),
                           [&](const gslb::BackendRt& b) noexcept {
                               return in(b) && !other_continent(b, f);
                           }))
                    return;
            }
            if (u.continents && r.continent != 0 &&
                decide(kContinent, r.continent, 0, [&](const gslb::BackendRt& b) noexcept {
                    return has(b.continents, r.continent);
                }))
                return;
        }
        // 4. ASN
        if (u.asns && geo->asn_db) {
            const auto r = geo->asn_db->asn(addr);
            note(r.prefix);
            if (r.found &&
                decide(kAsn, position(ctx.family, &gslb::BackendRt::asns, r.asn), 0,
                       [&](const gslb::BackendRt& b) noexcept { return has(b.asns, r.asn); }))
                return;
        }
        // 5. the location map
        if (u.locations && geo->locations) {
            const auto m = geo->locations->lookup(addr);
            note(m.prefix);
            if (m.id >= 0 &&
                decide(kLocation, static_cast<std::uint32_t>(m.id), 0,
                       [&](const gslb::BackendRt& b) noexcept { return has(b.locations, m.id); }))
                return;
        }
        if (consulted) {
            d.scope = scope;
            d.decision_class = decision_class(kNoMatch, 0);
        }
    }

    // The class names the dimension and the matched value exactly, the variant the facts
    // the step consulted (see the top of the file), so the matching set is rebuilt from
    // them without another lookup.
    void select_decided(const gslb::SelectContext& ctx, const gslb::Decision& d,
                        gslb::Selection& out) const noexcept override {
        reset(out, d);
        const std::uint32_t dim = d.decision_class >> 28;
        const std::uint32_t value = d.decision_class & 0x0fffffffu;
        const std::size_t b = value >> 12, k = value & 0xfffu;
        const Facts f = Facts::unpack(d.variant);
        const bool best = ctx.rec.geo_best_priority;
        bool done = false;
        switch (dim) {
            case kLocation: {
                const auto id = static_cast<std::int32_t>(value);
                done = add_matching(ctx, out, best, [&](const gslb::BackendRt& x) noexcept {
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
                    const int tier = best_city_tier(ctx, city, f);
                    done = add_matching(ctx, out, best, [&](const gslb::BackendRt& x) noexcept {
                        return city_match(x, city, f) && city_tier(x) == tier;
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
                const Facts g{f.continent, country, code};
                done = add_matching(ctx, out, best, [&](const gslb::BackendRt& x) noexcept {
                    return in_subdivision(x, code, country) && !other_continent(x, g) &&
                           !other_country(x, g);
                });
                break;
            }
            case kCountry: {
                const auto code = static_cast<std::uint16_t>(value);
                done = add_matching(ctx, out, best, [&](const gslb::BackendRt& x) noexcept {
                    return has(x.countries, code) && !other_continent(x, f);
                });
                break;
            }
            case kContinent: {
                const auto code = static_cast<std::uint16_t>(value);
                done = add_matching(ctx, out, best, [&](const gslb::BackendRt& x) noexcept {
                    return has(x.continents, code);
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
                    if (geo != nullptr) {
                        const ClientPoint at = client_point(ctx, *geo);
                        if (at.placed)
                            matched += ", " +
                                       std::to_string(static_cast<long>(geo::distance_km(
                                           at.latitude, at.longitude, r.latitude, r.longitude))) +
                                       " km from the client" +
                                       (at.from_map ? " (placed by the location map)" : "");
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
        if (dim == kLocation || dim == kCity || dim == kSubdivision || dim == kCountry ||
            dim == kContinent)
            out.notes.emplace_back("answers", ctx.rec.geo_best_priority
                                                  ? "the best priority among the matching "
                                                    "backends (geo_priority: best)"
                                                  : "every matching backend, whatever its "
                                                    "priority (geo_priority: all)");
    }
};

}  // namespace

GSLBD_REGISTER_POLICY("geoip", GeoIp)

}  // namespace gslbd::policies
