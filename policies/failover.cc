// failover: every eligible backend sharing the best (lowest) priority, in config order.
// The same answer for every client: scope 0, decision class 0, one variant.
#include "common.hh"

namespace gslbd::policies {
namespace {

class Failover final : public DecidedPolicy {
  public:
    std::string_view name() const noexcept override { return "failover"; }
    void select_decided(const gslb::SelectContext& ctx, const gslb::Decision& d,
                        gslb::Selection& out) const noexcept override {
        reset(out, d);
        add_best_priority(ctx, out);
    }
    void explain(const gslb::SelectContext& ctx, const gslb::Decision&,
                 gslb::Explanation& out) const override {
        out.notes.emplace_back("rule",
                               "every eligible backend of the best (lowest) priority, "
                               "in config order");
        out.notes.emplace_back("best_priority", std::to_string(best_priority(ctx)));
    }
};

}  // namespace

GSLBD_REGISTER_POLICY("failover", Failover)

}  // namespace gslbd::policies
