#pragma once
/// The immutable world a worker answers from: zones, records, backends (Topology) plus
/// the health verdicts (Health), stamped with a generation. Built on the control side,
/// published over RCU (gslb/publish.hh), read by workers without locks.
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/model.hh"
#include "dns/types.hh"
#include "edge/guard.hh"
#include "geo/geo.hh"
#include "gslb/name_index.hh"
#include "util/addr.hh"
#include "util/compact_vector.hh"
#include "util/hash.hh"
#include "zone/contents.hh"
#include "zone/zone.hh"

namespace gslbd::gslb {

class Policy;

/// Most A (or AAAA) backends one record may list: the engine keeps its eligible set on
/// the stack. build_topology rejects records with more.
inline constexpr std::size_t kMaxFamilyBackends = 1024;

/// A domain name in lower-case wire format.
struct WireName {
    std::array<std::uint8_t, dns::kMaxNameWire> bytes{};
    std::uint8_t len = 0;
    std::span<const std::uint8_t> span() const noexcept { return {bytes.data(), len}; }
    std::string_view view() const noexcept {
        return {reinterpret_cast<const char*>(bytes.data()), len};
    }
    /// From config text ("www.example.com."); throws config::ConfigError on a bad name.
    static WireName from_text(const std::string& text, const config::SourcePos& pos,
                              const std::string& field);
};

/// A lower-case wire name kept in its topology's name arena (Topology::name_bytes): 16 bytes
/// where a WireName takes 256, for the names every record has.
struct WireNameRef {
    const std::uint8_t* data = nullptr;
    std::uint8_t len = 0;
    std::span<const std::uint8_t> span() const noexcept { return {data, len}; }
    std::string_view view() const noexcept { return {reinterpret_cast<const char*>(data), len}; }
    bool empty() const noexcept { return len == 0; }
};

/// A backend's `subdivision`: the code (geo::pack_subdivision) and the country it belongs
/// to (geo::pack_code; 0 = any: written without a country on a backend that names none).
struct SubdivisionRt {
    std::uint16_t country = 0;
    std::uint32_t code = 0;
    bool operator==(const SubdivisionRt&) const = default;
};

/// A hash of an address (family and bytes, through util::mix64; never 0 in practice):
/// ip-hash's key for clients and backends.
inline std::uint64_t address_hash(const util::IpAddr& a) noexcept {
    std::uint64_t hi = 0, lo = 0;
    std::memcpy(&hi, a.bytes.data(), 8);
    std::memcpy(&lo, a.bytes.data() + 8, 8);
    return util::mix64(util::mix64(hi ^ a.family) ^ lo);
}

struct BackendRt {
    util::IpAddr addr;
    std::uint32_t id = 0;  ///< index into Health::up, unique across the topology
    std::int32_t priority = 0;
    std::uint32_t weight = 1;  ///< effective weight, >= 1
    bool enabled = true;
    // geo keys, resolved at build time; CompactVectors (one pointer when empty: most
    // backends have none)
    util::CompactVector<std::int32_t> locations;    ///< LocationMap ids
    util::CompactVector<std::uint16_t> countries;   ///< geo::pack_code
    util::CompactVector<std::uint16_t> continents;  ///< geo::pack_code
    util::CompactVector<std::string> cities;
    util::CompactVector<std::uint32_t> asns;
    util::CompactVector<SubdivisionRt> subdivisions;
    /// `latitude` / `longitude` (degrees as configured, and as a unit vector for the
    /// nearest-backend steps); has_coords false when the backend has none.
    bool has_coords = false;
    double latitude = 0, longitude = 0;
    geo::UnitVector point;
    /// address_hash(addr), computed once when the topology is built (0: not computed).
    std::uint64_t addr_hash = 0;
    const config::Backend* cfg = nullptr;  ///< points into Topology::config
};

/// A record's backends of one address family: an immutable array that topologies share (a
/// reload builds a new topology in which an unchanged record keeps its backends and their
/// ids: build_topology's `previous`). Read like a vector (contiguous: std::span takes it); the
/// hot path pays nothing for the sharing (the array pointer is held here, as a vector's is).
/// The writers (push_back, building and tests) copy the array first.
class BackendList {
  public:
    BackendList() = default;
    BackendList(std::vector<BackendRt> v);  // NOLINT: implicit, a vector of backends is one
    const BackendRt* begin() const noexcept { return p_.get(); }
    const BackendRt* end() const noexcept { return p_.get() + n_; }
    const BackendRt* data() const noexcept { return p_.get(); }
    std::size_t size() const noexcept { return n_; }
    bool empty() const noexcept { return n_ == 0; }
    const BackendRt& operator[](std::size_t i) const noexcept { return p_[i]; }
    const BackendRt& front() const noexcept { return p_[0]; }
    const BackendRt& back() const noexcept { return p_[n_ - 1]; }
    /// Appends a copy of `b` (copies the array: the topology being built, and tests).
    void push_back(const BackendRt& b);
    /// Backend `i` to change (tests): the array is copied first when another list shares it.
    BackendRt& edit(std::size_t i);
    /// True when both hold the same array (shared between topologies).
    bool shares(const BackendList& o) const noexcept { return p_ == o.p_ && n_ == o.n_; }

  private:
    std::shared_ptr<const BackendRt[]> p_;
    std::uint32_t n_ = 0;
};

/// A record's `alpn` SvcParam value in wire format (length-prefixed ids), immutable and shared
/// by the records with the same list: most have the default (h3, h2) and share one array, so
/// a record costs a pointer here, not a heap block of its own. Empty when default-constructed.
class AlpnWire {
  public:
    AlpnWire() = default;
    explicit AlpnWire(std::shared_ptr<const std::vector<std::uint8_t>> p) : p_(std::move(p)) {}
    const std::uint8_t* data() const noexcept { return p_ != nullptr ? p_->data() : nullptr; }
    std::size_t size() const noexcept { return p_ != nullptr ? p_->size() : 0; }

  private:
    std::shared_ptr<const std::vector<std::uint8_t>> p_;
};

struct FallbackRt {
    config::FallbackMode mode = config::FallbackMode::FailOpen;
    dns::Rcode rcode = dns::Rcode::ServFail;
    /// `fail-specific` addresses by family (one pointer each when empty, as in most records)
    util::CompactVector<util::IpAddr> v4, v6;
    WireNameRef cname;
};

struct RecordRt {
    std::uint32_t id = 0;  ///< index into Topology::records
    WireNameRef name;
    std::uint32_t ttl = 30;
    const Policy* policy = nullptr;
    /// policy->by_client(), asked once here rather than per query (the decision memo)
    bool by_client = false;
    /// `geo_priority: best`: geoip's steps that match several backends answer only the
    /// best priority among them (false: all of them, as CoreDNS-GSLB)
    bool geo_best_priority = false;
    BackendList v4, v6;  ///< A and AAAA candidates, in config order
    FallbackRt fallback;
    /// HTTPS/SVCB answers (RFC 9460): the `alpn` SvcParam's value in wire format (length-
    /// prefixed ids; the config's list or h3, h2: one array shared by every record with the
    /// default) and the `port` (the first backend in config order that has one; 0 = no port
    /// SvcParam).
    AlpnWire svcb_alpn;
    std::uint16_t svcb_port = 0;
    const config::Record* cfg = nullptr;
    /// This record's slot in every worker's WorkerState (in 64-bit words): sized by
    /// policy->state_words() when the topology is built, owned by the record's policy.
    std::uint32_t state_offset = 0;
    std::uint32_t state_words = 0;
};

struct NsRt {
    WireName name;
    std::vector<util::IpAddr> glue;  ///< only when the name is inside the zone
};

/// A zone's names by what they are (build_topology fills them; index_names() reads them): the
/// views point into `arena` (the topology's name arena, Topology::name_bytes), so topologies
/// whose names are the same at the same positions share one ZoneNames per zone (a reload that
/// changes backends, not names).
struct ZoneNames {
    /// The bytes the views below point into (kept alive with them).
    std::shared_ptr<const std::vector<std::uint8_t>> arena;
    /// lower-case wire name -> record id (into Topology::records)
    std::unordered_map<std::string_view, std::uint32_t> records;
    /// empty non-terminals (names with records below them but none of their own): NODATA
    std::unordered_map<std::string_view, bool> ents;
    /// in-zone NS names with glue -> index into ZoneRt::ns
    std::unordered_map<std::string_view, std::uint32_t> ns_names;
};

struct ZoneRt {
    WireName name;
    std::uint8_t labels = 0;
    WireName soa_mname, soa_rname;
    config::Soa soa;
    std::vector<NsRt> ns;
    std::uint32_t ns_ttl = 3600;
    /// The zone's records, empty non-terminals and in-zone NS names (never null in a built
    /// topology; shared with the previous topology when the names are the same).
    std::shared_ptr<const ZoneNames> names;
    /// The zone's static data (config `file:`), GSLB names included as nodes; nullptr for a
    /// zone of GSLB records only. With it the engine answers every name of the zone from it
    /// (soa/ns above are then the file's; `ns` stays empty: the apex NS RRset is in `stat`).
    std::shared_ptr<const zone::StaticZone> stat;
    /// A secondary zone (config `primaries:`): NOTIFY is accepted from these addresses.
    std::vector<util::IpAddr> primaries;
    /// A secondary zone with no data yet or whose data expired: every name of it is
    /// answered SERVFAIL (as BIND and Knot do), docs/zones.md.
    bool servfail = false;
};

/// How often each backend (by BackendRt::id) was handed out in an answer: one row of
/// counters per stripe, each row starting on its own cache line, so that workers (one stripe
/// each, Pipeline) add without sharing lines and without locks. The control side sums the
/// rows at scrape time with relaxed loads. Owned by a topology: a reload starts from 0.
class AnswerCounts {
  public:
    static constexpr std::size_t kMaxStripes = 64;
    /// `stripes` rounded up to a power of two in 1..kMaxStripes. Allocates backends * stripes
    /// counters.
    AnswerCounts(std::size_t backends, std::size_t stripes);
    std::size_t stripes() const noexcept { return stripes_; }
    std::size_t backends() const noexcept { return backends_; }
    /// The row of stripe `s` (taken modulo stripes()).
    std::uint64_t* row(std::size_t s) const noexcept {
        return data_.get() + (s & (stripes_ - 1)) * stride_;
    }
    /// Sum over the stripes for backend `id` (relaxed loads; 0 for an unknown id).
    std::uint64_t total(std::uint32_t id) const noexcept;

  private:
    struct Free {
        void operator()(std::uint64_t* p) const noexcept;
    };
    std::size_t backends_ = 0, stripes_ = 1, stride_ = 0;
    std::unique_ptr<std::uint64_t[], Free> data_;
};

/// Queries per (record, address family, decision class) (issue 18's plan, docs/gradual.md):
/// what share of recent queries a change would answer differently. One fixed table of
/// 256-byte slots per stripe (open addressing, a few probes, no allocation after
/// construction), claimed with a compare-and-swap the first time a class is seen and counted
/// with relaxed atomic adds like AnswerCounts. Each slot keeps a sample of up to kSamples
/// clients of its class (reservoir sampling: the n-th query replaces a uniformly chosen
/// sample with probability kSamples / n, chosen by a hash of n, no random state), so the plan
/// can tell the share of a class a change moves (a class that a change splits, as ip-hash's
/// classes under a weight change). Owned by a topology: a reload starts from 0. A class that
/// finds no free slot within the probes is counted in `overflow()`.
class ClassCounts {
  public:
    static constexpr std::size_t kMaxStripes = 64;
    static constexpr std::size_t kProbes = 8;
    static constexpr std::size_t kSamples = 8;
    /// `slots` per stripe rounded up to a power of two (at least 8), `stripes` as for
    /// AnswerCounts. Allocates slots * stripes * 256 bytes.
    ClassCounts(std::size_t slots, std::size_t stripes);
    /// The key of one class: never 0 (0 marks a free slot).
    static constexpr std::uint64_t key_of(std::uint32_t record, std::uint8_t af,
                                          std::uint32_t decision_class) noexcept {
        return (std::uint64_t{record} + 1) << 33 | std::uint64_t{af == 6 ? 1u : 0u} << 32 |
               decision_class;
    }
    /// One query of class `key` in stripe `s` by `client` (kept in the class's sample as
    /// reservoir sampling says). Per packet: no lock, no allocation; a few instructions more
    /// than a count, a sample written rarely (at most kSamples * ln(n / kSamples) times in
    /// n queries of a class).
    void add(std::size_t s, std::uint64_t key, const util::IpAddr& client,
             std::uint8_t source_prefix, bool from_ecs) noexcept {
        Slot* r = row(s);
        // Fibonacci hashing: the key's bits are few and regular, one multiply spreads them
        std::size_t i =
            static_cast<std::size_t>((key * 0x9e3779b97f4a7c15ull) >> 32) & (slots_ - 1);
        for (std::size_t probe = 0; probe < kProbes; ++probe, i = (i + 1) & (slots_ - 1)) {
            Slot& slot = r[i];
            std::uint64_t k =
                std::atomic_ref<std::uint64_t>(slot.key).load(std::memory_order_relaxed);
            if (k == 0 && std::atomic_ref<std::uint64_t>(slot.key).compare_exchange_strong(
                              k, key, std::memory_order_relaxed))
                k = key;  // claimed, once per class
            if (k == key) {
                const std::uint64_t n = std::atomic_ref<std::uint64_t>(slot.count)
                                            .fetch_add(1, std::memory_order_relaxed);
                // the (n+1)-th query: a sample index uniform in [0, n], kept when < kSamples
                std::uint64_t j = n;
                if (n >= kSamples) {
                    std::uint64_t h = (n ^ key << 7) * 0x9e3779b97f4a7c15ull;
                    h ^= h >> 29;
                    j = static_cast<std::uint64_t>((static_cast<unsigned __int128>(h) * (n + 1)) >>
                                                   64);
                }
                if (j < kSamples) [[unlikely]]
                    keep(slot.samples[j], client, source_prefix, from_ecs);
                return;
            }
        }
        std::atomic_ref<std::uint64_t>(r[slots_].count).fetch_add(1, std::memory_order_relaxed);
    }

    /// A sampled client of a class; `weight`: the queries it stands for (its stripe's count
    /// over the samples kept there).
    struct Sample {
        util::IpAddr client;
        std::uint8_t source_prefix = 32;
        bool from_ecs = false;
        double weight = 1;
    };
    /// One class summed over the stripes, with its sampled clients (`client`: the first).
    struct Entry {
        std::uint32_t record = 0;  ///< RecordRt::id
        std::uint8_t af = 4;       ///< 4: A queries, 6: AAAA
        std::uint32_t decision_class = 0;
        std::uint64_t queries = 0;
        util::IpAddr client;
        std::uint8_t source_prefix = 32;
        bool from_ecs = false;
        std::vector<Sample> samples;  ///< up to kSamples per stripe
    };
    /// Every class seen, summed over the stripes (relaxed loads). Control side; allocates.
    std::vector<Entry> collect() const;
    /// Queries whose class found no slot.
    std::uint64_t overflow() const noexcept;
    /// When the counting began (seconds of the steady clock).
    double since() const noexcept { return since_; }

  private:
    /// meta: 0 empty, kBusy while written, else 1 | family << 8 | prefix << 16 | from_ecs << 24
    /// | writes << 32 (a reader that sees it change skips the sample: a seqlock).
    struct SampleSlot {
        std::uint64_t a0, a1, meta;
    };
    static constexpr std::uint64_t kBusy = 2;
    struct alignas(64) Slot {
        std::uint64_t key, count;  ///< the first cache line: all that most queries touch
        SampleSlot samples[kSamples];
        std::uint64_t pad[6];
    };
    static_assert(sizeof(Slot) == 256);
    struct Free {
        void operator()(Slot* p) const noexcept;
    };
    /// Writes `client` into a sample: claimed by a CAS to kBusy (a concurrent writer skips),
    /// meta last, released.
    static void keep(SampleSlot& smp, const util::IpAddr& client, std::uint8_t source_prefix,
                     bool from_ecs) noexcept;
    Slot* row(std::size_t s) const noexcept {
        return data_.get() + (s & (stripes_ - 1)) * (slots_ + 1);
    }
    std::size_t slots_ = 8, stripes_ = 1;
    double since_ = 0;
    std::unique_ptr<Slot[], Free> data_;  ///< per stripe: slots_ slots, then the overflow slot
};

/// "Someone asked for this record since the control side last looked", per record id: the
/// workers mark, the health monitor takes the marks to probe quiet records less often
/// (`health.resolution_idle_timeout`). One byte per record; a worker only reads the byte
/// and writes it when it is clear, so a busy record's line is written once per sweep of the
/// monitor, not once per query: no locked instruction and no line bouncing per packet.
class QueryMarks {
  public:
    explicit QueryMarks(std::size_t n) : flags_(new std::atomic<std::uint8_t>[n]()), size_(n) {}
    void mark(std::uint32_t id) const noexcept {
        std::atomic<std::uint8_t>& f = flags_[id];
        if (f.load(std::memory_order_relaxed) == 0) f.store(1, std::memory_order_relaxed);
    }
    /// Whether `id` was marked since the last take (and clears it). Control side only.
    bool take(std::uint32_t id) const noexcept {
        return id < size_ && flags_[id].exchange(0, std::memory_order_relaxed) != 0;
    }
    std::size_t size() const noexcept { return size_; }

  private:
    std::unique_ptr<std::atomic<std::uint8_t>[]> flags_;
    std::size_t size_;
};

/// Zones, records and backends. Immutable (but for the answer counters); shared between
/// snapshots of one config.
struct Topology {
    std::shared_ptr<const config::Config> config;
    std::shared_ptr<const geo::GeoDbs> geo;
    /// What the secondary zones were built from (build_topology's argument; may be null).
    std::shared_ptr<const zone::Secondaries> secondaries;
    std::vector<ZoneRt> zones;
    std::vector<RecordRt> records;
    /// The records' names, CNAME fallback targets and in-zone NS names with glue, back to back
    /// (sized once, never moves: RecordRt::name, FallbackRt::cname and the zones' maps point
    /// into it). Shared with the previous topology, with the zones' ZoneNames and the name
    /// index, when build_topology finds the same names at the same positions (names_shared).
    std::shared_ptr<const std::vector<std::uint8_t>> name_bytes;
    /// One more than the highest backend id (the size of Health::up). Ids are stable over a
    /// reload for the backends of unchanged records, so ids of removed backends may be
    /// unused (holes, counted up): find backends through `records`, never by counting ids.
    std::uint32_t backend_count = 0;
    /// Backends of all records (without the holes of backend_count).
    std::uint32_t backends = 0;
    /// Records whose backends build_topology took from `previous` (shared arrays, the same
    /// ids), for the reload log.
    std::uint32_t records_shared = 0;
    /// True when build_topology took the name arena, the zones' ZoneNames and the name index
    /// from `previous` (the same zones, records, fallback CNAMEs and NS names at the same
    /// positions) instead of building them.
    bool names_shared = false;
    // options copied from config for the hot path
    std::uint16_t edns_udp_size = dns::kDefaultEdnsUdpSize;
    bool ecs_enabled = true;
    std::vector<util::IpPrefix> ecs_trust;  ///< empty = all
    bool debug_txt = false;
    /// Edge protection (ACL, RRL, cookies) built from the config; nullptr when none is
    /// configured, so the pipeline skips it all with one branch.
    std::shared_ptr<const edge::Rules> edge;
    /// lower-case wire zone name (view into zones[i].name) -> index into zones
    std::unordered_map<std::string_view, std::uint32_t> zone_index;
    /// Every name of every zone with what it is (see NameIndex), built from the maps above
    /// by index_names() (build_topology calls it, or shares the previous topology's: copies of
    /// a NameIndex share its table). The engine looks names up only here.
    NameIndex names;
    /// Sum of the records' state_words: the per-worker policy state one WorkerState holds.
    std::size_t state_words = 0;
    /// Answers per backend (build_topology sizes it: config `workers` + 2 stripes; a copy of
    /// the topology shares them); nullptr
    /// in topologies assembled by hand (then nothing is counted).
    std::shared_ptr<AnswerCounts> answers;
    /// Queries per decision class (same stripes as `answers`); nullptr in topologies
    /// assembled by hand.
    std::shared_ptr<ClassCounts> classes;
    /// One mark per record (by RecordRt::id) when the config slows probes of idle records
    /// (health.healthcheck_idle_multiplier > 1 and a resolution_idle_timeout); null otherwise.
    std::shared_ptr<const QueryMarks> marks;

    /// Longest zone that contains `lname` (lower-case wire), or nullptr.
    const ZoneRt* find_zone(const std::uint8_t* lname, std::size_t len) const noexcept;
};

/// An operator's override of one backend (set through the control API, lib/ctl).
enum class AdminState : std::uint8_t {
    Enabled = 0,   ///< no override: health decides
    Disabled = 1,  ///< never answered, not even by a fail-open fallback
    Drained = 2,   ///< out of normal answers (still probed); a fail-open last resort only
};

/// "enabled", "disabled", "drained".
std::string_view to_string(AdminState s) noexcept;

/// What the control side's gradual tracker (health/gradual.hh) knows of one backend, for
/// status and explain only: workers never read it. Times are seconds of the steady clock
/// (health::steady_seconds()).
struct GradualNote {
    double penalty = 0, penalty_at = 0;  ///< flap damping: penalty at that time (it decays)
    std::uint32_t flaps = 0;             ///< up/down changes counted since start or reload
    bool suppressed = false;
    double reuse_at = 0;                   ///< suppressed: when the penalty decays under reuse
    double ramp_from = 0, ramp_until = 0;  ///< slow start in progress when ramp_until > now
    std::uint32_t ramp_percent = 100;      ///< slow start's own percent (Health::ramp: product)
    double changed_at = -1;                ///< last verdict or usability change (-1: none)
    /// health scores (scoring): the percent kept and its inputs; samples 0 = no score
    std::uint32_t score = 100, samples = 0;
    double success = 1, latency_ms = 0;
    double load = -1;  ///< the load gauge's newest value (< 0: none read)
};

/// Up/down verdict per backend id (1 = up). All up until lib/health publishes otherwise.
struct Health {
    std::vector<std::uint8_t> up;
    /// Operator overrides by backend id (lib/ctl; empty = none).
    std::vector<AdminState> admin;
    /// Weight overrides by backend id (empty or 0 = the configured BackendRt::weight).
    std::vector<std::uint32_t> weight;
    /// Slow start and health scores by backend id (docs/gradual.md): the percent of its
    /// weight in force (their product), 1..99; 0 or past the end = the full weight.
    std::vector<std::uint8_t> ramp;
    /// dynamic_ttl: the TTL of address answers by record id * 2 + (AAAA ? 1 : 0) while they
    /// may change soon; 0 or past the end = the record's TTL.
    std::vector<std::uint32_t> short_ttl;
    /// By backend id, for status and explain (empty when no record moves gradually).
    std::vector<GradualNote> notes;
    /// Traffic shifts (POST /api/v1/shift, docs/gradual.md), by backend id, for status and
    /// metrics: the percent of its weight a shift leaves the backend, kNoShift when none
    /// (empty while no shift runs). Workers read only the result, folded into ramp (and a
    /// backend a shift moved entirely away is published drained in admin).
    static constexpr std::uint8_t kNoShift = 255;
    std::vector<std::uint8_t> shift;
    /// Traffic shifts of records whose mode does not split its answers by weight
    /// (Policy::splits_by_weight() false: failover, geoip, ...), by backend id: the percent
    /// m (1..99) of clients that treat the backend as unavailable, those whose bucket
    /// (split_bucket() in gslb/engine.hh: a hash of the client's /24, /56 or ECS prefix,
    /// 0..99) is below m. 0 or past the end: none. Empty while no such shift runs, so the
    /// engine checks one empty vector per address query and nothing else.
    std::vector<std::uint8_t> split;

    /// The override of backend `id` (Enabled when there is none).
    AdminState state_of(std::uint32_t id) const noexcept {
        return id < admin.size() ? admin[id] : AdminState::Enabled;
    }
};

struct Snapshot {
    std::uint64_t generation = 0;
    std::shared_ptr<const Topology> topo;
    std::shared_ptr<const Health> health;
    /// The health verdict of `b`. An id the health vector does not cover counts as up:
    /// health only ever marks backends down, and "all up" is the state before the first
    /// verdict.
    bool backend_up(const BackendRt& b) const noexcept {
        return health == nullptr || b.id >= health->up.size() || health->up[b.id] != 0;
    }
    /// The operator's override of `b` (Enabled when there is none).
    AdminState backend_state(const BackendRt& b) const noexcept {
        return health != nullptr ? health->state_of(b.id) : AdminState::Enabled;
    }
    /// The weight selection uses: the override when set, else the configured weight (>= 1).
    std::uint32_t weight_of(const BackendRt& b) const noexcept {
        const std::uint32_t w =
            health != nullptr && b.id < health->weight.size() ? health->weight[b.id] : 0;
        return w != 0 ? w : b.weight;
    }
    /// True when some backend is in slow start (Health::ramp not empty): the weighted modes
    /// check it once per query and otherwise keep to weight_of().
    bool ramping() const noexcept { return health != nullptr && !health->ramp.empty(); }
    /// True while a traffic shift splits clients (Health::split not empty): the engine
    /// checks it once per address query and otherwise skips the split.
    bool splitting() const noexcept { return health != nullptr && !health->split.empty(); }
    /// weight_of() times the slow start percent in force (100 when none): what the weighted
    /// modes draw with. Scaling every weight by 100 keeps their proportions.
    std::uint64_t effective_weight(const BackendRt& b) const noexcept {
        const std::uint8_t r =
            health != nullptr && b.id < health->ramp.size() ? health->ramp[b.id] : 0;
        return std::uint64_t{weight_of(b)} * (r != 0 ? r : 100u);
    }
    /// The TTL of `rec`'s address answers of family `af` (4 or 6): shortened by dynamic_ttl
    /// while they may change soon, else the record's.
    std::uint32_t ttl_of(const RecordRt& rec, std::uint8_t af) const noexcept {
        const std::size_t i = std::size_t{rec.id} * 2 + (af == 6 ? 1 : 0);
        const std::uint32_t t =
            health != nullptr && i < health->short_ttl.size() ? health->short_ttl[i] : 0;
        return t != 0 ? t : rec.ttl;
    }
};

/// Builds a topology from a loaded config: resolves every record's policy by name
/// (resolve_policy(); unknown mode -> ConfigError at the record's `mode`), converts names,
/// resolves geo keys (a `location` the map never mentions -> ConfigError), assigns backend
/// ids and per-worker state slots, and indexes the names (index_names()).
/// `secondaries`: the transferred data of the config's secondary zones (lib/xfr); the
/// topology keeps the pointer (Topology::secondaries) so that a rebuild from it (pools)
/// serves the same data. A secondary zone without data (or expired) answers SERVFAIL.
/// `previous` (a reload, a pool change: the topology built from the configuration whose
/// Record objects `cfg` shares, or null): a record that is the same config::Record object
/// there, with the same location map, keeps its backend arrays and their ids (the other
/// records take free ids, then new ones); its checks run again all the same. When every zone,
/// record name, CNAME fallback target and in-zone NS name is the same as in `previous`, at the
/// same position, the name arena, the zones' ZoneNames and the name index are `previous`'s
/// (Topology::names_shared); any difference builds them anew.
std::shared_ptr<const Topology> build_topology(
    std::shared_ptr<const config::Config> cfg, std::shared_ptr<const geo::GeoDbs> geo,
    std::shared_ptr<const zone::Secondaries> secondaries = nullptr,
    const Topology* previous = nullptr);

/// Fills topo.names from the zones' maps (ZoneRt::names) and zone_index: for
/// every name, what it is in the zone that answers for it (the longest one containing it).
/// build_topology calls it; a topology assembled by hand (tests) calls it once its zones
/// are complete, since the engine finds names only through the index.
void index_names(Topology& topo);

/// Health with every backend up.
std::shared_ptr<const Health> all_up(const Topology& topo);

}  // namespace gslbd::gslb
