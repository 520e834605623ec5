#pragma once
/// Response building into a caller-owned buffer: no allocation, no exceptions. Built on
/// dns::Writer (wire.hh): each record is sized and claimed at once, then filled; the OPT
/// record is dns::write_opt()'s, the same the response cache writes.
///
/// Usage: begin() writes the header and echoes the question; add_*() append records to
/// the section given; finish() appends the OPT record (if the query had EDNS), applies
/// truncation and returns the final length.
///
/// Truncation: the writer is given `limit`, the largest message the client accepts
/// (its UDP size, or 65535 over TCP). begin() reserves the size of the OPT record the
/// query calls for (q.has_edns, plus the ECS option when q.ecs.present), so an
/// RR that does not fit marks the response truncated; finish() then drops every
/// answer/authority/additional RR, sets TC=1 and keeps header, question and OPT.
///
/// Records must be added in wire order: all Answer RRs, then Authority, then Additional.
/// An add_*() for an earlier section than the last one, a malformed wire name, or a qname
/// pointer when no question was echoed returns false and writes nothing (a caller bug,
/// not truncation). Names are never compressed except the qname pointer (0xC00C): names
/// given as wire (owners, and the NS/CNAME/SOA targets) are copied as they are. That is
/// always correct and keeps the writer simple; answers here are small.
#include <cstdint>
#include <span>
#include <string_view>

#include "dns/query.hh"
#include "dns/types.hh"
#include "dns/wire.hh"

namespace gslbd::dns {

enum class Section : std::uint8_t { Answer, Authority, Additional };

/// A domain name to write as an owner or inside RDATA.
struct NameRef {
    /// Wire-format name (lower case is fine), uncompressed; ignored when `is_qname`.
    std::span<const std::uint8_t> wire{};
    /// Write a compression pointer to the question name (offset 12) instead.
    bool is_qname = false;

    static NameRef qname() noexcept { return NameRef{{}, true}; }
    static NameRef of(std::span<const std::uint8_t> w) noexcept { return NameRef{w, false}; }
};

struct SoaData {
    std::span<const std::uint8_t> mname;  ///< wire format
    std::span<const std::uint8_t> rname;  ///< wire format
    std::uint32_t serial, refresh, retry, expire, minimum;
};

class ResponseWriter {
  public:
    /// `buf` must hold at least kHeaderSize + kMaxNameWire + 4 + 64 bytes. `limit` is the
    /// size the client accepts (clamped to buf.size(); values below 512 are raised to 512,
    /// which every client accepts). A buffer smaller than required is a caller bug: then
    /// nothing is ever written and finish() returns 0.
    ResponseWriter(std::span<std::uint8_t> buf, std::size_t limit) noexcept;

    /// Header: ID and opcode and RD/CD copied from the query, QR=1, AA as given, RCODE
    /// low 4 bits (the extended part goes to OPT in finish()). Question echoed with the
    /// client's original letter case when `q` has a parsed question (`with_question`).
    /// When q.has_edns, finish() appends an OPT even without set_opt(): UDP size
    /// kDefaultEdnsUdpSize, DO echoed, and q's ECS echoed with SCOPE PREFIX 0.
    /// May be called again to start over in the same buffer.
    void begin(const Query& q, Rcode rcode, bool aa, bool with_question = true) noexcept;
    /// For replies to queries whose question could not be parsed: header only.
    void begin_header_only(std::uint16_t id, std::uint16_t query_flags, Rcode rcode) noexcept;

    void set_rcode(Rcode rcode) noexcept;

    bool add_a(Section s, NameRef owner, std::uint32_t ttl, const std::uint8_t addr[4]) noexcept;
    bool add_aaaa(Section s, NameRef owner, std::uint32_t ttl,
                  const std::uint8_t addr[16]) noexcept;
    bool add_cname(Section s, NameRef owner, std::uint32_t ttl, NameRef target) noexcept;
    bool add_ns(Section s, NameRef owner, std::uint32_t ttl, NameRef target) noexcept;
    bool add_soa(Section s, NameRef owner, std::uint32_t ttl, const SoaData& soa) noexcept;
    /// One TXT RR holding one character-string (<= 255 bytes; longer text is split into
    /// several character-strings of the same RR).
    bool add_txt(Section s, NameRef owner, std::uint32_t ttl, std::string_view text) noexcept;
    /// An RR of any type whose RDATA the caller wrote (no name compression inside it; the
    /// SVCB/HTTPS answers of lib/gslb).
    bool add_rr(Section s, NameRef owner, std::uint16_t type, std::uint32_t ttl,
                std::span<const std::uint8_t> rdata) noexcept;
    /// RFC 8482 synthesized answer: HINFO "RFC8482" "".
    bool add_hinfo_rfc8482(Section s, NameRef owner, std::uint32_t ttl) noexcept;

    /// Requests an OPT record in finish(): our UDP size, DO echoed, version 0, and when the
    /// query carried ECS the option echoed with `ecs_scope` as SCOPE PREFIX-LENGTH
    /// (clamped to the source prefix); `ecs` == nullptr: no ECS option. Call at most once,
    /// any time before finish(); its space was reserved by begin(). Ignored when the query
    /// had no EDNS (RFC 6891: no OPT in a reply to a query without one).
    void set_opt(std::uint16_t our_udp_size, bool do_bit, const Ecs* ecs,
                 std::uint8_t ecs_scope) noexcept;

    /// Completes the message and returns its length (never 0 after begin()). Calling it
    /// again returns the same length. The header's ARCOUNT includes the OPT record.
    std::size_t finish() noexcept;

    bool truncated() const noexcept { return truncated_; }
    /// RRs added to section `s` (the OPT record not included; 0 everywhere after a
    /// truncating finish()).
    std::uint16_t count(Section s) const noexcept;

  private:
    std::size_t name_size(NameRef n) const noexcept;
    std::uint8_t* start_rr(Section s, NameRef owner, std::uint16_t type, std::uint32_t ttl,
                           std::size_t rdlen) noexcept;
    /// An RR whose RDATA is one name (CNAME, NS).
    bool add_target(Section s, NameRef owner, std::uint16_t type, std::uint32_t ttl,
                    NameRef target) noexcept;

    Writer w_;  ///< over the first `limit` bytes of the buffer; empty when it is too small
    std::size_t question_end_ = kHeaderSize;
    std::size_t opt_reserve_ = 0;
    std::uint16_t counts_[3] = {0, 0, 0};
    Section cur_section_ = Section::Answer;
    std::uint8_t ext_rcode_ = 0;
    bool truncated_ = false;
    bool want_opt_ = false;
    std::uint16_t opt_udp_ = 0;
    bool opt_do_ = false;
    Ecs opt_ecs_{};
    std::uint8_t opt_scope_ = 0;
    bool begun_ = false;
    bool finished_ = false;
};

/// Name helpers for config -> wire conversion (control side; may allocate in callers).
/// Converts "www.Example.com." / "www.example.com" (root implied) to wire format, lower
/// cased. "." is the root. Escapes: `\.` (and `\X` for any X) and `\DDD` (decimal,
/// <= 255). Returns the wire length, 0 on error (empty text or label, label > 63,
/// name > 255, bad escape).
std::size_t name_from_text(std::string_view text, std::uint8_t out[kMaxNameWire]) noexcept;
/// Wire name -> "www.example.com." (for logs and TXT debug); the root is ".". Bytes inside
/// a label that are '.', '\\', or not printable ASCII (space included) are written as
/// `\DDD`. Writes a terminating NUL and returns the text length without it; returns 0
/// when `cap` is too small or `wire` is not an uncompressed name of exactly `len` bytes.
std::size_t name_to_text(const std::uint8_t* wire, std::size_t len, char* out,
                         std::size_t cap) noexcept;

}  // namespace gslbd::dns
