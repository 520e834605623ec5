// weighted: one backend with probability weight / sum(eligible weights). Weights are
// already >= 1 (the topology maps the config's <= 0 or missing to 1); the sum is 64-bit
// so that many large weights cannot overflow. The weighted draw is the variant (the
// position in the eligible set), made per query, so the cache keeps the proportions.
// An operator's weight override (control API, Health::weight) replaces the configured one;
// a backend in slow start draws with its percent of it (docs/gradual.md).
#include <algorithm>

#include "common.hh"

namespace gslbd::policies {
namespace {

/// The weight of eligible backend `k` (the override when set, times its slow start percent,
/// Snapshot::effective_weight), at least 1.
std::uint64_t weight_at(const gslb::SelectContext& ctx, std::size_t k, bool ramping) noexcept {
    const gslb::BackendRt& b = ctx.family[ctx.eligible[k]];
    return ramping ? std::max<std::uint64_t>(ctx.snap.effective_weight(b), 1)
                   : std::max<std::uint32_t>(ctx.snap.weight_of(b), 1);
}

std::uint64_t total_weight(const gslb::SelectContext& ctx, bool ramping) noexcept {
    std::uint64_t total = 0;
    for (std::size_t k = 0; k < ctx.eligible.size(); ++k) total += weight_at(ctx, k, ramping);
    return total;
}

class Weighted final : public OneOfEligible {
  public:
    std::string_view name() const noexcept override { return "weighted"; }
    bool splits_by_weight() const noexcept override { return true; }
    std::uint32_t variant(const gslb::SelectContext& ctx,
                          const gslb::Decision&) const noexcept override {
        const bool ramping = ctx.snap.ramping();  // else the plain weights: fewer loads
        std::uint64_t r = ctx.ws.rng.uniform64(total_weight(ctx, ramping));
        for (std::size_t k = 0; k < ctx.eligible.size(); ++k) {
            const std::uint64_t w = weight_at(ctx, k, ramping);
            if (r < w) return static_cast<std::uint32_t>(k);
            r -= w;
        }
        return static_cast<std::uint32_t>(ctx.eligible.size() - 1);  // unreachable: r < total
    }
    void explain(const gslb::SelectContext& ctx, const gslb::Decision& d,
                 gslb::Explanation& out) const override {
        out.per_query = true;
        out.notes.emplace_back("rule",
                               "one eligible backend, with probability weight / sum of "
                               "the eligible weights");
        const std::uint64_t w = weight_at(ctx, d.variant % ctx.eligible.size(), true);
        // effective weights are weight x slow start percent (100 when not ramping)
        out.notes.emplace_back("draw", position(d.variant, ctx.eligible.size()) +
                                           ", effective weight " + std::to_string(w) + " of " +
                                           std::to_string(total_weight(ctx, true)) +
                                           " (weight x slow start percent)");
    }
};

}  // namespace

GSLBD_REGISTER_POLICY("weighted", Weighted)

}  // namespace gslbd::policies
