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
inline bool has_city(const std::vector<std::string>& list, std::string_view name) noexcept {
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
