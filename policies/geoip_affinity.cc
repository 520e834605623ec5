// geoip_affinity: CoreDNS-GSLB's "GeoIP Affinity" mode. Narrow the candidates to where the
// client is, then pick the nearest inside them, so a US client stays in the US even when a
// French backend is nearer to it.
//
//   1. subnet pin  the location map: the eligible backends whose `location` is the one of
//                  the client's subnet
//   2. hierarchy   (no pin) the city database, else the country database: the first level
//                  with at least one eligible backend among
//                    city         `city`, compared without regard to case
//                    subdivision  `subdivision` and the backend's country both the client's
//                    country      `country`
//                    continent    `continent`
//   3. distance    within the candidates: the nearest by coordinates (as geoip's nearest
//                  step: every candidate at that site and of its priority) when the client
//                  and some candidate have coordinates; else failover (best priority) within
//                  the candidates
//   4. global      no candidates: the nearest eligible backend globally, else failover over
//                  every eligible backend
//
// Contradictions, as CoreDNS-GSLB's pickBackendWithGeoIPAffinity: a level drops a backend
// whose declared continent (city, subdivision, country levels), country or subdivision (city
// level) the client is not in. The client facts a level consulted travel in the decision's
// variant (common.hh's Facts), so the class stays 32 bits and the cache exact.
//
// The client's point (step 3, 4) is common.hh's client_point(): its location map entry's
// coordinates when it has them (no MaxMind needed), else the city database's location; a
// client neither places skips the distance pick, as in CoreDNS-GSLB.
//
// Decision class: the kind in the top 3 bits, 29 bits below it.
//   kNearest      r | level << 10 | k << 13: r (10 bits) indexes the nearest backend in
//                 the family, level (3 bits) is the kind of the candidates' level and k (16
//                 bits) the index, in r's own list for that level, of the value the level
//                 matched (r is a candidate, so it lists it); the answer is the eligible
//                 backends at r's site (same_site) that are candidates of that level. Any
//                 number of backends may share a site.
//   kLocation ... failover within the level's candidates, the level's value as geoip
//                 encodes it (location id, city position, subdivision | country, code)
//   kGlobal       failover over every eligible backend
// ECS scope: the largest prefix among the lookups consulted (a miss decides too).
#include <algorithm>
#include <string>

#include "common.hh"
#include "geo/geo.hh"

namespace gslbd::policies {
namespace {

enum Kind : std::uint32_t {
    kNearest = 1,
    kLocation = 2,
    kCity = 3,
    kSubdivision = 4,
    kCountry = 5,
    kContinent = 6,
    kGlobal = 7,
};

constexpr std::uint32_t class_of(Kind k, std::uint32_t value) noexcept {
    return k << 29 | (value & 0x1fffffffu);
}

constexpr std::uint32_t kNoCity = 0x1fffffffu;  ///< names no backend: matches none

/// (first backend listing the city) << 12 | its index in that backend's list; kNoCity when
/// no backend lists it.
std::uint32_t city_position(std::span<const gslb::BackendRt> family,
                            std::string_view name) noexcept {
    for (std::size_t b = 0; b < family.size(); ++b) {
        const auto& l = family[b].cities;
        for (std::size_t k = 0; k < l.size() && k <= 0xfff; ++k)
            if (same_city(l[k], name)) return static_cast<std::uint32_t>(b) << 12 | k;
    }
    return kNoCity;
}

/// The subdivision level: the backend's code and its (declared) country are the client's.
bool in_subdivision(const gslb::BackendRt& b, std::uint32_t code, std::uint16_t country) noexcept {
    for (const auto& s : b.subdivisions)
        if (s.code == code && s.country != 0 && s.country == country) return true;
    return false;
}

/// The candidates of one level: which level, and the value it matched.
struct Level {
    Kind kind = kGlobal;
    std::uint32_t value = 0;
};

/// Whether `b` is a candidate of `lv` (kGlobal: every backend) for a client of facts `f`
/// (the contradictions at the top).
inline bool candidate(const gslb::BackendRt& b, const Level& lv,
                      std::span<const gslb::BackendRt> family, const Facts& f) noexcept {
    switch (lv.kind) {
        case kLocation:
            return has(b.locations, static_cast<std::int32_t>(lv.value));
        case kCity: {
            const std::size_t r = lv.value >> 12, k = lv.value & 0xfffu;
            return r < family.size() && k < family[r].cities.size() &&
                   has_city(b.cities, family[r].cities[k]) && !other_continent(b, f) &&
                   !other_country(b, f) && !other_subdivision(b, f);
        }
        case kSubdivision:
            return in_subdivision(b, lv.value & 0x3ffffu, country_of10(lv.value >> 18)) &&
                   !other_continent(b, f);
        case kCountry:
            return has(b.countries, static_cast<std::uint16_t>(lv.value)) && !other_continent(b, f);
        case kContinent:
            return has(b.continents, static_cast<std::uint16_t>(lv.value));
        default:
            return true;
    }
}

/// The variant for level `lv`: the facts its candidate() consults that some eligible backend
/// of the level's key declares.
std::uint32_t facts_variant(const gslb::SelectContext& ctx, const Level& lv,
                            const Facts& f) noexcept {
    if (lv.kind != kCity && lv.kind != kSubdivision && lv.kind != kCountry) return 0;
    bool cont = false, ctry = false, sub = false;
    for (std::uint16_t i : ctx.eligible) {
        const auto& b = ctx.family[i];
        // the level's own key, with no contradiction checked
        bool key = false;
        switch (lv.kind) {
            case kCity: {
                const std::size_t r = lv.value >> 12, k = lv.value & 0xfffu;
                key = r < ctx.family.size() && k < ctx.family[r].cities.size() &&
                      has_city(b.cities, ctx.family[r].cities[k]);
                break;
            }
            case kSubdivision:
                key = in_subdivision(b, lv.value & 0x3ffffu, country_of10(lv.value >> 18));
                break;
            default:
                key = has(b.countries, static_cast<std::uint16_t>(lv.value));
                break;
        }
        if (!key) continue;
        cont |= !b.continents.empty();
        if (lv.kind == kCity) {
            ctry |= !b.countries.empty() || !b.subdivisions.empty();
            sub |= !b.subdivisions.empty();
        }
    }
    return f.pack(cont, ctry, sub);
}

/// The kNearest class value for representative `r` of the candidates of `lv` (see the top).
std::uint32_t nearest_value(std::span<const gslb::BackendRt> family, std::size_t r,
                            const Level& lv) noexcept {
    const gslb::BackendRt& b = family[r];
    std::size_t k = 0;
    auto index_in = [&](const auto& list, auto&& is) noexcept {
        for (std::size_t i = 0; i < list.size(); ++i)
            if (is(list[i])) return i;
        return std::size_t{0};
    };
    switch (lv.kind) {
        case kLocation:
            k = index_in(b.locations,
                         [&](std::int32_t x) { return x == static_cast<std::int32_t>(lv.value); });
            break;
        case kCity: {
            const std::size_t c = lv.value >> 12, j = lv.value & 0xfffu;
            if (c < family.size() && j < family[c].cities.size()) {
                const std::string& name = family[c].cities[j];
                k = index_in(b.cities, [&](const std::string& x) { return same_city(x, name); });
            }
            break;
        }
        case kSubdivision: {
            const std::uint32_t code = lv.value & 0x3ffffu;
            const std::uint16_t country = country_of10(lv.value >> 18);
            k = index_in(b.subdivisions, [&](const gslb::SubdivisionRt& x) {
                return x.code == code && x.country == country;
            });
            break;
        }
        case kCountry:
            k = index_in(b.countries, [&](std::uint16_t x) { return x == lv.value; });
            break;
        case kContinent:
            k = index_in(b.continents, [&](std::uint16_t x) { return x == lv.value; });
            break;
        default:
            break;
    }
    return static_cast<std::uint32_t>(r) | static_cast<std::uint32_t>(lv.kind & 7u) << 10 |
           static_cast<std::uint32_t>(std::min<std::size_t>(k, 0xffff)) << 13;
}

/// The level a kNearest class value names (the inverse of nearest_value); false when the
/// value does not fit `family`.
bool nearest_level(std::span<const gslb::BackendRt> family, std::uint32_t value,
                   Level& lv) noexcept {
    const std::size_t r = value & 0x3ffu, k = value >> 13;
    if (r >= family.size()) return false;
    const gslb::BackendRt& b = family[r];
    lv.kind = static_cast<Kind>(value >> 10 & 7u);
    switch (lv.kind) {
        case kLocation:
            if (k >= b.locations.size()) return false;
            lv.value = static_cast<std::uint32_t>(b.locations[k]);
            return true;
        case kCity:
            if (k >= b.cities.size() || k > 0xfff) return false;
            lv.value = static_cast<std::uint32_t>(r) << 12 | static_cast<std::uint32_t>(k);
            return true;
        case kSubdivision:
            if (k >= b.subdivisions.size()) return false;
            lv.value = b.subdivisions[k].code | country10(b.subdivisions[k].country) << 18;
            return true;
        case kCountry:
            if (k >= b.countries.size()) return false;
            lv.value = b.countries[k];
            return true;
        case kContinent:
            if (k >= b.continents.size()) return false;
            lv.value = b.continents[k];
            return true;
        default:
            lv = Level{};
            return true;
    }
}

class GeoIpAffinity final : public DecidedPolicy {
  public:
    std::string_view name() const noexcept override { return "geoip_affinity"; }
    /// A pure function of the snapshot and the client (the decision memo may keep it).
    bool by_client() const noexcept override { return true; }

    void validate(const config::Record& rec, const config::Config& cfg,
                  const geo::GeoDbs* geo) const override {
        const bool have_city = geo ? geo->city_db != nullptr : !cfg.city_db.empty();
        const bool have_country =
            have_city || (geo ? geo->country_db != nullptr : !cfg.country_db.empty());
        const bool map_points =
            geo != nullptr
                ? geo->locations && geo->locations->has_coordinates()
                : std::any_of(cfg.locations.begin(), cfg.locations.end(),
                              [](const config::LocationEntry& e) { return e.has_coordinates; });
        for (const auto& b : rec.backends) {
            auto need = [&](bool have, bool uses, const char* field, const char* key) {
                if (have || !uses) return;
                throw config::ConfigError(b.pos, field,
                                          std::string("geoip_affinity: `") + field +
                                              "` needs a MaxMind database: set " + key +
                                              " in the main config");
            };
            need(have_city, !b.cities.empty(), "city", "geoip.city_db");
            need(have_city, !b.subdivisions.empty(), "subdivision", "geoip.city_db");
            need(have_city || map_points, b.has_coordinates, "latitude",
                 "geoip.city_db (or give location map entries latitude/longitude)");
            need(have_country, !b.countries.empty(), "country",
                 "geoip.country_db (or geoip.city_db)");
            need(have_country, !b.continents.empty(), "continent",
                 "geoip.country_db (or geoip.city_db)");
        }
    }

    // The facts the candidates' level consulted are in the variant (see the top):
    // classify() leaves them in d.variant.
    std::uint32_t variant(const gslb::SelectContext&,
                          const gslb::Decision& d) const noexcept override {
        return d.variant;
    }

    void classify(const gslb::SelectContext& ctx, gslb::Decision& d) const noexcept override {
        d.decision_class = 0;
        d.scope = 0;
        d.variant = 0;
        const geo::GeoDbs* geo = ctx.snap.topo ? ctx.snap.topo->geo.get() : nullptr;
        const util::IpAddr& addr = ctx.client.addr;
        bool uses_locations = false, uses_coords = false, uses_hierarchy = false;
        for (std::uint16_t i : ctx.eligible) {
            const auto& b = ctx.family[i];
            uses_locations |= !b.locations.empty();
            uses_coords |= b.has_coords;
            uses_hierarchy |= !b.cities.empty() || !b.subdivisions.empty() ||
                              !b.countries.empty() || !b.continents.empty();
        }
        if (geo == nullptr || addr.family == 0) return;

        std::uint8_t scope = 0;
        auto note = [&](std::uint8_t prefix) noexcept { scope = std::max(scope, prefix); };
        Facts f;
        auto any = [&](const Level& lv) noexcept {
            for (std::uint16_t i : ctx.eligible)
                if (candidate(ctx.family[i], lv, ctx.family, f)) return true;
            return false;
        };

        // 1. subnet pin; a pinned entry's coordinates are also the client's point
        Level lv;
        geo::LocationMap::Point pinned;
        const bool map_points = geo->locations && geo->locations->has_coordinates();
        if (geo->locations && (uses_locations || (uses_coords && map_points))) {
            const auto m = geo->locations->lookup(addr);
            note(m.prefix);
            if (uses_coords) pinned = geo->locations->point(m);
            if (uses_locations && m.id >= 0) {
                const Level pin{kLocation, static_cast<std::uint32_t>(m.id)};
                if (any(pin)) lv = pin;
            }
        }
        // 2. hierarchy; the city database also gives the coordinates of step 3
        geo::PlaceMemo::Place here;  // through the worker's memo: a warm client costs no walk
        const auto& place = here.result;
        const bool need_place = geo->city_db && ((lv.kind == kGlobal && uses_hierarchy) ||
                                                 (uses_coords && !pinned.has));
        if (need_place) {
            here = client_place(ctx, *geo->city_db);
            note(place.prefix);
        }
        if (lv.kind == kGlobal && uses_hierarchy) {
            f = {place.continent, place.country, place.subdivision};
            if (!geo->city_db && geo->country_db) {
                const auto r = geo->country_db->country(addr);
                note(r.prefix);
                f = {r.continent, r.country, 0};
            }
            Level tries[4];
            int n = 0;
            if (!place.city.empty()) tries[n++] = {kCity, city_position(ctx.family, place.city)};
            if (f.subdivision != 0 && f.country != 0)
                tries[n++] = {kSubdivision, f.subdivision | country10(f.country) << 18};
            if (f.country != 0) tries[n++] = {kCountry, f.country};
            if (f.continent != 0) tries[n++] = {kContinent, f.continent};
            for (int t = 0; t < n; ++t)
                if (any(tries[t])) {
                    lv = tries[t];
                    break;
                }
        }
        d.scope = scope;
        d.variant = facts_variant(ctx, lv, f);
        const Facts kept = Facts::unpack(d.variant);
        // 3. distance within the candidates, 4. globally
        if (pinned.has || place.has_coordinates) {
            const geo::UnitVector& at = pinned.has ? pinned.unit : here.point;
            const int r = nearest_backend(ctx, at, [&](const gslb::BackendRt& b) noexcept {
                return candidate(b, lv, ctx.family, kept);
            });
            if (r >= 0) {
                d.decision_class =
                    class_of(kNearest, nearest_value(ctx.family, static_cast<std::size_t>(r), lv));
                return;
            }
        }
        d.decision_class = class_of(lv.kind, lv.value);
    }

    void select_decided(const gslb::SelectContext& ctx, const gslb::Decision& d,
                        gslb::Selection& out) const noexcept override {
        reset(out, d);
        const auto kind = static_cast<Kind>(d.decision_class >> 29);
        const std::uint32_t value = d.decision_class & 0x1fffffffu;
        const Facts f = Facts::unpack(d.variant);
        if (d.decision_class == 0) {
            add_best_priority(ctx, out);
            return;
        }
        if (kind == kNearest) {
            const std::size_t r = value & 0x3ffu;
            Level lv;
            if (nearest_level(ctx.family, value, lv))
                for (std::uint16_t i : ctx.eligible) {
                    const auto& b = ctx.family[i];
                    if (same_site(b, ctx.family[r]) && candidate(b, lv, ctx.family, f)) out.add(i);
                }
        } else {
            const Level lv{kind, value};
            add_best_priority(ctx, out, [&](const gslb::BackendRt& b) noexcept {
                return candidate(b, lv, ctx.family, f);
            });
        }
        if (out.count == 0) add_best_priority(ctx, out);
    }

    void explain(const gslb::SelectContext& ctx, const gslb::Decision& d,
                 gslb::Explanation& out) const override {
        out.consults_geo = true;
        const auto kind = static_cast<Kind>(d.decision_class >> 29);
        const std::uint32_t value = d.decision_class & 0x1fffffffu;
        const geo::GeoDbs* geo = ctx.snap.topo ? ctx.snap.topo->geo.get() : nullptr;
        auto code = [](std::uint16_t c) {
            return std::string{static_cast<char>(c >> 8), static_cast<char>(c & 0xff)};
        };
        std::string by;
        switch (d.decision_class == 0 ? kGlobal : kind) {
            case kNearest: {
                by = "nearest by coordinates among the candidates (or globally when no "
                     "candidate has coordinates)";
                const std::size_t r = value & 0x3ffu;
                if (r < ctx.family.size())
                    out.notes.emplace_back("site", std::to_string(ctx.family[r].latitude) + ", " +
                                                       std::to_string(ctx.family[r].longitude));
                break;
            }
            case kLocation:
                by = "location map";
                if (geo != nullptr && geo->locations)
                    out.notes.emplace_back(
                        "matched", geo->locations->name_of(static_cast<std::int32_t>(value)));
                break;
            case kCity:
                by = "city (failover within it: no coordinates)";
                break;
            case kSubdivision:
                by = "subdivision (failover within it: no coordinates)";
                out.notes.emplace_back("matched", code(country_of10(value >> 18)) + "-" +
                                                      geo::subdivision_text(value & 0x3ffffu));
                break;
            case kCountry:
                by = "country (failover within it: no coordinates)";
                out.notes.emplace_back("matched", code(static_cast<std::uint16_t>(value)));
                break;
            case kContinent:
                by = "continent (failover within it: no coordinates)";
                out.notes.emplace_back("matched", code(static_cast<std::uint16_t>(value)));
                break;
            default:
                by = "no affinity and no coordinates: failover over every eligible backend";
                break;
        }
        out.notes.insert(out.notes.begin(), {"decided_by", by});
    }
};

}  // namespace

GSLBD_REGISTER_POLICY("geoip_affinity", GeoIpAffinity, "geoip-affinity", "affinity")

}  // namespace gslbd::policies
