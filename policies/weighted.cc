// weighted: one backend with probability weight / sum(eligible weights). Weights are
// already >= 1 (the topology maps the config's <= 0 or missing to 1); the sum is 64-bit
// so that many large weights cannot overflow. The weighted draw is the variant (the
// position in the eligible set), made per query, so the cache keeps the proportions.
// An operator's weight override (control API, Health::weight) replaces the configured one.
#include <algorithm>

#include "common.hh"

namespace gslbd::policies {
namespace {

class Weighted final : public DecidedPolicy {
  public:
    std::string_view name() const noexcept override { return "weighted"; }
    std::uint32_t variant(const gslb::SelectContext& ctx,
                          const gslb::Decision&) const noexcept override {
        std::uint64_t total = 0;
        for (std::uint16_t i : ctx.eligible)
            total += std::max<std::uint32_t>(ctx.snap.weight_of(ctx.family[i]), 1);
        std::uint64_t r = ctx.ws.rng.uniform64(total);
        for (std::size_t k = 0; k < ctx.eligible.size(); ++k) {
            const std::uint64_t w =
                std::max<std::uint32_t>(ctx.snap.weight_of(ctx.family[ctx.eligible[k]]), 1);
            if (r < w) return static_cast<std::uint32_t>(k);
            r -= w;
        }
        return static_cast<std::uint32_t>(ctx.eligible.size() - 1);  // unreachable: r < total
    }
    void select_decided(const gslb::SelectContext& ctx, const gslb::Decision& d,
                        gslb::Selection& out) const noexcept override {
        reset(out, d);
        out.add(ctx.eligible[d.variant % ctx.eligible.size()]);
    }
    void explain(const gslb::SelectContext& ctx, const gslb::Decision& d,
                 gslb::Explanation& out) const override {
        out.per_query = true;
        out.notes.emplace_back("rule",
                               "one eligible backend, with probability weight / sum of "
                               "the eligible weights");
        std::uint64_t total = 0;
        for (std::uint16_t i : ctx.eligible)
            total += std::max<std::uint32_t>(ctx.snap.weight_of(ctx.family[i]), 1);
        const std::uint32_t w = std::max<std::uint32_t>(
            ctx.snap.weight_of(ctx.family[ctx.eligible[d.variant % ctx.eligible.size()]]), 1);
        out.notes.emplace_back("draw", position(d.variant, ctx.eligible.size()) + ", weight " +
                                           std::to_string(w) + " of " + std::to_string(total));
    }
};

}  // namespace

GSLBD_REGISTER_POLICY("weighted", Weighted)

}  // namespace gslbd::policies
