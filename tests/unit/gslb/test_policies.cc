// Deterministic policies for engine and pipeline tests, so those tests pin the engine's
// behaviour without depending on how the real modes in policies/ choose.
#include "test_policies.hh"

#include "config/model.hh"

namespace {

using namespace gslbd::gslb;

/// Everything eligible, in order; the answer does not depend on the client.
class AllPolicy final : public Policy {
  public:
    std::string_view name() const noexcept override { return kTestAll; }
    void select(const SelectContext& ctx, Selection& out) const noexcept override {
        for (auto i : ctx.eligible) out.add(i);
    }
};

/// The eligible backend whose priority equals the client's first address byte (else the
/// last eligible one); scope 8, decision class = that byte.
class ByClientPolicy final : public Policy {
  public:
    std::string_view name() const noexcept override { return kTestByClient; }
    void select(const SelectContext& ctx, Selection& out) const noexcept override {
        const int first = ctx.client.addr.bytes[0];
        std::uint16_t pick = ctx.eligible.back();
        for (auto i : ctx.eligible) {
            if (ctx.family[i].priority == first) pick = i;
        }
        out.add(pick);
        out.scope = 8;
        out.decision_class = static_cast<std::uint32_t>(first) + 1000;
    }
};

/// Refuses records without backends at build time.
class PickyPolicy final : public Policy {
  public:
    std::string_view name() const noexcept override { return kTestPicky; }
    void validate(const gslbd::config::Record& rec, const gslbd::config::Config&,
                  const gslbd::geo::GeoDbs*) const override {
        if (rec.backends.empty()) {
            throw gslbd::config::ConfigError(rec.pos, "backends", "test-picky wants backends");
        }
    }
    void select(const SelectContext& ctx, Selection& out) const noexcept override {
        out.add(ctx.eligible.front());
    }
};

}  // namespace

GSLBD_REGISTER_POLICY(kTestAll, AllPolicy)
GSLBD_REGISTER_POLICY(kTestByClient, ByClientPolicy)
GSLBD_REGISTER_POLICY(kTestPicky, PickyPolicy)
