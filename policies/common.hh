#pragma once
/// Small pieces shared by the selection modes. Hot path: noexcept, no allocation.
/// Register a mode inside namespace gslbd::policies with its unqualified class name:
/// GSLBD_REGISTER_POLICY pastes CLASS into an identifier.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "geo/geo.hh"
#include "gslb/policy.hh"

namespace gslbd::policies {

/// Where the client is for the nearest steps. The location map's coordinates come first: an
/// entry with `latitude`/`longitude` places its subnet's clients (gslbd's addition: a private
/// subnet is placed without MaxMind, or a public one corrected). Otherwise the city
/// database's location (of (0, 0) when it does not place the client, as CoreDNS-GSLB measures
/// from there: `placed` is then false). No point when neither source is there.
struct ClientPoint {
    bool known = false;   ///< a point to measure from
    bool placed = false;  ///< known from real coordinates (map entry, or the city database's)
    bool from_map = false;
    geo::UnitVector unit;
    double latitude = 0, longitude = 0;
    std::uint8_t scope = 0;  ///< the largest prefix among the lookups consulted
};

/// Starts a fresh selection that does not depend on the client.
inline void reset(gslb::Selection& out) noexcept {
    out.count = 0;
    out.scope = 0;
    out.decision_class = 0;
}

/// Failover semantics over the eligible backends for which `match(backend)` holds: every
/// one sharing the best (lowest) priority, in the order of ctx.eligible (config order).
/// Returns false (adding nothing) when none matches.
template <class Match>
bool add_best_priority(const gslb::SelectContext& ctx, gslb::Selection& out,
                       Match&& match) noexcept {
    std::int32_t best = std::numeric_limits<std::int32_t>::max();
    bool any = false;
    for (std::uint16_t i : ctx.eligible) {
        const auto& b = ctx.family[i];
        if (!match(b)) continue;
        if (!any || b.priority < best) best = b.priority;
        any = true;
    }
    if (!any) return false;
    for (std::uint16_t i : ctx.eligible) {
        const auto& b = ctx.family[i];
        if (b.priority == best && match(b)) out.add(i);
    }
    return true;
}

/// What geoip's steps that match several backends answer: every eligible backend for which
/// `match(backend)` holds, in config order, whatever its priority (CoreDNS-GSLB), or with
/// `best_only` (`geo_priority: best`) only those of the best priority among them
/// (add_best_priority). Returns false (adding nothing) when none matches.
template <class Match>
bool add_matching(const gslb::SelectContext& ctx, gslb::Selection& out, bool best_only,
                  Match&& match) noexcept {
    if (best_only) return add_best_priority(ctx, out, match);
    const std::uint16_t before = out.count;
    for (std::uint16_t i : ctx.eligible)
        if (match(ctx.family[i])) out.add(i);
    return out.count != before;
}

/// Nearest by coordinates: among the eligible backends with coordinates for which
/// `match(backend)` holds, the nearest to `client` (largest geo::closeness); among those at
/// that distance the best priority, first in config order. An index into ctx.family, or -1
/// when no such backend has coordinates.
template <class Match>
int nearest_backend(const gslb::SelectContext& ctx, const geo::UnitVector& client,
                    Match&& match) noexcept {
    int pick = -1;
    double best = -2;  // closeness is in [-1, 1]
    std::int32_t prio = 0;
    for (std::uint16_t i : ctx.eligible) {
        const auto& b = ctx.family[i];
        if (!b.has_coords || !match(b)) continue;
        const double c = geo::closeness(client, b.point);
        if (pick < 0 || c > best || (c == best && b.priority < prio)) {
            pick = i;
            best = c;
            prio = b.priority;
        }
    }
    return pick;
}

/// Whether `b` stands at the coordinates of `r` with its priority: the group a nearest
/// step answers (CoreDNS-GSLB: "backends that share the same nearest coordinates and the
/// same priority").
inline bool same_site(const gslb::BackendRt& b, const gslb::BackendRt& r) noexcept {
    return b.has_coords && b.latitude == r.latitude && b.longitude == r.longitude &&
           b.priority == r.priority;
}

/// The best (lowest) priority among the eligible backends (ctx.eligible is never empty).
inline std::int32_t best_priority(const gslb::SelectContext& ctx) noexcept {
    std::int32_t best = std::numeric_limits<std::int32_t>::max();
    for (std::uint16_t i : ctx.eligible) best = std::min(best, ctx.family[i].priority);
    return best;
}

/// "eligible backend 2 of 3" for variant `v` over `n` eligible backends (explain's words).
inline std::string position(std::uint32_t v, std::size_t n) {
    return "eligible backend " + std::to_string(n == 0 ? 0 : v % n + 1) + " of " +
           std::to_string(n);
}

/// Every eligible backend of the best priority.
inline void add_best_priority(const gslb::SelectContext& ctx, gslb::Selection& out) noexcept {
    add_best_priority(ctx, out, [](const gslb::BackendRt&) noexcept { return true; });
}

/// Base of the cacheable modes: select() is classify -> variant -> select_decided, so a
/// query answered from the response cache (which runs the first two and keys on their
/// result) gets exactly what select() would have given it.
class DecidedPolicy : public gslb::Policy {
  public:
    bool cacheable() const noexcept final { return true; }
    void select(const gslb::SelectContext& ctx, gslb::Selection& out) const noexcept final {
        gslb::Decision d;
        classify(ctx, d);
        d.variant = variant(ctx, d);
        select_decided(ctx, d, out);
    }
};

/// City names compare without regard to ASCII case, as CoreDNS-GSLB compares them.
inline bool same_city(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}
/// Whether `list` holds `name`, compared as same_city() does.
template <typename List>  // std::vector or util::CompactVector of std::string
bool has_city(const List& list, std::string_view name) noexcept {
    return std::any_of(list.begin(), list.end(),
                       [&](const std::string& c) noexcept { return same_city(c, name); });
}

/// What the city database says about the client (with its coordinates as a unit vector, of
/// (0, 0) when it gives none), through the worker's memo when it has one: exactly db.place().
inline geo::PlaceMemo::Place client_place(const gslb::SelectContext& ctx,
                                          const geo::MaxMindDb& db) noexcept {
    if (ctx.ws.places != nullptr) return ctx.ws.places->place(db, ctx.client.addr);
    geo::PlaceMemo::Place p;
    p.result = db.place(ctx.client.addr);
    p.point = p.result.has_coordinates ? geo::unit_vector(p.result.latitude, p.result.longitude)
                                       : geo::unit_vector(0, 0);
    return p;
}

/// A country code in 10 bits (5 per letter) and back: decision classes and variants.
constexpr std::uint32_t country10(std::uint16_t c) noexcept {
    if (c == 0) return 0;
    return (((c >> 8) - 'A' + 1u) & 31u) << 5 | (((c & 0xffu) - 'A' + 1u) & 31u);
}
constexpr std::uint16_t country_of10(std::uint32_t v) noexcept {
    if (v == 0) return 0;
    return geo::pack_code(static_cast<char>('A' + ((v >> 5) & 31u) - 1),
                          static_cast<char>('A' + (v & 31u) - 1));
}

/// What the databases say about the client besides the key a geo step matched: CoreDNS-GSLB's
/// geo steps drop a backend whose *declared* continent, country or subdivision contradicts
/// the client's (a backend that declares none of them is never dropped). A step's answer
/// then depends on these facts too, so the modes carry the ones a step consulted in the
/// decision's variant: 3 bits of continent (the seven codes a backend may declare, 0 for any
/// other), 10 of country, 18 of subdivision. Exact: the same variant, the same answer.
struct Facts {
    std::uint16_t continent = 0, country = 0;  ///< geo::pack_code; 0 = unknown
    std::uint32_t subdivision = 0;             ///< geo::pack_subdivision; 0 = unknown

    static constexpr std::uint16_t kContinents[8] = {0,
                                                     geo::pack_code('A', 'F'),
                                                     geo::pack_code('A', 'N'),
                                                     geo::pack_code('A', 'S'),
                                                     geo::pack_code('E', 'U'),
                                                     geo::pack_code('N', 'A'),
                                                     geo::pack_code('O', 'C'),
                                                     geo::pack_code('S', 'A')};
    /// The variant: only the facts the step consulted (`keep_*`), the others 0.
    std::uint32_t pack(bool keep_continent, bool keep_country,
                       bool keep_subdivision) const noexcept {
        std::uint32_t c = 0;
        for (std::uint32_t i = 1; i < 8; ++i)
            if (kContinents[i] == continent) c = i;
        return (keep_continent ? c : 0) | (keep_country ? country10(country) : 0) << 3 |
               (keep_subdivision ? subdivision & 0x3ffffu : 0) << 13;
    }
    static Facts unpack(std::uint32_t v) noexcept {
        return {kContinents[v & 7u], country_of10(v >> 3 & 0x3ffu), v >> 13 & 0x3ffffu};
    }
};

template <class List, class T>  // std::vector or util::CompactVector
bool has(const List& list, const T& value) noexcept {
    return std::find(list.begin(), list.end(), value) != list.end();
}
/// `b` declares a continent and the client's is not among them.
inline bool other_continent(const gslb::BackendRt& b, const Facts& f) noexcept {
    return !b.continents.empty() && !has(b.continents, f.continent);
}
/// `b` declares a country and the client's is not among them.
inline bool other_country(const gslb::BackendRt& b, const Facts& f) noexcept {
    return !b.countries.empty() && !has(b.countries, f.country);
}
/// `b` declares a subdivision and the client's (code and country) is not among them.
inline bool other_subdivision(const gslb::BackendRt& b, const Facts& f) noexcept {
    if (b.subdivisions.empty()) return false;
    for (const auto& s : b.subdivisions)
        if (s.code == f.subdivision && (s.country == 0 || s.country == f.country)) return false;
    return true;
}

/// The client's point (ClientPoint): the map when some entry has coordinates, then the city
/// database through the worker's memo. Allocation free.
inline ClientPoint client_point(const gslb::SelectContext& ctx, const geo::GeoDbs& geo) noexcept {
    ClientPoint p;
    if (geo.locations && geo.locations->has_coordinates()) {
        const auto m = geo.locations->lookup(ctx.client.addr);
        p.scope = m.prefix;
        const auto& at = geo.locations->point(m);
        if (at.has) {
            p.known = p.placed = p.from_map = true;
            p.unit = at.unit;
            p.latitude = at.latitude;
            p.longitude = at.longitude;
            return p;
        }
    }
    if (geo.city_db) {
        auto take = [&](const geo::PlaceMemo::Place& here) noexcept {
            p.known = true;
            p.placed = here.result.has_coordinates;
            p.unit = here.point;
            p.latitude = here.result.latitude;
            p.longitude = here.result.longitude;
            p.scope = std::max(p.scope, here.result.prefix);
        };
        if (ctx.ws.places != nullptr)  // the memo's entry, not a copy of it
            take(ctx.ws.places->place(*geo.city_db, ctx.client.addr));
        else
            take(client_place(ctx, *geo.city_db));
    }
    return p;
}

/// Starts a selection for decision `d` (class and scope copied).
inline void reset(gslb::Selection& out, const gslb::Decision& d) noexcept {
    out.count = 0;
    out.scope = d.scope;
    out.decision_class = d.decision_class;
}

/// Base of the modes that answer with one eligible backend, the one at position
/// `variant % eligible` (random, roundrobin, weighted): they differ only in how they draw.
class OneOfEligible : public DecidedPolicy {
  public:
    void select_decided(const gslb::SelectContext& ctx, const gslb::Decision& d,
                        gslb::Selection& out) const noexcept final {
        reset(out, d);
        out.add(ctx.eligible[d.variant % ctx.eligible.size()]);
    }
};

}  // namespace gslbd::policies
