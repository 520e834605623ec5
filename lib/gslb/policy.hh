#pragma once
/// The selection-mode plug-in interface. Each mode is one file in policies/ that
/// implements Policy and registers itself with GSLBD_REGISTER_POLICY; nothing else in
/// the tree names a mode.
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gslb/snapshot.hh"
#include "util/random.hh"

namespace gslbd::gslb {

/// Who we answer for: the ECS address when present and trusted, else the packet source.
struct ClientInfo {
    util::IpAddr addr;
    std::uint8_t source_prefix = 0;  ///< ECS source prefix, or 32/128 for a packet source
    bool from_ecs = false;
};

/// Mutable per-worker state policies may use (never shared between threads).
struct WorkerState {
    explicit WorkerState(std::uint64_t seed) : rng(seed) {}
    util::Rng rng;
    std::vector<std::uint32_t> rr;  ///< roundrobin cursor per record id
    const Topology* prepared_for = nullptr;
    /// Sizes per-record state for `topo`; allocates only when the topology changes.
    void prepare(const Topology& topo);
};

inline constexpr std::size_t kMaxAnswers = 64;  ///< most address RRs in one answer

struct Selection {
    std::array<std::uint16_t, kMaxAnswers> idx{};  ///< indices into SelectContext::family
    std::uint16_t count = 0;
    /// ECS scope: how many leading bits of the client address the choice depended on
    /// (0 when it does not depend on the client). The pipeline clamps it to the source.
    std::uint8_t scope = 0;
    /// What the choice depended on, for the response cache key (0 = any client).
    std::uint32_t decision_class = 0;
    void add(std::uint16_t i) noexcept {
        if (count < kMaxAnswers) idx[count++] = i;
    }
};

struct SelectContext {
    const Snapshot& snap;
    const RecordRt& rec;
    std::span<const BackendRt> family;       ///< rec.v4 or rec.v6
    std::span<const std::uint16_t> eligible; ///< indices into `family` a mode may pick from
    const ClientInfo& client;
    WorkerState& ws;
};

/// A selection split in three so the response cache can key on what the answer depends on
/// (see Policy). `decision_class` and `scope` come from classify(), `variant` from variant().
struct Decision {
    std::uint32_t decision_class = 0;  ///< 0 = the same for every client
    std::uint8_t scope = 0;            ///< ECS scope of the classification
    std::uint32_t variant = 0;         ///< which of the mode's deterministic answers
};

/// Cacheable modes (cacheable() == true) implement the three steps
///   classify(ctx, d)      -> d.decision_class, d.scope  (client lookups happen here)
///   variant(ctx, d)       -> which answer this query gets (may advance per-worker state:
///                            roundrobin cursor, RNG); called once per query, hit or miss
///   select_decided(ctx,d) -> the selection; deterministic: the same snapshot, eligible set,
///                            class and variant always give the same selection
/// so that a cache keyed on (name, type, class, variant) serves exactly what select() would
/// have, with the same distribution. Modes that only implement select() are never cached.
class Policy {
public:
    virtual ~Policy() = default;
    /// True when classify/variant/select_decided are implemented (see above).
    virtual bool cacheable() const noexcept { return false; }
    /// Step 1: fills d.decision_class and d.scope (defaults: 0, 0).
    virtual void classify(const SelectContext& ctx, Decision& d) const noexcept {
        (void)ctx, (void)d;
    }
    /// Step 2: the variant for this query, in [0, number of variants).
    virtual std::uint32_t variant(const SelectContext& ctx, const Decision& d) const noexcept {
        (void)ctx, (void)d;
        return 0;
    }
    /// Step 3: the deterministic selection for `d`; sets out.scope/decision_class from `d`.
    /// The default (for modes that are not cacheable) is select().
    virtual void select_decided(const SelectContext& ctx, const Decision& d,
                                Selection& out) const noexcept {
        (void)d;
        select(ctx, out);
    }
    virtual std::string_view name() const noexcept = 0;
    /// Rejects record settings this mode cannot serve (throw config::ConfigError).
    virtual void validate(const config::Record& rec, const config::Config& cfg,
                          const geo::GeoDbs* geo) const {
        (void)rec, (void)cfg, (void)geo;
    }
    /// Picks from ctx.eligible (never empty). Never allocates, throws or blocks.
    virtual void select(const SelectContext& ctx, Selection& out) const noexcept = 0;
};

using PolicyFactory = std::unique_ptr<Policy> (*)();
/// Registers a mode under `name`; returns true (for static initialisers).
bool register_policy(std::string_view name, PolicyFactory factory);
/// The single instance of mode `name`, or nullptr.
const Policy* find_policy(std::string_view name) noexcept;
std::vector<std::string> policy_names();

}  // namespace gslbd::gslb

#define GSLBD_REGISTER_POLICY(NAME, CLASS)                                               \
    namespace {                                                                         \
    [[maybe_unused]] const bool gslbd_registered_##CLASS = ::gslbd::gslb::register_policy( \
        NAME, []() -> std::unique_ptr<::gslbd::gslb::Policy> { return std::make_unique<CLASS>(); }); \
    }
