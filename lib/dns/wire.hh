#pragma once
/// The DNS wire toolkit: every module that reads or writes DNS messages (query parser,
/// response builder, response cache, health probe, explain) uses these and defines no
/// wire helpers of its own.
///
/// - Reader / Writer: bounds-checked cursors in the style of Knot's wire_ctx. The first
///   failure sticks: every later read yields 0 (or nullptr) and moves nothing, every later
///   write writes nothing, so callers check `ok()` once per step instead of per field.
/// - read_name / Reader::skip_name: names with compression pointers, loops impossible.
/// - read_header / read_rr: a message as header and records, for the readers that are
///   not the query parser (probe replies, explain, tests).
/// - write_opt / put_opt: the one OPT record writer (EDNS version 0, optional ECS).
/// - copy_bytes, hash_mix: the small inline pieces the hot path shares.
///
/// Pure: no allocation, no exceptions, no I/O. Everything the per-packet path calls is
/// inline here; only the name and record readers live in wire.cc.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "dns/types.hh"
#include "util/bytes.hh"

namespace gslbd::dns {

/// Root owner, TYPE, CLASS, TTL, RDLENGTH: an OPT RR without options.
inline constexpr std::size_t kOptFixed = 11;
/// TYPE, CLASS, TTL, RDLENGTH: the fixed part of an RR after its owner.
inline constexpr std::size_t kRrFixed = 10;
/// OPTION-CODE, OPTION-LENGTH: the head of every EDNS option.
inline constexpr std::size_t kOptionHead = 4;
/// FAMILY, SOURCE PREFIX-LENGTH, SCOPE PREFIX-LENGTH: the ECS option before its address.
inline constexpr std::size_t kEcsFixed = 4;

/// Address bytes an ECS option carries for `source_prefix` bits: ceil(source / 8), at
/// most 16 (RFC 7871 6: exactly that many, no more).
constexpr std::size_t ecs_addr_len(unsigned source_prefix) noexcept {
    const std::size_t n = (source_prefix + 7u) / 8u;
    return n < 16 ? n : 16;
}

/// Bytes of the OPT RR write_opt() writes: kOptFixed, plus the ECS option when `ecs` is
/// non-null and present.
constexpr std::size_t opt_size(const Ecs* ecs) noexcept {
    return kOptFixed + (ecs != nullptr && ecs->present
                            ? kOptionHead + kEcsFixed + ecs_addr_len(ecs->source_prefix)
                            : 0);
}

/// memcpy for the few dozen bytes of a name or a small answer, without a call: words, the
/// last one overlapping the one before. Reads and writes only inside `n`; the ranges must
/// not overlap.
inline void copy_bytes(std::uint8_t* dst, const std::uint8_t* src, std::size_t n) noexcept {
    if (n > 128) {
        std::memcpy(dst, src, n);
    } else if (n >= 8) {
        std::uint64_t v;
        for (std::size_t o = 0; o + 8 < n; o += 8) {
            std::memcpy(&v, src + o, 8);
            std::memcpy(dst + o, &v, 8);
        }
        std::memcpy(&v, src + n - 8, 8);
        std::memcpy(dst + n - 8, &v, 8);
    } else if (n >= 4) {
        std::uint32_t lo, hi;
        std::memcpy(&lo, src, 4);
        std::memcpy(&hi, src + n - 4, 4);
        std::memcpy(dst, &lo, 4);
        std::memcpy(dst + n - 4, &hi, 4);
    } else {
        for (std::size_t i = 0; i < n; ++i) dst[i] = src[i];
    }
}

/// The 64x64 -> 128-bit multiply folded to 64 bits (wyhash's "mum") and wyhash's
/// constants: the mixing step of name_hash() and of the response cache's key hash.
inline std::uint64_t hash_mix(std::uint64_t a, std::uint64_t b) noexcept {
    const __uint128_t r = static_cast<__uint128_t>(a) * b;
    return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}
inline constexpr std::uint64_t kHashK0 = 0xa0761d6478bd642full, kHashK1 = 0xe7037ed1a0b428dbull,
                               kHashK2 = 0x8ebc6af09c88c6e3ull, kHashK3 = 0x589965cc75374cc3ull;

/// Bounds-checked read cursor over one message. Integers are read in network order.
class Reader {
  public:
    explicit Reader(std::span<const std::uint8_t> p) noexcept : p_(p.data()), len_(p.size()) {}

    bool ok() const noexcept { return !err_; }
    /// Marks the cursor failed (a caller's own check did not pass).
    void fail() noexcept { err_ = true; }
    std::size_t pos() const noexcept { return pos_; }
    /// Bytes after the cursor; 0 once failed.
    std::size_t left() const noexcept { return err_ ? 0 : len_ - pos_; }
    /// The whole message (not only what follows the cursor).
    const std::uint8_t* data() const noexcept { return p_; }
    std::size_t size() const noexcept { return len_; }

    /// Whether `n` more bytes follow the cursor; fails the cursor when not.
    bool need(std::size_t n) noexcept {
        if (err_ || len_ - pos_ < n) err_ = true;
        return !err_;
    }
    std::uint8_t u8() noexcept {
        if (!need(1)) return 0;
        return p_[pos_++];
    }
    std::uint16_t u16() noexcept {
        if (!need(2)) return 0;
        const std::uint16_t v = util::load16(p_ + pos_);
        pos_ += 2;
        return v;
    }
    std::uint32_t u32() noexcept {
        if (!need(4)) return 0;
        const std::uint32_t v = util::load32(p_ + pos_);
        pos_ += 4;
        return v;
    }
    /// The next `n` bytes (the cursor moves past them), or nullptr.
    const std::uint8_t* bytes(std::size_t n) noexcept {
        if (!need(n)) return nullptr;
        const std::uint8_t* at = p_ + pos_;
        pos_ += n;
        return at;
    }
    void skip(std::size_t n) noexcept {
        if (need(n)) pos_ += n;
    }
    /// Moves the cursor to offset `pos` (<= size()), forwards or back.
    void seek(std::size_t pos) noexcept {
        if (pos > len_) err_ = true;
        if (!err_) pos_ = pos;
    }
    /// Skips the name at the cursor without following its compression pointer (a pointer
    /// ends a name in place): labels <= 63 bytes, no reserved label types, at most 255
    /// bytes before the root or the pointer. For RRs whose owner need not be known.
    void skip_name() noexcept {
        const std::size_t start = pos_;
        for (;;) {
            if (!need(1)) return;
            const std::uint8_t b = p_[pos_];
            if ((b & 0xC0) == 0xC0) {
                skip(2);
                return;
            }
            if (b > kMaxLabel || pos_ + 1 + b - start > kMaxNameWire) return fail();
            skip(1u + b);
            if (b == 0) return;
        }
    }

  private:
    const std::uint8_t* p_;
    std::size_t len_;
    std::size_t pos_ = 0;
    bool err_ = false;
};

/// Bounds-checked write cursor over a caller-owned buffer. Integers are written in network
/// order. Once a write does not fit, nothing more is written and ok() stays false.
class Writer {
  public:
    explicit Writer(std::span<std::uint8_t> buf) noexcept : p_(buf.data()), cap_(buf.size()) {}

    bool ok() const noexcept { return !err_; }
    void fail() noexcept { err_ = true; }
    /// Bytes written so far (the message length).
    std::size_t pos() const noexcept { return pos_; }
    /// Room after the cursor; 0 once failed.
    std::size_t left() const noexcept { return err_ ? 0 : cap_ - pos_; }
    std::uint8_t* data() const noexcept { return p_; }
    /// The buffer's capacity.
    std::size_t size() const noexcept { return cap_; }
    std::span<const std::uint8_t> written() const noexcept { return {p_, pos_}; }

    /// Claims the next `n` bytes for the caller to fill (the cursor moves past them) and
    /// returns where they start; nullptr (and failed) when they do not fit. One check for
    /// a whole record, for callers that know its size up front.
    std::uint8_t* claim(std::size_t n) noexcept {
        if (err_ || cap_ - pos_ < n) {
            err_ = true;
            return nullptr;
        }
        std::uint8_t* at = p_ + pos_;
        pos_ += n;
        return at;
    }
    void u8(std::uint8_t v) noexcept {
        if (std::uint8_t* at = claim(1)) *at = v;
    }
    void u16(std::uint16_t v) noexcept {
        if (std::uint8_t* at = claim(2)) util::store16(at, v);
    }
    void u32(std::uint32_t v) noexcept {
        if (std::uint8_t* at = claim(4)) util::store32(at, v);
    }
    void bytes(const std::uint8_t* src, std::size_t n) noexcept {
        if (std::uint8_t* at = claim(n); at != nullptr && n != 0) std::memcpy(at, src, n);
    }
    void bytes(std::span<const std::uint8_t> src) noexcept { bytes(src.data(), src.size()); }
    /// Overwrites two bytes already written at offset `at` (a count, a length).
    void patch16(std::size_t at, std::uint16_t v) noexcept {
        if (err_ || at + 2 > pos_) {
            err_ = true;
            return;
        }
        util::store16(p_ + at, v);
    }
    /// Moves the cursor back to `pos` (<= pos()), dropping what was written after it.
    void rewind(std::size_t pos) noexcept {
        if (pos > pos_) err_ = true;
        if (!err_) pos_ = pos;
    }
    /// Starts over: nothing written, no error.
    void reset() noexcept {
        pos_ = 0;
        err_ = false;
    }

  private:
    std::uint8_t* p_;
    std::size_t cap_;
    std::size_t pos_ = 0;
    bool err_ = false;
};

/// Writes an OPT RR at `p`, which has room for opt_size(ecs) bytes, and returns the end:
/// root owner, CLASS = `udp_size` raised to 512, TTL = `ext_rcode` (the RCODE bits above
/// the header's four), version 0 and DO; RDATA = the ECS option of `ecs` (when non-null
/// and present) with SCOPE PREFIX-LENGTH min(`scope`, its source prefix), else empty.
inline std::uint8_t* write_opt(std::uint8_t* p, std::uint16_t udp_size, std::uint8_t ext_rcode,
                               bool do_bit, const Ecs* ecs, std::uint8_t scope) noexcept {
    p[0] = 0;
    util::store16(p + 1, qtype::OPT);
    util::store16(p + 3,
                  udp_size < kMinUdpSize ? static_cast<std::uint16_t>(kMinUdpSize) : udp_size);
    util::store32(p + 5, std::uint32_t{ext_rcode} << 24 | (do_bit ? 0x8000u : 0u));
    if (ecs == nullptr || !ecs->present) {
        util::store16(p + 9, 0);
        return p + kOptFixed;
    }
    const std::size_t alen = ecs_addr_len(ecs->source_prefix);
    util::store16(p + 9, static_cast<std::uint16_t>(kOptionHead + kEcsFixed + alen));
    util::store16(p + 11, kOptionEcs);
    util::store16(p + 13, static_cast<std::uint16_t>(kEcsFixed + alen));
    util::store16(p + 15, ecs->family);
    p[17] = ecs->source_prefix;
    p[18] = scope < ecs->source_prefix ? scope : ecs->source_prefix;
    copy_bytes(p + 19, ecs->addr.data(), alen);
    return p + 19 + alen;
}

/// write_opt() at the writer's cursor (nothing written and the writer failed when it
/// does not fit).
inline void put_opt(Writer& w, std::uint16_t udp_size, std::uint8_t ext_rcode, bool do_bit,
                    const Ecs* ecs, std::uint8_t scope) noexcept {
    if (std::uint8_t* p = w.claim(opt_size(ecs)))
        write_opt(p, udp_size, ext_rcode, do_bit, ecs, scope);
}

/// Reads the (possibly compressed) name at the cursor and leaves the cursor after it.
/// `out` (may be null: validate only) receives the decompressed wire name, at most
/// kMaxNameWire bytes; `labels` (may be null) its label count, root excluded. Every
/// pointer must point below the start of the label run it ends and past the header, so
/// the walk strictly moves backwards with each jump: loops are impossible and the work is
/// bounded by the message size. Labels <= 63 bytes, no reserved label types, at most 255
/// bytes decompressed. Returns the wire length, 0 (cursor failed) on any error.
std::size_t read_name(Reader& r, std::uint8_t* out, std::uint8_t* labels = nullptr) noexcept;

/// The fixed 12-byte header.
struct Header {
    std::uint16_t id = 0;
    std::uint16_t flags = 0;
    std::uint16_t qdcount = 0, ancount = 0, nscount = 0, arcount = 0;
    std::uint8_t rcode() const noexcept { return flags & 0x0F; }
};

/// Reads the header at the cursor (normally offset 0); false (cursor failed) when short.
inline bool read_header(Reader& r, Header& h) noexcept {
    h.id = r.u16();
    h.flags = r.u16();
    h.qdcount = r.u16();
    h.ancount = r.u16();
    h.nscount = r.u16();
    h.arcount = r.u16();
    return r.ok();
}

/// The fixed fields of one resource record and where its RDATA lies in the message.
struct RrInfo {
    std::uint16_t type = 0;
    std::uint16_t rclass = 0;
    std::uint32_t ttl = 0;
    std::uint16_t rdlength = 0;
    std::size_t rdata = 0;  ///< offset of RDATA in the message
};

/// Reads one RR at the cursor: its owner (as read_name(), into `owner` when not null),
/// the fixed fields into `rr`, and skips the RDATA after checking it lies inside the
/// message. Returns the owner's wire length, 0 (cursor failed) on any error.
std::size_t read_rr(Reader& r, std::uint8_t* owner, RrInfo& rr) noexcept;

/// Skips one question entry (name, QTYPE, QCLASS) at the cursor; false (failed) when
/// malformed.
inline bool skip_question(Reader& r) noexcept {
    if (read_name(r, nullptr) == 0) return false;
    r.skip(4);
    return r.ok();
}

}  // namespace gslbd::dns
