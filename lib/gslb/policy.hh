#pragma once
/// The selection-mode plug-in interface. Each mode is one file in policies/ that
/// implements Policy and registers itself with GSLBD_REGISTER_POLICY; nothing else in
/// the tree names a mode.
#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
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

/// Mutable per-worker state policies may use (never shared between threads): the worker's
/// RNG and one slot of 64-bit words per record, owned by the record's policy (its size is
/// Policy::state_words(), laid out in the topology: RecordRt::state_offset/state_words).
struct DecisionMemo;

class WorkerState {
  public:
    explicit WorkerState(std::uint64_t seed) : rng(seed) {}
    util::Rng rng;
    /// The backends (BackendRt::id) the last build() handed out in address answers (A,
    /// AAAA; fail-open answers included): build() resets and fills it, the pipeline counts
    /// them (Topology::answers) and keeps them with a cached answer.
    std::array<std::uint32_t, 64> picked;  // left uninitialised past picked_count
    std::uint16_t picked_count = 0;
    /// The city database's places of recent clients (geo::PlaceMemo): prepare() makes it
    /// for the first topology with a city database; null until then (the geo modes then
    /// look the client up directly). A copy of the state starts without one: a memo is
    /// never shared between workers.
    struct OwnMemo : std::unique_ptr<geo::PlaceMemo> {
        OwnMemo() = default;
        OwnMemo(const OwnMemo&) noexcept : std::unique_ptr<geo::PlaceMemo>() {}
        OwnMemo(OwnMemo&&) noexcept = default;
        OwnMemo& operator=(const OwnMemo&) noexcept {
            reset();
            return *this;
        }
        OwnMemo& operator=(OwnMemo&&) noexcept = default;
    };
    OwnMemo places;
    static constexpr std::size_t kPlaceMemoSlots = 1024;
    /// Recent plans of by_client() records per (snapshot, record, family, client): see
    /// DecisionMemo. Null (no memo) unless enable_decision_memo() was called; a copy of
    /// the state starts without one.
    struct OwnDecisions : std::unique_ptr<DecisionMemo> {
        OwnDecisions() = default;
        OwnDecisions(const OwnDecisions&) noexcept : std::unique_ptr<DecisionMemo>() {}
        OwnDecisions(OwnDecisions&&) noexcept = default;
        OwnDecisions& operator=(const OwnDecisions&) noexcept {
            reset();
            return *this;
        }
        OwnDecisions& operator=(OwnDecisions&&) noexcept = default;
    };
    OwnDecisions decisions;
    /// Allocates the decision memo (once). For a state whose snapshots are identified by
    /// (address, generation), as a Pipeline's are: the memo trusts that identity.
    void enable_decision_memo();

    /// True when the slots are laid out for `topo` (prepare() would do nothing). Per packet.
    bool ready(const Topology& topo) const noexcept {
        return prepared_for_ == &topo && words_.size() == topo.state_words;
    }
    /// Sizes the slots for `topo`: allocates only when the topology changes, then fills
    /// every slot with random words (so that workers and reloads do not all start in step).
    /// The size check guards against a new topology allocated at a freed one's address.
    void prepare(const Topology& topo);
    /// The slot of `rec`, whose policy owns it; empty when this state was never prepared
    /// for a topology that large (a mode then answers without its state). Never allocates.
    std::span<std::uint64_t> state(const RecordRt& rec) noexcept {
        const std::size_t end = std::size_t{rec.state_offset} + rec.state_words;
        if (end > words_.size()) return {};
        return {words_.data() + rec.state_offset, rec.state_words};
    }
    /// The topology prepare() last laid the slots out for.
    const Topology* prepared_for() const noexcept { return prepared_for_; }

  private:
    std::vector<std::uint64_t> words_;
    const Topology* prepared_for_ = nullptr;
};

inline constexpr std::size_t kMaxAnswers = 64;  ///< most address RRs in one answer
static_assert(kMaxAnswers <= std::tuple_size_v<decltype(WorkerState::picked)>);

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
    std::span<const BackendRt> family;        ///< rec.v4 or rec.v6
    std::span<const std::uint16_t> eligible;  ///< indices into `family` a mode may pick from
    const ClientInfo& client;
    WorkerState& ws;
    std::uint8_t af = 4;  ///< 4: an A query, `family` is rec.v4; 6: AAAA, rec.v6

    /// This worker's state slot for the record (see Policy::state_words()).
    std::span<std::uint64_t> state() const noexcept { return ws.state(rec); }
};

/// A selection split in three so the response cache can key on what the answer depends on
/// (see Policy). `decision_class` and `scope` come from classify(), `variant` from variant().
struct Decision {
    std::uint32_t decision_class = 0;  ///< 0 = the same for every client
    std::uint8_t scope = 0;            ///< ECS scope of the classification
    std::uint32_t variant = 0;         ///< which of the mode's deterministic answers
};

/// The plans of recent clients of by_client() records, direct-mapped by (record, family,
/// client): what engine.cc's plan of an address query found (eligible set, fallback,
/// decision) for one snapshot. A client asking again while the snapshot stays gets the
/// same plan without the geo lookups or hashes. An entry is only trusted for the same
/// snapshot (address and generation), record, family and ClientInfo; a new snapshot
/// (health, overrides, reload) makes every entry stale at once.
struct DecisionMemo {
    static constexpr std::size_t kSlots = 256;    ///< a power of two
    static constexpr std::size_t kEligible = 16;  ///< larger eligible sets are not kept
    struct Entry {
        const void* snap = nullptr;  ///< nullptr: empty
        std::uint64_t generation = 0;
        const void* rec = nullptr;
        ClientInfo client;
        bool v4 = false;
        bool fallback = false;
        bool address = false;
        bool cacheable = false;
        std::uint8_t split = 0;  ///< Plan::split
        std::uint16_t count = 0;
        Decision decision;
        std::array<std::uint16_t, kEligible> eligible{};
    };
    std::array<Entry, kSlots> slots{};
};

/// What a mode says about one decision, for the control API's explain (lib/ctl): words for
/// a person, not parsed by anything. Control side only (allocates).
struct Explanation {
    std::vector<std::pair<std::string, std::string>> notes;  ///< (what, text), in order
    /// The variant is drawn per query: another query may get another eligible backend.
    bool per_query = false;
    /// classify() looks the client up in the topology's geo databases: explain then shows
    /// what each of them says about the client.
    bool consults_geo = false;
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
    /// True when classify() and variant() are functions of the snapshot, the record's
    /// family, its eligible set and ctx.client alone (no RNG, no per-worker cursor): the
    /// engine may then reuse a decision for the same client while the snapshot stays
    /// (WorkerState's decision memo), skipping the geo lookups and the hashing.
    virtual bool by_client() const noexcept { return false; }
    /// True when the mode reads a record's `geo_priority` (RecordRt::geo_best_priority); a
    /// record of another mode that writes the key itself is refused when it is loaded.
    virtual bool reads_geo_priority() const noexcept { return false; }
    /// True when the mode splits a record's answers by the backends' effective weights
    /// (weighted, ip-hash): a traffic shift then lowers the targets' weight (Health::ramp).
    /// For every other mode a shift moves a share of the clients instead (Health::split).
    virtual bool splits_by_weight() const noexcept { return false; }
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
    /// Per-worker state this mode keeps for `rec`, in 64-bit words (ctx.state() while
    /// selecting; e.g. roundrobin: one cursor per address family). Asked once when the
    /// topology is built; the default keeps none.
    virtual std::uint32_t state_words(const RecordRt& rec) const {
        (void)rec;
        return 0;
    }
    /// Describes decision `d` (from classify() and variant() on `ctx`) for explain. Control
    /// side; must not change ctx.ws. The default says nothing.
    virtual void explain(const SelectContext& ctx, const Decision& d, Explanation& out) const {
        (void)ctx, (void)d, (void)out;
    }
};

using PolicyFactory = std::unique_ptr<Policy> (*)();
/// Registers a mode under `name` and the other spellings in `aliases` (matched like the
/// name: without regard to ASCII case); returns true (for static initialisers). False,
/// changing nothing, when the name is taken. An alias already taken is skipped.
bool register_policy(std::string_view name, PolicyFactory factory,
                     std::initializer_list<std::string_view> aliases = {});
/// The single instance of mode `name` (exactly as registered), or nullptr.
const Policy* find_policy(std::string_view name) noexcept;
/// The mode a config names: `written` matched against the names and aliases without
/// regard to ASCII case ("Round-Robin" -> roundrobin), or nullptr. Control side.
const Policy* resolve_policy(std::string_view written);
/// The registered names (not the aliases), sorted.
std::vector<std::string> policy_names();

}  // namespace gslbd::gslb

/// Registers CLASS (default-constructible, derived from gslb::Policy) as mode NAME, with
/// optional alias spellings after it: GSLBD_REGISTER_POLICY("roundrobin", RoundRobin,
/// "round-robin"). Use once per class, at namespace scope; CLASS must be an identifier.
#define GSLBD_REGISTER_POLICY(NAME, CLASS, ...)                                               \
    namespace {                                                                               \
    [[maybe_unused]] const bool gslbd_registered_##CLASS = ::gslbd::gslb::register_policy(    \
        NAME,                                                                                 \
        []() -> std::unique_ptr<::gslbd::gslb::Policy> { return std::make_unique<CLASS>(); }, \
        {__VA_ARGS__});                                                                       \
    }
