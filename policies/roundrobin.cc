// roundrobin: one backend per answer, rotating over the eligible ones. The cursor lives in
// the worker's state slot for the record (no sharing between cores), one per address family
// so that A and AAAA rotate independently. The variant is the cursor's position in the
// eligible set; it advances per query, cache hit or miss.
#include "common.hh"

namespace gslbd::policies {
namespace {

class RoundRobin final : public OneOfEligible {
  public:
    std::string_view name() const noexcept override { return "roundrobin"; }
    std::uint32_t state_words(const gslb::RecordRt&) const override { return 2; }
    std::uint32_t variant(const gslb::SelectContext& ctx,
                          const gslb::Decision&) const noexcept override {
        const auto n = static_cast<std::uint32_t>(ctx.eligible.size());
        const std::span<std::uint64_t> cursors = ctx.state();
        const std::size_t k = ctx.af == 6 ? 1 : 0;
        // An unprepared worker state still answers (without rotation) rather than crash.
        // The cursor counts in 32 bits; the word just holds it.
        const auto cursor = k < cursors.size() ? static_cast<std::uint32_t>(cursors[k]++) : 0u;
        return cursor % n;
    }
    void explain(const gslb::SelectContext& ctx, const gslb::Decision& d,
                 gslb::Explanation& out) const override {
        out.per_query = true;
        out.notes.emplace_back("rule",
                               "one eligible backend per answer, in turn (a cursor per "
                               "worker, record and address family)");
        out.notes.emplace_back("turn", position(d.variant, ctx.eligible.size()));
    }
};

}  // namespace

GSLBD_REGISTER_POLICY("roundrobin", RoundRobin, "round-robin", "round_robin")

}  // namespace gslbd::policies
