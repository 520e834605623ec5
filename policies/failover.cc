// failover: every eligible backend sharing the best (lowest) priority, in config order.
// The same answer for every client: scope 0, decision class 0.
#include "common.hh"

namespace gslbd::policies {
namespace {

class Failover final : public gslb::Policy {
  public:
    std::string_view name() const noexcept override { return "failover"; }
    void select(const gslb::SelectContext& ctx, gslb::Selection& out) const noexcept override {
        reset(out);
        add_best_priority(ctx, out);
    }
};

}  // namespace

GSLBD_REGISTER_POLICY("failover", Failover)

}  // namespace gslbd::policies
