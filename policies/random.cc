// random: one eligible backend, uniformly, from the worker's own generator.
#include "common.hh"

namespace gslbd::policies {
namespace {

class Random final : public gslb::Policy {
  public:
    std::string_view name() const noexcept override { return "random"; }
    void select(const gslb::SelectContext& ctx, gslb::Selection& out) const noexcept override {
        reset(out);
        const auto n = static_cast<std::uint32_t>(ctx.eligible.size());
        out.add(ctx.eligible[ctx.ws.rng.uniform(n)]);
    }
};

}  // namespace

GSLBD_REGISTER_POLICY("random", Random)

}  // namespace gslbd::policies
