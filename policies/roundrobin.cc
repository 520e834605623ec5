// roundrobin: one backend per answer, rotating over the eligible ones. The cursor lives in
// the worker (no sharing between cores), one per record and address family so that A and
// AAAA rotate independently. The variant is the cursor's position in the eligible set; it
// advances per query, cache hit or miss.
#include "common.hh"

namespace gslbd::policies {
namespace {

class RoundRobin final : public DecidedPolicy {
  public:
    std::string_view name() const noexcept override { return "roundrobin"; }
    std::uint32_t variant(const gslb::SelectContext& ctx,
                          const gslb::Decision&) const noexcept override {
        const auto n = static_cast<std::uint32_t>(ctx.eligible.size());
        const bool v6 = ctx.family.data() == ctx.rec.v6.data() && !ctx.rec.v6.empty();
        const std::size_t slot = std::size_t{ctx.rec.id} * 2 + (v6 ? 1 : 0);
        auto& rr = ctx.ws.rr;
        // An unprepared worker state still answers (without rotation) rather than crash.
        const std::uint32_t cursor = slot < rr.size() ? rr[slot]++ : 0;
        return cursor % n;
    }
    void select_decided(const gslb::SelectContext& ctx, const gslb::Decision& d,
                        gslb::Selection& out) const noexcept override {
        reset(out, d);
        out.add(ctx.eligible[d.variant % ctx.eligible.size()]);
    }
};

}  // namespace

GSLBD_REGISTER_POLICY("roundrobin", RoundRobin)

}  // namespace gslbd::policies
