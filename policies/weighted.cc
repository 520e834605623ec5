// weighted: one backend with probability weight / sum(eligible weights). Weights are
// already >= 1 (the topology maps the config's <= 0 or missing to 1); the sum is 64-bit
// so that many large weights cannot overflow.
#include <algorithm>

#include "common.hh"

namespace gslbd::policies {
namespace {

class Weighted final : public gslb::Policy {
  public:
    std::string_view name() const noexcept override { return "weighted"; }
    void select(const gslb::SelectContext& ctx, gslb::Selection& out) const noexcept override {
        reset(out);
        std::uint64_t total = 0;
        for (std::uint16_t i : ctx.eligible)
            total += std::max<std::uint32_t>(ctx.family[i].weight, 1);
        std::uint64_t r = ctx.ws.rng.uniform64(total);
        for (std::uint16_t i : ctx.eligible) {
            const std::uint64_t w = std::max<std::uint32_t>(ctx.family[i].weight, 1);
            if (r < w) {
                out.add(i);
                return;
            }
            r -= w;
        }
        out.add(ctx.eligible.back());  // unreachable: r < total
    }
};

}  // namespace

GSLBD_REGISTER_POLICY("weighted", Weighted)

}  // namespace gslbd::policies
