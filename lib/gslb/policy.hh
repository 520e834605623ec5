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

class Policy {
public:
    virtual ~Policy() = default;
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
