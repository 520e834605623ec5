#pragma once
/// Query parsing: in place, bounds-checked, no allocation, no exceptions.
#include <array>
#include <cstdint>
#include <span>

#include "dns/types.hh"

namespace gslbd::dns {

/// What the parser learned about one query. Names are copied (decompressed) into fixed
/// arrays so later stages never chase pointers into the packet.
struct Query {
    std::uint16_t id = 0;
    std::uint16_t flags = 0;  ///< header flags word as received
    std::uint8_t opcode = 0;
    std::uint16_t qtype = 0;
    std::uint16_t qclass = 0;
    /// Question name in wire form, letter case as the client sent it (0x20 echo).
    std::array<std::uint8_t, kMaxNameWire> qname{};
    /// Same name, ASCII lower-cased: the lookup key.
    std::array<std::uint8_t, kMaxNameWire> qname_lower{};
    std::uint8_t qname_len = 0;  ///< wire length including the root label (1..255)
    /// name_hash() of qname_lower, computed while lower-casing; 0 = not computed (a Query
    /// filled by hand): consumers then call name_hash() themselves.
    std::uint64_t qname_hash = 0;
    std::uint8_t qname_labels = 0;   ///< label count, root excluded
    std::uint16_t question_end = 0;  ///< packet offset just after QTYPE/QCLASS

    bool has_edns = false;
    std::uint8_t edns_version = 0;
    bool do_bit = false;
    std::uint16_t udp_size = 512;  ///< advertised size, clamped to >= 512
    Ecs ecs;
    /// COOKIE option (RFC 7873) as received: 0 = none, else 8 (client cookie only) or
    /// 16..40 (client cookie, then a server cookie of 8..32 bytes).
    std::uint8_t cookie_len = 0;
    std::array<std::uint8_t, 40> cookie;  ///< left uninitialised past cookie_len

    /// Largest response the client accepts over UDP: 512 without EDNS, else its
    /// advertised size (the caller clamps it further to our own limit).
    std::size_t max_udp_response() const noexcept { return has_edns ? udp_size : kMinUdpSize; }
};

/// Outcome of parsing. Order matters for nothing; callers switch on it.
enum class ParseStatus : std::uint8_t {
    Ok,
    Drop,     ///< not worth an answer: shorter than a header, or QR=1 (a response)
    FormErr,  ///< malformed; the header (and question, when `question_ok`) can be echoed
    NotImp,   ///< opcode other than QUERY
    BadVers,  ///< EDNS version > 0: answer BADVERS with an OPT record
};

/// The RCODE a reply to a query of parse status `s` carries (NoError for Ok and Drop).
constexpr Rcode rcode_for(ParseStatus s) noexcept {
    switch (s) {
        case ParseStatus::FormErr:
            return Rcode::FormErr;
        case ParseStatus::NotImp:
            return Rcode::NotImp;
        case ParseStatus::BadVers:
            return Rcode::BadVers;
        default:
            return Rcode::NoError;
    }
}

struct ParseResult {
    ParseStatus status = ParseStatus::Drop;
    /// True when qname/qtype/qclass were parsed, so an error reply can echo the question.
    bool question_ok = false;
};

/// Parses `packet` into `q`. Enforces: exactly one question (QDCOUNT == 1), no answer
/// or authority records in a query (ANCOUNT == NSCOUNT == 0), at most one OPT in the
/// additional section (which must be owned by the root), compression pointers only
/// backwards and without loops, labels <= 63, names <= 255, everything in bounds; ECS:
/// family 1 or 2, source prefix <= 32 / 128, address length == ceil(source/8), no bits set
/// beyond the source prefix, scope prefix 0; COOKIE: one option of 8 or 16..40 bytes
/// (RFC 7873 §5.2.2: other lengths are FormErr). TSIG and other additional records are
/// skipped safely. Trailing garbage after the last record is FormErr.
ParseResult parse_query(std::span<const std::uint8_t> packet, Query& q) noexcept;

namespace detail {
/// The bounds-checked reader parse_query() falls back to for anything but the common
/// shape (plain question name, at most an OPT of version 0). Same contract; for tests that
/// compare the two paths.
ParseResult parse_query_general(std::span<const std::uint8_t> packet, Query& q) noexcept;
}  // namespace detail

/// Lower-cases ASCII A-Z in a wire-format name of `len` bytes (labels untouched otherwise).
void lower_name(const std::uint8_t* in, std::uint8_t* out, std::size_t len) noexcept;

/// The hash of a lower-case wire name of `len` bytes that every per-packet name lookup
/// (the engine's name index, the response cache) starts from: keyed by a seed drawn from
/// the OS once per process, so names cannot be aimed at one slot from outside; never 0.
std::uint64_t name_hash(const std::uint8_t* lname, std::size_t len) noexcept;

/// lower_name() and name_hash() in one pass: writes the lower-case form of `in` to `out`
/// and returns its hash. `in` and `out` hold at least kMaxNameWire bytes; bytes of `out`
/// past `len` may be overwritten.
std::uint64_t lower_and_hash(const std::uint8_t* in, std::uint8_t* out, std::size_t len) noexcept;

/// Whether `len` bytes at `a` and `b` are equal (names of equal length): a word at a time,
/// the last word overlapping the one before, so names of 4 bytes or more need no byte
/// loop and no call. Reads only inside `len`.
inline bool same_bytes(const std::uint8_t* a, const std::uint8_t* b, std::size_t len) noexcept {
    auto ld8 = [](const std::uint8_t* p) noexcept {
        std::uint64_t v;
        __builtin_memcpy(&v, p, 8);
        return v;
    };
    auto ld4 = [](const std::uint8_t* p) noexcept {
        std::uint32_t v;
        __builtin_memcpy(&v, p, 4);
        return v;
    };
    if (len >= 8) {
        std::uint64_t diff = 0;
        std::size_t o = 0;
        for (; o + 8 < len; o += 8) diff |= ld8(a + o) ^ ld8(b + o);
        diff |= ld8(a + len - 8) ^ ld8(b + len - 8);
        return diff == 0;
    }
    if (len >= 4) return ((ld4(a) ^ ld4(b)) | (ld4(a + len - 4) ^ ld4(b + len - 4))) == 0;
    for (std::size_t i = 0; i < len; ++i)
        if (a[i] != b[i]) return false;
    return true;
}

}  // namespace gslbd::dns
