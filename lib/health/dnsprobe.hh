#pragma once
/// The few DNS wire operations a health probe needs: build a one-question query and check a
/// reply, on the dns wire toolkit (dns/wire.hh). No allocation in the reply check, never
/// throws there.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "config/model.hh"
#include "util/addr.hh"

namespace gslbd::health {

/// "www.example.com" / "www.example.com." -> lower-case wire format (dns::name_from_text,
/// escapes included). Throws config::ConfigError at `pos` for empty labels, labels over 63
/// bytes, names over 255 bytes or bad escapes.
std::vector<std::uint8_t> encode_qname(const std::string& text, const config::SourcePos& pos);

/// A standard query (RD clear, class IN) with one question.
std::vector<std::uint8_t> build_dns_query(std::uint16_t id, std::span<const std::uint8_t> qname,
                                          std::uint16_t qtype);

enum class DnsReply : std::uint8_t {
    Ok,
    NotOurs,    ///< wrong ID / not a response / other question: keep waiting
    Malformed,  ///< truncated or inconsistent message
    Rcode,      ///< rcode differs from the expected one (see rcode_out)
    NoAddress,  ///< expected address absent from the answer section
};

/// Checks `msg` against the query we sent. `rcode_out` receives the reply's rcode when the
/// header could be read.
DnsReply check_dns_reply(std::span<const std::uint8_t> msg, std::uint16_t id,
                         std::span<const std::uint8_t> qname, std::uint16_t qtype,
                         int expected_rcode, const std::optional<util::IpAddr>& expected_address,
                         int& rcode_out) noexcept;

}  // namespace gslbd::health
