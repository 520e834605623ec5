// Deterministic policies for engine and pipeline tests, so those tests pin the engine's
// behaviour without depending on how the real modes in policies/ choose.
#include "test_policies.hh"

#include "config/model.hh"

namespace {

using namespace gslbd::gslb;

/// Everything eligible, in order; the answer does not depend on the client. Cacheable.
class AllPolicy final : public Policy {
  public:
    std::string_view name() const noexcept override { return kTestAll; }
    bool cacheable() const noexcept override { return true; }
    void select_decided(const SelectContext& ctx, const Decision&,
                        Selection& out) const noexcept override {
        for (auto i : ctx.eligible) out.add(i);
    }
    void select(const SelectContext& ctx, Selection& out) const noexcept override {
        select_decided(ctx, Decision{}, out);
    }
};

/// The eligible backend whose priority equals the client's first address byte (else the
/// last eligible one); scope 8, decision class = that byte + 1000. Cacheable.
class ByClientPolicy final : public Policy {
  public:
    std::string_view name() const noexcept override { return kTestByClient; }
    bool cacheable() const noexcept override { return true; }
    void classify(const SelectContext& ctx, Decision& d) const noexcept override {
        d.scope = 8;
        d.decision_class = static_cast<std::uint32_t>(ctx.client.addr.bytes[0]) + 1000;
    }
    void select_decided(const SelectContext& ctx, const Decision& d,
                        Selection& out) const noexcept override {
        const auto first = static_cast<std::int32_t>(d.decision_class) - 1000;
        std::uint16_t pick = ctx.eligible.back();
        for (auto i : ctx.eligible) {
            if (ctx.family[i].priority == first) pick = i;
        }
        out.add(pick);
        out.scope = d.scope;
        out.decision_class = d.decision_class;
    }
    void select(const SelectContext& ctx, Selection& out) const noexcept override {
        Decision d;
        classify(ctx, d);
        select_decided(ctx, d, out);
    }
};

/// Refuses records without backends at build time. Not cacheable (select() only).
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
