#pragma once
/// Query parsing: in place, bounds-checked, no allocation, no exceptions.
#include <array>
#include <cstdint>
#include <span>

#include "dns/types.hh"

namespace gslbd::dns {

/// RFC 7871 client subnet as received. `addr` holds the address bytes, zero-padded.
struct Ecs {
    bool present = false;
    std::uint16_t family = 0;        ///< 1 = IPv4, 2 = IPv6
    std::uint8_t source_prefix = 0;
    std::uint8_t scope_prefix = 0;   ///< must be 0 in queries
    std::array<std::uint8_t, 16> addr{};
};

/// What the parser learned about one query. Names are copied (decompressed) into fixed
/// arrays so later stages never chase pointers into the packet.
struct Query {
    std::uint16_t id = 0;
    std::uint16_t flags = 0;           ///< header flags word as received
    std::uint8_t opcode = 0;
    std::uint16_t qtype = 0;
    std::uint16_t qclass = 0;
    /// Question name in wire form, letter case as the client sent it (0x20 echo).
    std::array<std::uint8_t, kMaxNameWire> qname{};
    /// Same name, ASCII lower-cased: the lookup key.
    std::array<std::uint8_t, kMaxNameWire> qname_lower{};
    std::uint8_t qname_len = 0;        ///< wire length including the root label (1..255)
    std::uint8_t qname_labels = 0;     ///< label count, root excluded
    std::uint16_t question_end = 0;    ///< packet offset just after QTYPE/QCLASS

    bool has_edns = false;
    std::uint8_t edns_version = 0;
    bool do_bit = false;
    std::uint16_t udp_size = 512;      ///< advertised size, clamped to >= 512
    Ecs ecs;

    /// Largest response the client accepts over UDP: 512 without EDNS, else its
    /// advertised size (the caller clamps it further to our own limit).
    std::size_t max_udp_response() const noexcept { return has_edns ? udp_size : kMinUdpSize; }
};

/// Outcome of parsing. Order matters for nothing; callers switch on it.
enum class ParseStatus : std::uint8_t {
    Ok,
    Drop,          ///< not worth an answer: shorter than a header, or QR=1 (a response)
    FormErr,       ///< malformed; the header (and question, when `question_ok`) can be echoed
    NotImp,        ///< opcode other than QUERY
    BadVers,       ///< EDNS version > 0: answer BADVERS with an OPT record
};

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
/// beyond the source prefix, scope prefix 0. TSIG and other additional records are
/// skipped safely. Trailing garbage after the last record is FormErr.
ParseResult parse_query(std::span<const std::uint8_t> packet, Query& q) noexcept;

/// Lower-cases ASCII A-Z in a wire-format name of `len` bytes (labels untouched otherwise).
void lower_name(const std::uint8_t* in, std::uint8_t* out, std::size_t len) noexcept;

}  // namespace gslbd::dns
