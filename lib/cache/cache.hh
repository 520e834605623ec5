#pragma once
/// The per-worker response cache: one instance per worker (never shared, no locks),
/// preallocated at construction, no allocation on lookup or insert.
///
/// Layout and eviction: set-associative. The key hash (seeded at start) picks a bucket of
/// kWays ways; a bucket is one 64-byte line holding a 32-bit tag per way plus CLOCK state
/// (one reference bit per way and a hand). The entries themselves (fixed-size slots of
/// `entry_bytes`) live in a separate array. Lookup compares the tags of one bucket and
/// verifies the full key of a tag match (never the hash alone). A hit sets the way's
/// reference bit. Insert takes, in order: the way already holding the key, an empty way,
/// a stale way (older generation or expired), else the CLOCK victim: the hand sweeps the
/// ways, clearing reference bits, and evicts the first way whose bit is clear. New
/// entries start with the bit clear, so an entry hit since the last sweep always survives
/// one-hit wonders (hot entries stay; a scan of new names only churns cold ways).
///
/// Invalidation: every entry carries the snapshot generation it was built from; a lookup
/// under another generation is a miss at once ("generation miss") and frees the way.
/// Entries also expire after the smallest TTL among their records.
///
/// What is stored is the answer without its query-specific parts: header flags (RD/CD
/// not included), section counts and the RR bytes after the question, without OPT.
/// write_response() turns it into a response for one query (ID, qname letter case, OPT
/// with this query's ECS, TC by this client's size).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "dns/query.hh"

namespace gslbd::cache {

/// Per-worker counters: written only by the owning worker, read racily by the control side.
struct alignas(64) Counters {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;             ///< every lookup that did not hit (incl. the two below)
    std::uint64_t generation_misses = 0;  ///< key found but built under another generation
    std::uint64_t expired = 0;            ///< key found but past its TTL
    std::uint64_t inserts = 0;
    std::uint64_t evictions = 0;  ///< live entries pushed out by the CLOCK
    /// answers not stored: too large for a slot, TTL 0, or from a mode that is not cacheable
    std::uint64_t uncacheable = 0;
};

/// What an entry is found by. `qname` is the lower-case wire name (qname_len bytes).
struct Key {
    const std::uint8_t* qname = nullptr;
    std::uint8_t qname_len = 0;
    std::uint16_t qtype = 0;
    std::uint16_t qclass = 0;
    bool do_bit = false;
    std::uint32_t decision_class = 0;
    std::uint32_t variant = 0;
    /// dns::name_hash(qname, qname_len) when the caller has it (the parser computes it),
    /// else 0 and the cache computes it.
    std::uint64_t qname_hash = 0;
    /// A traffic shift's client split (gslb::Plan::split): 0 when the answer does not depend
    /// on one.
    std::uint8_t split = 0;
};

/// A stored answer (or one about to be stored), as write_response() consumes it.
struct Answer {
    std::uint16_t flags = 0;              ///< response header flags; RD, CD and TC are ignored
    std::uint16_t counts[3] = {0, 0, 0};  ///< answer, authority, additional (no OPT)
    std::span<const std::uint8_t> rrs;    ///< RR bytes; names may point only at offset 12
    std::uint16_t tag = 0;  ///< opaque to the cache: the caller's note (e.g. answer kind)
    /// Opaque to the cache (at most kMaxBackends): the caller's backend ids that the answer
    /// hands out, kept with it so that a hit can count them without rebuilding.
    std::span<const std::uint32_t> backends;
};

/// Splits a response built without OPT (`msg`, question ending at `question_end`) into
/// an Answer that refers into `msg`. False when the message is shorter than that.
bool split_response(std::span<const std::uint8_t> msg, std::size_t question_end,
                    Answer& out) noexcept;

/// Smallest TTL among `count` RRs in `rrs`; `none` when there are none; 0 when the bytes
/// are malformed (then the answer is not cached).
std::uint32_t min_ttl(std::span<const std::uint8_t> rrs, std::size_t count,
                      std::uint32_t none) noexcept;

/// Writes the response to `q` from `a` into `out`: header (q's ID, RD/CD echoed, QR, TC
/// when needed), the question with the client's letter case, the RRs, and, when q had
/// EDNS, an OPT with `our_udp_size`, DO echoed and `ecs` (nullptr: none) echoed with
/// SCOPE PREFIX min(scope, source prefix). When the whole message exceeds `limit`
/// (raised to 512, clamped to out.size()) every RR is dropped and TC set, as
/// dns::ResponseWriter does. Returns the length, 0 when `out` is too small for even the
/// truncated form. `truncated` tells whether TC was set.
std::size_t write_response(const Answer& a, const dns::Query& q, std::uint16_t our_udp_size,
                           const dns::Ecs* ecs, std::uint8_t scope, std::span<std::uint8_t> out,
                           std::size_t limit, bool& truncated) noexcept;

class Cache {
  public:
    static constexpr std::size_t kWays = 8;
    /// Bytes of an entry's fixed part; the rest of a slot holds qname and RR bytes.
    static constexpr std::size_t kSlotHeader = 40;
    /// Answers with no RR (REFUSED, SERVFAIL fallbacks) live this long (seconds).
    static constexpr std::uint32_t kNoRecordTtl = 30;
    /// Most backend ids one entry keeps (Answer::backends).
    static constexpr std::size_t kMaxBackends = 64;

    /// `entries` rounded up to a multiple of kWays; 0 disables the cache (every lookup
    /// misses without counting, insert stores nothing). `entry_bytes` is the slot size
    /// (a multiple of 64, at least kSlotHeader + 64). Allocates and touches all memory
    /// now. Throws std::invalid_argument on bad sizes, std::bad_alloc without memory.
    Cache(std::size_t entries, std::size_t entry_bytes, std::uint64_t seed);
    ~Cache();
    Cache(const Cache&) = delete;
    Cache& operator=(const Cache&) = delete;

    bool enabled() const noexcept { return nbuckets_ != 0; }
    std::size_t entries() const noexcept { return nbuckets_ * kWays; }
    std::size_t entry_bytes() const noexcept { return entry_bytes_; }
    /// Memory held: slots plus buckets.
    std::size_t bytes() const noexcept;

    /// The answer stored under `k` for `generation`, valid at `now` (seconds, any
    /// monotonic origin), or false. `out.rrs` points into the cache: valid until the next
    /// insert.
    bool lookup(const Key& k, std::uint64_t generation, std::uint32_t now, Answer& out) noexcept;
    /// Stores `a` under `k`, living min_ttl(a) seconds from `now`. False (counted as
    /// uncacheable) when it (name, RRs and backend ids) does not fit a slot, its TTL is 0
    /// or it has more than kMaxBackends backend ids.
    bool insert(const Key& k, std::uint64_t generation, std::uint32_t now,
                const Answer& a) noexcept;

    const Counters& counters() const noexcept { return counters_; }
    /// The seeded key hash: the low 32 bits pick the bucket, the high 32 bits are the tag.
    /// Public for tests and diagnostics.
    std::uint64_t hash_of(const Key& k) const noexcept;
    /// Counts an answer the caller chose not to store (e.g. from a mode that is not cacheable).
    void note_uncacheable() noexcept { ++counters_.uncacheable; }

  private:
    struct Bucket;
    struct Slot;
    std::uint64_t hash(const Key& k) const noexcept;
    Slot* slot(std::size_t bucket, std::size_t way) const noexcept;
    static bool same_key(const Slot& s, const Key& k) noexcept;

    std::size_t nbuckets_ = 0;
    std::size_t entry_bytes_ = 0;
    std::uint64_t seed_ = 0;
    Bucket* buckets_ = nullptr;
    std::uint8_t* slots_ = nullptr;
    Counters counters_;
};

/// Seconds from CLOCK_MONOTONIC_COARSE (vDSO: no system call, a few ns).
std::uint32_t coarse_now() noexcept;

}  // namespace gslbd::cache
