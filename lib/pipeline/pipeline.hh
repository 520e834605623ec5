#pragma once
/// One DNS message in, one response out: parse -> client (ECS) -> gslb -> build.
/// Both I/O backends (socket, DPDK) call this; it is the whole per-packet work.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "cache/cache.hh"
#include "dns/query.hh"
#include "dns/response.hh"
#include "edge/guard.hh"
#include "gslb/engine.hh"
#include "gslb/policy.hh"
#include "gslb/publish.hh"
#include "util/addr.hh"

namespace gslbd::pipeline {

/// Query types counted one by one in Counters::by_qtype (A, AAAA, ANY, SOA, NS, CNAME, MX,
/// TXT, PTR, SRV, SVCB, HTTPS, CAA); every other type shares the last slot.
inline constexpr std::array<std::uint16_t, 13> kCountedQtypes = {1,  28, 255, 6,  2,  5,  15,
                                                                 16, 12, 33,  64, 65, 257};
inline constexpr std::size_t kQtypeSlots = kCountedQtypes.size() + 1;
/// Index into Counters::by_qtype for `qtype`.
constexpr std::size_t qtype_slot(std::uint16_t qtype) noexcept {
    for (std::size_t i = 0; i < kCountedQtypes.size(); ++i)
        if (kCountedQtypes[i] == qtype) return i;
    return kCountedQtypes.size();
}

/// Per-worker counters; written only by the owning worker, read (racily, as relaxed
/// 64-bit loads) by the control side and summed there.
struct alignas(64) Counters {
    std::uint64_t queries = 0;    ///< messages handed in
    std::uint64_t responses = 0;  ///< responses produced
    std::uint64_t dropped = 0;    ///< QR=1, too short, or `out` smaller than required
    std::uint64_t noerror = 0;    ///< RCODE NOERROR answers from the engine (NODATA included)
    std::uint64_t nodata = 0;     ///< the NODATA part of `noerror`
    std::uint64_t nxdomain = 0;
    std::uint64_t refused = 0;
    std::uint64_t servfail = 0;  ///< incl. fixed-rcode fallbacks and "no snapshot yet"
    std::uint64_t formerr = 0;
    std::uint64_t notimp = 0;
    std::uint64_t badvers = 0;
    std::uint64_t truncated = 0;
    std::uint64_t ecs_used = 0;     ///< decided on a trusted ECS address
    std::uint64_t ecs_ignored = 0;  ///< ECS present but untrusted or disabled
    std::uint64_t fallback = 0;     ///< answers from a record's fallback policy
    /// Parsed questions by type (slots: qtype_slot()); FORMERR with a readable question too.
    std::array<std::uint64_t, kQtypeSlots> by_qtype{};
};

/// Adds every field of `from` into `into`. `from` is read with relaxed 64-bit loads, so it may
/// be the live counters of a worker that is writing them (an aligned word never tears; the
/// sum may be a few packets stale). The one way pipeline counters are summed: each I/O
/// backend sums its own workers with it when asked for statistics. Never locks.
void add_relaxed(Counters& into, const Counters& from) noexcept;
/// The same for a pipeline's response cache counters.
void add_relaxed(cache::Counters& into, const cache::Counters& from) noexcept;

/// The response cache (lib/cache) sits between the engine's plan (zone, record, eligible
/// backends, the policy's decision class and variant) and the answer build: a hit is a
/// patched copy, a miss builds, stores and patches the same way, so both give the same
/// bytes. Modes that are not cacheable (Policy::cacheable() == false) always build.
class Pipeline {
  public:
    /// The cache is sized from the config of the snapshot current now (cache.entries,
    /// cache.max_bytes), or the defaults when none is published yet; a reload does not
    /// resize it. Call on the publishing (control) thread. Allocates the whole cache.
    Pipeline(const gslb::SnapshotHolder& holder, std::uint64_t seed);
    /// Same, with the cache sized explicitly (`cache_entries` 0 = no cache; `entry_bytes`
    /// a multiple of 64 in 128..4096). Throws std::invalid_argument on bad sizes.
    Pipeline(const gslb::SnapshotHolder& holder, std::uint64_t seed, std::size_t cache_entries,
             std::size_t entry_bytes);
    ~Pipeline();

    /// The cache clock, in seconds of any monotonic origin. An I/O loop may call this once
    /// per burst; from the first call on the pipeline stops reading the clock itself (it
    /// otherwise reads CLOCK_MONOTONIC_COARSE per cacheable query, a vDSO call).
    void tick(std::uint32_t now_seconds) noexcept {
        now_ = now_seconds;
        external_clock_ = true;
    }

    /// Answers `query` received from `source`. Returns the response length written into
    /// `out` (at least 512 bytes; 65535 for TCP), or 0 to send nothing.
    /// `tcp` lifts the response limit to 65535 and never sets TC.
    /// `query` and `out` may overlap (the DPDK backend answers in the frame it received):
    /// the query is read completely before the first byte of `out` is written.
    /// The calling thread must be an online RCU reader.
    std::size_t handle(std::span<const std::uint8_t> query, const util::IpAddr& source,
                       std::span<std::uint8_t> out, bool tcp) noexcept;

    const Counters& counters() const noexcept { return counters_; }
    /// Whether answers are counted per backend (gslb::Topology::answers; on by default). The
    /// control side's explain turns it off: what it asks is not handed out.
    void count_answers(bool on) noexcept { count_answers_ = on; }
    /// Response cache counters of this worker (all 0 when the cache is off).
    const cache::Counters& cache_counters() const noexcept { return cache_.counters(); }
    const cache::Cache& response_cache() const noexcept { return cache_; }
    /// Edge protection counters of this worker (ACL, RRL, cookies; all 0 when none is on).
    const edge::Counters& edge_counters() const noexcept { return guard_.counters; }

  private:
    /// Everything after the parse: the answer (engine, cache or an error reply) into `out`,
    /// leaving `reserve` bytes of the client's limit free (for a COOKIE option).
    std::size_t respond(const gslb::Snapshot* snap, const dns::ParseResult& pr,
                        const util::IpAddr& source, std::span<std::uint8_t> out, bool tcp,
                        std::size_t reserve) noexcept;
    /// A NOTIFY (RFC 1996): NOERROR (AA) when `source` is a primary of the secondary zone it
    /// names (the transfer thread is told through zone::notify_board()), else REFUSED.
    void notify(const gslb::Snapshot& snap, const util::IpAddr& source,
                dns::ResponseWriter& w) noexcept;
    /// handle() when the topology has edge rules: ACL, parse, cookies, respond, RRL.
    std::size_t handle_edge(const edge::Rules& rules, const gslb::Snapshot* snap,
                            std::span<const std::uint8_t> query, const util::IpAddr& source,
                            std::span<std::uint8_t> out, bool tcp) noexcept;
    /// Picks the client (gslb::choose_client) and prepares the worker state; false when
    /// there is no snapshot to answer from.
    bool prepare(const gslb::Snapshot* snap, const dns::Query& q, const util::IpAddr& source,
                 gslb::ClientInfo& client) noexcept;
    /// The cached path for a cacheable plan: a hit is patched into `out`, a miss is built
    /// into the scratch buffer, stored and patched the same way. Returns the length, 0 when
    /// it could not be done (the caller then builds with a ResponseWriter).
    std::size_t answer_cached(const gslb::Snapshot& snap, const dns::Query& q,
                              const gslb::ClientInfo& client, std::span<std::uint8_t> out,
                              std::size_t limit, bool& truncated) noexcept;
    void count(gslb::AnswerKind kind, bool fallback) noexcept;
    /// Adds one answer to each of `ids` in this pipeline's stripe of topo.answers.
    void count_backends(const gslb::Topology& topo, std::span<const std::uint32_t> ids) noexcept;

    const gslb::SnapshotHolder& holder_;
    gslb::WorkerState ws_;
    Counters counters_;
    cache::Cache cache_;
    std::unique_ptr<std::uint8_t[]> scratch_;  ///< a miss is built here before it is stored
    gslb::Plan plan_;
    /// The query being handled: a member, not a local, so that its name arrays are not
    /// zeroed per packet (parse_query() resets every field that matters).
    dns::Query query_;
    std::uint32_t now_ = 0;
    bool external_clock_ = false;
    bool count_answers_ = true;
    std::uint32_t stripe_ = 0;  ///< this pipeline's row of gslb::AnswerCounts
    /// The cache's generation: bumped whenever the snapshot pointer or its generation
    /// changes, so that even a publisher that forgot to bump the generation cannot make
    /// the cache serve an answer built from an older snapshot.
    const gslb::Snapshot* seen_snap_ = nullptr;
    std::uint64_t seen_gen_ = 0;
    std::uint64_t cache_gen_ = 0;
    edge::Guard guard_;
    /// What the last answer was, for the RRL response class (set by count()).
    gslb::AnswerKind last_kind_ = gslb::AnswerKind::ServFail;
};

}  // namespace gslbd::pipeline
