#include "cache/cache.hh"

#include <time.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include "dns/wire.hh"

namespace gslbd::cache {

struct alignas(64) Cache::Bucket {
    std::uint32_t tag[kWays];  // 0 = empty way
    std::uint8_t ref;          // CLOCK reference bit per way
    std::uint8_t hand;
};

struct Cache::Slot {
    std::uint64_t generation;
    std::uint32_t expires;
    std::uint32_t decision_class;
    std::uint32_t variant;
    std::uint16_t qtype, qclass;
    std::uint16_t flags;
    std::uint16_t counts[3];
    std::uint16_t rr_len;
    std::uint16_t tag;
    std::uint8_t qname_len;
    std::uint8_t do_bit;
    std::uint8_t nbackends;
    std::uint8_t split;  // Key::split (the header's last free byte)
    // then qname_len bytes of name, rr_len bytes of RRs, then (at the next multiple of 4)
    // nbackends backend ids
    static std::size_t ids_at(std::size_t qname_len, std::size_t rr_len) noexcept {
        return (qname_len + rr_len + 3) & ~std::size_t{3};
    }
    const std::uint32_t* ids() const noexcept {
        return reinterpret_cast<const std::uint32_t*>(data() + ids_at(qname_len, rr_len));
    }
    std::uint8_t* data() noexcept { return reinterpret_cast<std::uint8_t*>(this) + kSlotHeader; }
    const std::uint8_t* data() const noexcept {
        return reinterpret_cast<const std::uint8_t*>(this) + kSlotHeader;
    }
};

Cache::Cache(std::size_t entries, std::size_t entry_bytes, std::uint64_t seed)
    : entry_bytes_(entry_bytes), seed_(seed) {
    static_assert(sizeof(Bucket) == 64, "one cache line per bucket");
    static_assert(sizeof(Slot) <= kSlotHeader);
    if (entries == 0) return;
    if (entry_bytes % 64 != 0 || entry_bytes < kSlotHeader + 64 || entry_bytes > 65536) {
        throw std::invalid_argument("cache entry size " + std::to_string(entry_bytes) +
                                    " must be a multiple of 64 in 128..65536");
    }
    const std::size_t nb = (entries + kWays - 1) / kWays;
    if (nb > (std::size_t{1} << 32) || nb * kWays > SIZE_MAX / entry_bytes) {
        throw std::invalid_argument("cache of " + std::to_string(entries) +
                                    " entries is too large");
    }
    buckets_ = static_cast<Bucket*>(::operator new (nb * sizeof(Bucket), std::align_val_t{64}));
    try {
        slots_ = static_cast<std::uint8_t*>(
            ::operator new (nb* kWays* entry_bytes, std::align_val_t{64}));
    } catch (...) {
        ::operator delete (buckets_, std::align_val_t{64});
        buckets_ = nullptr;
        throw;
    }
    // Touch everything now: page faults belong to start-up, not to the first queries.
    std::memset(static_cast<void*>(buckets_), 0, nb * sizeof(Bucket));
    std::memset(slots_, 0, nb * kWays * entry_bytes);
    nbuckets_ = nb;
}

Cache::~Cache() {
    if (buckets_ != nullptr) ::operator delete (buckets_, std::align_val_t{64});
    if (slots_ != nullptr) ::operator delete (slots_, std::align_val_t{64});
}

std::size_t Cache::bytes() const noexcept {
    return nbuckets_ * (sizeof(Bucket) + kWays * entry_bytes_);
}

// `inline` on the helpers below: GCC's inliner weighs the keyword and takes larger functions
// into the hit path when it is there; without it these could stay calls.
inline Cache::Slot* Cache::slot(std::size_t bucket, std::size_t way) const noexcept {
    return reinterpret_cast<Slot*>(slots_ + (bucket * kWays + way) * entry_bytes_);
}

inline std::uint64_t Cache::hash(const Key& k) const noexcept {
    // The name's own hash (seeded per process) mixed with this cache's seed and the rest
    // of the key, so that nobody outside can aim names at one bucket.
    const std::uint64_t name =
        k.qname_hash != 0 ? k.qname_hash : dns::name_hash(k.qname, k.qname_len);
    const std::uint64_t shape = std::uint64_t{k.qtype} | std::uint64_t{k.qclass} << 16 |
                                std::uint64_t{k.do_bit} << 32 | std::uint64_t{k.split} << 40;
    std::uint64_t h = dns::hash_mix(name ^ seed_ ^ dns::kHashK0, shape ^ dns::kHashK1);
    h = dns::hash_mix(h ^ (std::uint64_t{k.decision_class} | std::uint64_t{k.variant} << 32),
                      dns::kHashK3 ^ seed_);
    return h;
}

inline bool Cache::same_key(const Slot& s, const Key& k) noexcept {
    return s.qname_len == k.qname_len && s.qtype == k.qtype && s.qclass == k.qclass &&
           s.do_bit == static_cast<std::uint8_t>(k.do_bit) && s.split == k.split &&
           s.decision_class == k.decision_class && s.variant == k.variant &&
           dns::same_bytes(s.data(), k.qname, k.qname_len);
}

namespace {
inline std::uint32_t tag_of(std::uint64_t h) noexcept {
    const auto t = static_cast<std::uint32_t>(h >> 32);
    return t != 0 ? t : 1;
}
/// The ways of `b` whose tag is `t`, one bit per way.
inline unsigned ways_with(const std::uint32_t (&tags)[Cache::kWays], std::uint32_t t) noexcept {
#if defined(__SSE2__)
    static_assert(Cache::kWays == 8);
    const __m128i want = _mm_set1_epi32(static_cast<int>(t));
    const __m128i lo =
        _mm_cmpeq_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(tags)), want);
    const __m128i hi =
        _mm_cmpeq_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(tags + 4)), want);
    return static_cast<unsigned>(_mm_movemask_ps(_mm_castsi128_ps(lo))) |
           static_cast<unsigned>(_mm_movemask_ps(_mm_castsi128_ps(hi))) << 4;
#else
    unsigned m = 0;
    for (std::size_t w = 0; w < Cache::kWays; ++w) m |= (tags[w] == t ? 1u : 0u) << w;
    return m;
#endif
}

inline std::size_t bucket_of(std::uint64_t h, std::size_t nb) noexcept {
    return static_cast<std::size_t>(
        (static_cast<std::uint64_t>(static_cast<std::uint32_t>(h)) * nb) >> 32);
}
}  // namespace

std::uint64_t Cache::hash_of(const Key& k) const noexcept {
    return hash(k);
}

bool Cache::lookup(const Key& k, std::uint64_t generation, std::uint32_t now,
                   Answer& out) noexcept {
    if (nbuckets_ == 0) return false;
    const std::uint64_t h = hash(k);
    const std::uint32_t t = tag_of(h);
    const std::size_t bi = bucket_of(h, nbuckets_);
    Bucket& b = buckets_[bi];
    for (unsigned m = ways_with(b.tag, t); m != 0; m &= m - 1) {
        const auto w = static_cast<std::size_t>(__builtin_ctz(m));
        const Slot& s = *slot(bi, w);
        if (!same_key(s, k)) continue;
        if (s.generation != generation || static_cast<std::int32_t>(now - s.expires) >= 0) {
            if (s.generation != generation) {
                ++counters_.generation_misses;
            } else {
                ++counters_.expired;
            }
            b.tag[w] = 0;
            b.ref = static_cast<std::uint8_t>(b.ref & ~(1u << w));
            break;
        }
        b.ref = static_cast<std::uint8_t>(b.ref | (1u << w));
        out.flags = s.flags;
        out.counts[0] = s.counts[0];
        out.counts[1] = s.counts[1];
        out.counts[2] = s.counts[2];
        out.rrs = {s.data() + s.qname_len, s.rr_len};
        out.tag = s.tag;
        out.backends = s.nbackends != 0 ? std::span<const std::uint32_t>{s.ids(), s.nbackends}
                                        : std::span<const std::uint32_t>{};
        ++counters_.hits;
        return true;
    }
    ++counters_.misses;
    return false;
}

bool Cache::insert(const Key& k, std::uint64_t generation, std::uint32_t now,
                   const Answer& a) noexcept {
    if (nbuckets_ == 0) return false;
    const std::uint32_t ttl =
        min_ttl(a.rrs, std::size_t{a.counts[0]} + a.counts[1] + a.counts[2], kNoRecordTtl);
    const std::size_t used = a.backends.empty()
                                 ? k.qname_len + a.rrs.size()
                                 : Slot::ids_at(k.qname_len, a.rrs.size()) + a.backends.size() * 4;
    if (ttl == 0 || a.backends.size() > kMaxBackends || used > entry_bytes_ - kSlotHeader) {
        ++counters_.uncacheable;
        return false;
    }
    const std::uint64_t h = hash(k);
    const std::uint32_t t = tag_of(h);
    const std::size_t bi = bucket_of(h, nbuckets_);
    Bucket& b = buckets_[bi];

    std::size_t way = kWays;
    for (std::size_t w = 0; w < kWays && way == kWays; ++w) {
        if (b.tag[w] == t && same_key(*slot(bi, w), k)) way = w;
    }
    for (std::size_t w = 0; w < kWays && way == kWays; ++w) {
        if (b.tag[w] == 0) way = w;
    }
    for (std::size_t w = 0; w < kWays && way == kWays; ++w) {
        const Slot& s = *slot(bi, w);
        if (s.generation != generation || static_cast<std::int32_t>(now - s.expires) >= 0) way = w;
    }
    if (way == kWays) {
        // CLOCK: at most one full sweep clears every bit, so this ends within 2 * kWays.
        for (;;) {
            const std::size_t w = b.hand;
            b.hand = static_cast<std::uint8_t>((w + 1) % kWays);
            if ((b.ref & (1u << w)) == 0) {
                way = w;
                break;
            }
            b.ref = static_cast<std::uint8_t>(b.ref & ~(1u << w));
        }
        ++counters_.evictions;
    }

    Slot& s = *slot(bi, way);
    s.generation = generation;
    // Saturating: a TTL beyond 2^31 s would wrap the signed comparison in lookup().
    s.expires = now + std::min<std::uint32_t>(ttl, 0x7fffffffu);
    s.decision_class = k.decision_class;
    s.variant = k.variant;
    s.qtype = k.qtype;
    s.qclass = k.qclass;
    s.flags = a.flags;
    s.counts[0] = a.counts[0];
    s.counts[1] = a.counts[1];
    s.counts[2] = a.counts[2];
    s.rr_len = static_cast<std::uint16_t>(a.rrs.size());
    s.tag = a.tag;
    s.qname_len = k.qname_len;
    s.do_bit = k.do_bit ? 1 : 0;
    s.split = k.split;
    std::memcpy(s.data(), k.qname, k.qname_len);
    if (!a.rrs.empty()) std::memcpy(s.data() + k.qname_len, a.rrs.data(), a.rrs.size());
    s.nbackends = static_cast<std::uint8_t>(a.backends.size());
    if (!a.backends.empty())
        std::memcpy(s.data() + Slot::ids_at(k.qname_len, a.rrs.size()), a.backends.data(),
                    a.backends.size() * 4);
    b.tag[way] = t;
    b.ref = static_cast<std::uint8_t>(b.ref & ~(1u << way));
    ++counters_.inserts;
    return true;
}

bool split_response(std::span<const std::uint8_t> msg, std::size_t question_end,
                    Answer& out) noexcept {
    if (msg.size() < question_end || question_end < dns::kHeaderSize) return false;
    const std::uint8_t* h = msg.data();  // a whole header: question_end >= 12 was checked
    out.flags = util::load16(h + 2);
    out.counts[0] = util::load16(h + 6);
    out.counts[1] = util::load16(h + 8);
    out.counts[2] = util::load16(h + 10);
    out.rrs = msg.subspan(question_end);
    return true;
}

std::uint32_t min_ttl(std::span<const std::uint8_t> rrs, std::size_t count,
                      std::uint32_t none) noexcept {
    // The RRs stand without their header, so owners are skipped, not followed: a pointer
    // (to the question name at offset 12) ends one in place.
    std::uint32_t best = none;
    dns::Reader r(rrs);
    for (std::size_t i = 0; i < count; ++i) {
        r.skip_name();
        const std::uint8_t* f = r.bytes(dns::kRrFixed);  // TYPE, CLASS, TTL, RDLENGTH
        if (f == nullptr) return 0;
        const std::uint32_t ttl = util::load32(f + 4);
        r.skip(util::load16(f + 8));
        best = i == 0 ? ttl : std::min(best, ttl);
    }
    return r.ok() && r.left() == 0 ? best : 0;
}

std::size_t write_response(const Answer& a, const dns::Query& q, std::uint16_t our_udp_size,
                           const dns::Ecs* ecs, std::uint8_t scope, std::span<std::uint8_t> out,
                           std::size_t limit, bool& truncated) noexcept {
    limit = std::min(std::max(limit, dns::kMinUdpSize), out.size());
    if (!q.has_edns) ecs = nullptr;
    const std::size_t opt_len = q.has_edns ? dns::opt_size(ecs) : 0;
    const std::size_t question_end = dns::kHeaderSize + q.qname_len + 4u;
    truncated = question_end + a.rrs.size() + opt_len > limit;
    const std::size_t rr_len = truncated ? 0 : a.rrs.size();
    // One bounds check for the whole message, then plain stores.
    dns::Writer w(out);
    std::uint8_t* p = w.claim(question_end + rr_len + opt_len);
    if (p == nullptr) return 0;

    std::uint16_t flags =
        static_cast<std::uint16_t>((a.flags & ~(dns::flag::RD | dns::flag::CD | dns::flag::TC)) |
                                   dns::flag::QR | (q.flags & (dns::flag::RD | dns::flag::CD)));
    if (truncated) flags |= dns::flag::TC;
    util::store16(p, q.id);
    util::store16(p + 2, flags);
    util::store16(p + 4, 1);
    util::store16(p + 6, truncated ? 0 : a.counts[0]);
    util::store16(p + 8, truncated ? 0 : a.counts[1]);
    util::store16(p + 10,
                  static_cast<std::uint16_t>((truncated ? 0 : a.counts[2]) + (q.has_edns ? 1 : 0)));
    p += dns::kHeaderSize;
    dns::copy_bytes(p, q.qname.data(), q.qname_len);
    p += q.qname_len;
    util::store16(p, q.qtype);
    util::store16(p + 2, q.qclass);
    p += 4;
    if (rr_len != 0) {
        dns::copy_bytes(p, a.rrs.data(), rr_len);
        p += rr_len;
    }
    // Extended RCODE 0: cached answers carry RCODEs below 16.
    if (q.has_edns) dns::write_opt(p, our_udp_size, 0, q.do_bit, ecs, scope);
    return w.pos();
}

std::uint32_t coarse_now() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<std::uint32_t>(ts.tv_sec);
}

}  // namespace gslbd::cache
