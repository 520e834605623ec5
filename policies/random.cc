// random: one eligible backend, uniformly, from the worker's own generator. The variant is
// the position in the eligible set, drawn per query (also on a cache hit), so a cached
// answer never freezes the choice.
#include "common.hh"

namespace gslbd::policies {
namespace {

class Random final : public OneOfEligible {
  public:
    std::string_view name() const noexcept override { return "random"; }
    std::uint32_t variant(const gslb::SelectContext& ctx,
                          const gslb::Decision&) const noexcept override {
        return ctx.ws.rng.uniform(static_cast<std::uint32_t>(ctx.eligible.size()));
    }
    void explain(const gslb::SelectContext& ctx, const gslb::Decision& d,
                 gslb::Explanation& out) const override {
        out.per_query = true;
        out.notes.emplace_back("rule", "one eligible backend, uniformly at random");
        out.notes.emplace_back("draw", position(d.variant, ctx.eligible.size()));
    }
};

}  // namespace

GSLBD_REGISTER_POLICY("random", Random)

}  // namespace gslbd::policies
