#include "dns/query.hh"

#include <sys/random.h>

#include <cstring>

#include "dns/wire.hh"

namespace gslbd::dns {

namespace {

/// The ECS option's payload (`n` bytes at `p`), RFC 7871 §6, in one pass: family 1 or 2,
/// source prefix <= 32 / 128, scope 0, exactly ceil(source / 8) address bytes, no bit set
/// past the source prefix. Fills `ecs` when valid; its address must be all zero before (both
/// parsers clear it first), so the address stays zero-padded to 16 bytes.
inline bool read_ecs(const std::uint8_t* p, std::size_t n, Ecs& ecs) noexcept {
    if (n < kEcsFixed) return false;
    const std::uint16_t family = util::load16(p);
    const unsigned source = p[2];
    const std::size_t alen = n - kEcsFixed;
    if ((family != 1 && family != 2) || source > (family == 1 ? 32u : 128u) || p[3] != 0 ||
        alen != (source + 7u) / 8u)
        return false;
    if (source % 8 != 0 && (p[kEcsFixed + alen - 1] & (0xFFu >> (source % 8))) != 0) return false;
    copy_bytes(ecs.addr.data(), p + kEcsFixed, alen);
    ecs.present = true;
    ecs.family = family;
    ecs.source_prefix = static_cast<std::uint8_t>(source);
    ecs.scope_prefix = 0;
    return true;
}

/// The options of an OPT record of EDNS version 0 (its RDATA: `len` bytes at `p`, all in
/// bounds): ECS and COOKIE read, every other option skipped. False when an option runs
/// past the end, ECS or COOKIE is malformed or repeated. Raw pointers, not the Reader: the
/// one bounds check per option below is all the RDATA needs, and this runs per query.
[[gnu::always_inline]] inline bool read_options(const std::uint8_t* p, std::size_t len,
                                                Query& q) noexcept {
    while (len != 0) {
        if (len < kOptionHead) return false;
        const std::uint16_t code = util::load16(p);
        const std::size_t n = util::load16(p + 2);
        p += kOptionHead;
        len -= kOptionHead;
        if (n > len) return false;
        if (code == kOptionEcs) {
            if (q.ecs.present || !read_ecs(p, n, q.ecs)) return false;
        } else if (code == kOptionCookie) {
            if (q.cookie_len != 0 || (n != 8 && (n < 16 || n > 40))) return false;
            std::memcpy(q.cookie.data(), p, n);
            q.cookie_len = static_cast<std::uint8_t>(n);
        }
        p += n;
        len -= n;
    }
    return true;
}

inline std::uint64_t load64(const std::uint8_t* p) noexcept {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}
inline void store64(std::uint8_t* p, std::uint64_t v) noexcept {
    std::memcpy(p, &v, 8);
}

/// Eight bytes lower-cased at once: a byte changes when its low seven bits are in A..Z
/// and its top bit is clear; no addition carries into the next byte.
inline std::uint64_t lower8(std::uint64_t v) noexcept {
    constexpr std::uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
    const std::uint64_t t = v & ~kHigh;
    const std::uint64_t ge_a = t + (0x80 - 'A') * kOnes;
    const std::uint64_t gt_z = t + (0x80 - 'Z' - 1) * kOnes;
    return v | ((ge_a & ~gt_z & ~v & kHigh) >> 2);
}

struct HashSeed {
    std::uint64_t s0, s1, s2;
};

HashSeed draw_seed() noexcept {
    std::uint64_t s = 0;
    if (getrandom(&s, sizeof s, 0) != static_cast<ssize_t>(sizeof s)) {
        s = reinterpret_cast<std::uintptr_t>(&s) * kHashK1;  // ASLR at least
    }
    return {s, kHashK2 ^ s, kHashK0 ^ s};
}

const HashSeed& seed() noexcept {
    static const HashSeed s = draw_seed();
    return s;
}

/// wyhash-style: 8 bytes at a time through a 64x64->128 multiply; the last word is
/// zero-padded.
struct Hasher {
    const HashSeed& k;
    std::uint64_t h;
    explicit Hasher(std::size_t len) noexcept : k(seed()), h(k.s0 ^ (len * kHashK0)) {}
    void word(std::uint64_t v) noexcept { h = hash_mix(h ^ v ^ kHashK1, k.s1); }
    std::uint64_t last(std::uint64_t tail) noexcept {
        const std::uint64_t r = hash_mix(h ^ tail ^ kHashK3, k.s2);
        return r != 0 ? r : 1;
    }
};

inline std::uint64_t tail_mask(std::size_t n) noexcept {
    return n == 0 ? 0 : ~std::uint64_t{0} >> (64 - 8 * n);
}

void reset(Query& q) noexcept {
    // The name arrays are left alone: only the first qname_len bytes are meaningful.
    q.id = 0;
    q.flags = 0;
    q.opcode = 0;
    q.qtype = 0;
    q.qclass = 0;
    q.qname_len = 0;
    q.qname_hash = 0;
    q.qname_labels = 0;
    q.question_end = 0;
    q.has_edns = false;
    q.edns_version = 0;
    q.do_bit = false;
    q.udp_size = kMinUdpSize;
    q.ecs.present = false;
    q.ecs.family = 0;
    q.ecs.source_prefix = 0;
    q.ecs.scope_prefix = 0;
    q.ecs.addr.fill(0);
    q.cookie_len = 0;
}

}  // namespace

void lower_name(const std::uint8_t* in, std::uint8_t* out, std::size_t len) noexcept {
    // Length bytes are <= 63, below 'A' (65), so lower-casing every byte leaves them intact.
    for (std::size_t i = 0; i < len; ++i) {
        const std::uint8_t c = in[i];
        out[i] = (c >= 'A' && c <= 'Z') ? static_cast<std::uint8_t>(c + 32) : c;
    }
}

std::uint64_t name_hash(const std::uint8_t* lname, std::size_t len) noexcept {
    Hasher h(len);
    std::size_t n = len;
    for (; n >= 8; n -= 8, lname += 8) h.word(load64(lname));
    std::uint64_t tail = 0;
    if (n != 0) std::memcpy(&tail, lname, n);
    return h.last(tail);
}

std::uint64_t lower_and_hash(const std::uint8_t* in, std::uint8_t* out, std::size_t len) noexcept {
    Hasher h(len);
    std::size_t n = len;
    for (; n >= 8; n -= 8, in += 8, out += 8) {
        const std::uint64_t v = lower8(load64(in));
        store64(out, v);
        h.word(v);
    }
    if (n == 0) return h.last(0);
    std::uint64_t tail;
    if (len - n + 8 <= kMaxNameWire) {
        // The whole word lies inside the arrays: one load and one store; the bytes past
        // `len` are masked out of the hash.
        tail = lower8(load64(in));
        store64(out, tail);
    } else {
        tail = 0;
        std::memcpy(&tail, in, n);
        tail = lower8(tail);
        std::memcpy(out, &tail, n);
    }
    return h.last(tail & tail_mask(n));
}

namespace {

/// The question name when it is a plain run of labels (no compression pointer, as every
/// real resolver sends it): its wire length and label count, or 0 when the general reader
/// must look at it (pointers, reserved label types, too long, out of bounds).
[[gnu::always_inline]] inline std::size_t plain_name(const std::uint8_t* p, std::size_t size,
                                                     std::size_t pos,
                                                     std::uint8_t& labels) noexcept {
    const std::size_t start = pos;
    std::uint8_t n = 0;
    for (;;) {
        if (pos >= size) return 0;
        const std::uint8_t b = p[pos];
        if (b == 0) break;
        if (b > kMaxLabel) return 0;
        pos += 1u + b;
        ++n;
    }
    const std::size_t len = pos + 1 - start;
    if (len > kMaxNameWire) return 0;
    labels = n;
    return len;
}

/// Copies a plain name of `len` bytes from the packet into q.qname and q.qname_lower and
/// hashes it, a word at a time. `avail` is how many packet bytes follow `in` (>= len).
[[gnu::always_inline]] inline std::uint64_t copy_lower_hash(const std::uint8_t* in,
                                                            std::size_t avail, std::size_t len,
                                                            Query& q) noexcept {
    std::uint8_t* orig = q.qname.data();
    std::uint8_t* low = q.qname_lower.data();
    Hasher h(len);
    std::size_t o = 0;
    for (; o + 8 <= len; o += 8) {
        const std::uint64_t v = load64(in + o);
        store64(orig + o, v);
        const std::uint64_t l = lower8(v);
        store64(low + o, l);
        h.word(l);
    }
    const std::size_t n = len - o;
    if (n == 0) return h.last(0);
    std::uint64_t v = 0;
    if (avail - o >= 8 && o + 8 <= kMaxNameWire) {
        v = load64(in + o);
        store64(orig + o, v);
        v = lower8(v);
        store64(low + o, v);
    } else {
        std::memcpy(&v, in + o, n);
        std::memcpy(orig + o, &v, n);
        v = lower8(v);
        std::memcpy(low + o, &v, n);
    }
    return h.last(v & tail_mask(n));
}

}  // namespace

namespace detail {

ParseResult parse_query_general(std::span<const std::uint8_t> packet, Query& q) noexcept {
    ParseResult res;
    reset(q);
    if (packet.size() < kHeaderSize) return res;  // Drop

    Reader r(packet);
    q.id = r.u16();
    q.flags = r.u16();
    const std::uint16_t qdcount = r.u16();
    const std::uint16_t ancount = r.u16();
    const std::uint16_t nscount = r.u16();
    const std::uint16_t arcount = r.u16();
    q.opcode = static_cast<std::uint8_t>((q.flags >> 11) & 0x0F);
    if (q.flags & flag::QR) return res;  // Drop: never answer a response

    if (qdcount == 1) {
        std::uint8_t labels = 0;
        const std::uint8_t* p = packet.data();
        std::size_t n = plain_name(p, packet.size(), kHeaderSize, labels);
        if (n != 0 && kHeaderSize + n + 4 <= packet.size()) {
            q.qname_hash = copy_lower_hash(p + kHeaderSize, packet.size() - kHeaderSize, n, q);
            r.seek(kHeaderSize + n);
        } else {
            n = read_name(r, q.qname.data(), &labels);
        }
        q.qtype = r.u16();
        q.qclass = r.u16();
        if (n != 0 && r.ok()) {
            q.qname_len = static_cast<std::uint8_t>(n);
            q.qname_labels = labels;
            q.question_end = static_cast<std::uint16_t>(r.pos());
            if (q.qname_hash == 0)
                q.qname_hash = lower_and_hash(q.qname.data(), q.qname_lower.data(), n);
            res.question_ok = true;
        }
    }
    if (q.opcode != 0) {
        res.status = ParseStatus::NotImp;
        return res;
    }
    res.status = ParseStatus::FormErr;
    if (!res.question_ok || ancount != 0 || nscount != 0) return res;

    bool version_unsupported = false;
    for (unsigned i = 0; i < arcount; ++i) {
        std::uint8_t owner[kMaxNameWire];
        std::size_t owner_len = 0;
        if (r.left() != 0 && packet[r.pos()] == 0) {
            r.skip(1);  // the root, as every OPT is owned
            owner_len = 1;
        } else {
            owner_len = read_name(r, owner, nullptr);
        }
        const std::uint16_t type = r.u16();
        const std::uint16_t rclass = r.u16();
        const std::uint32_t ttl = r.u32();
        const std::uint16_t rdlen = r.u16();
        if (owner_len == 0 || !r.ok() || r.left() < rdlen) return res;
        if (type != qtype::OPT) {
            r.skip(rdlen);  // TSIG, SIG(0) and anything else: not ours to interpret
            continue;
        }
        if (q.has_edns || owner_len != 1) return res;
        q.has_edns = true;
        q.udp_size = rclass < kMinUdpSize ? static_cast<std::uint16_t>(kMinUdpSize) : rclass;
        q.edns_version = static_cast<std::uint8_t>(ttl >> 16);
        q.do_bit = (ttl & 0x8000) != 0;
        if (q.edns_version != 0) {
            // Options are defined per version: do not interpret those of an unknown one.
            version_unsupported = true;
            r.skip(rdlen);
        } else {
            const std::uint8_t* o = r.bytes(rdlen);
            if (o == nullptr || !read_options(o, rdlen, q)) return res;
        }
    }
    if (!r.ok() || r.pos() != packet.size()) return res;
    res.status = version_unsupported ? ParseStatus::BadVers : ParseStatus::Ok;
    return res;
}

}  // namespace detail

namespace {

/// The shape nearly every query has: QUERY, one question with a plain name, nothing in
/// answer/authority, at most one additional record which is an OPT of version 0 owned by
/// the root, nothing after it. Fills `q` exactly as parse_query_general() would and returns
/// true, or returns false (leaving `q` half-written) for anything else.
[[gnu::always_inline]] inline bool parse_common(std::span<const std::uint8_t> packet,
                                                Query& q) noexcept {
    const std::uint8_t* p = packet.data();
    const std::size_t size = packet.size();
    if (size < kHeaderSize + 1 + 4) return false;
    const std::uint16_t flags = util::load16(p + 2);
    if ((flags & (flag::QR | 0x7800)) != 0) return false;  // a response, or opcode != QUERY
    if (util::load16(p + 4) != 1 || util::load16(p + 6) != 0 || util::load16(p + 8) != 0)
        return false;
    const std::uint16_t arcount = util::load16(p + 10);
    if (arcount > 1) return false;
    std::uint8_t labels = 0;
    const std::size_t n = plain_name(p, size, kHeaderSize, labels);
    const std::size_t qend = kHeaderSize + n + 4;
    if (n == 0 || qend > size) return false;

    q.ecs.present = false;
    q.ecs.family = 0;
    q.ecs.source_prefix = 0;
    q.ecs.scope_prefix = 0;
    store64(q.ecs.addr.data(), 0);  // two stores: fill(0) became a memset call
    store64(q.ecs.addr.data() + 8, 0);
    q.cookie_len = 0;
    if (arcount == 0) {
        if (qend != size) return false;
        q.has_edns = false;
        q.edns_version = 0;
        q.do_bit = false;
        q.udp_size = kMinUdpSize;
    } else {
        const std::uint8_t* o = p + qend;
        if (qend + kOptFixed > size || o[0] != 0 || util::load16(o + 1) != qtype::OPT || o[6] != 0)
            return false;
        const std::uint16_t rdlen = util::load16(o + 9);
        if (qend + kOptFixed + rdlen != size) return false;
        const std::uint16_t rclass = util::load16(o + 3);
        q.has_edns = true;
        q.edns_version = 0;
        q.do_bit = (o[7] & 0x80) != 0;
        q.udp_size = rclass < kMinUdpSize ? static_cast<std::uint16_t>(kMinUdpSize) : rclass;
        if (rdlen != 0 && !read_options(o + kOptFixed, rdlen, q)) return false;
    }
    q.id = util::load16(p);
    q.flags = flags;
    q.opcode = 0;
    q.qtype = util::load16(p + kHeaderSize + n);
    q.qclass = util::load16(p + kHeaderSize + n + 2);
    q.qname_hash = copy_lower_hash(p + kHeaderSize, size - kHeaderSize, n, q);
    q.qname_len = static_cast<std::uint8_t>(n);
    q.qname_labels = labels;
    q.question_end = static_cast<std::uint16_t>(qend);
    return true;
}

}  // namespace

ParseResult parse_query(std::span<const std::uint8_t> packet, Query& q) noexcept {
    if (parse_common(packet, q)) return {ParseStatus::Ok, true};
    return detail::parse_query_general(packet, q);
}

}  // namespace gslbd::dns
