#include "health/dnsprobe.hh"

#include <algorithm>

#include "dns/response.hh"
#include "dns/wire.hh"

namespace gslbd::health {

std::vector<std::uint8_t> encode_qname(const std::string& text, const config::SourcePos& pos) {
    if (text.empty()) throw config::ConfigError(pos, "query_name", "must not be empty");
    std::uint8_t wire[dns::kMaxNameWire];
    const std::size_t n = dns::name_from_text(text, wire);
    if (n == 0) {
        throw config::ConfigError(pos, "query_name",
                                  "'" + text +
                                      "' is not a domain name (empty label, label over 63 "
                                      "bytes, name over 255 bytes or a bad escape)");
    }
    return std::vector<std::uint8_t>(wire, wire + n);
}

std::vector<std::uint8_t> build_dns_query(std::uint16_t id, std::span<const std::uint8_t> qname,
                                          std::uint16_t qtype) {
    std::vector<std::uint8_t> q(dns::kHeaderSize + qname.size() + 4);
    dns::Writer w(q);
    w.u16(id);
    w.u16(0);  // flags: QUERY, RD clear
    w.u16(1);  // QDCOUNT
    w.u16(0);
    w.u16(0);
    w.u16(0);
    w.bytes(qname);
    w.u16(qtype);
    w.u16(dns::kClassIN);
    return q;
}

namespace {

bool same_name(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) noexcept {
    if (a.size() != b.size()) return false;
    auto lower = [](std::uint8_t c) noexcept {
        return c >= 'A' && c <= 'Z' ? static_cast<std::uint8_t>(c + 32) : c;
    };
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

}  // namespace

DnsReply check_dns_reply(std::span<const std::uint8_t> msg, std::uint16_t id,
                         std::span<const std::uint8_t> qname, std::uint16_t qtype,
                         int expected_rcode, const std::optional<util::IpAddr>& expected_address,
                         int& rcode_out) noexcept {
    dns::Reader r(msg);
    dns::Header h;
    if (!dns::read_header(r, h)) return DnsReply::Malformed;
    if (h.id != id || !(h.flags & dns::flag::QR)) return DnsReply::NotOurs;
    rcode_out = h.rcode();
    if (h.qdcount == 1) {
        // the question must be ours (uncompressed, as we sent it)
        const std::uint8_t* name = r.bytes(qname.size());
        const std::uint16_t rtype = r.u16();
        r.skip(2);
        if (!r.ok()) return DnsReply::Malformed;
        if (!same_name({name, qname.size()}, qname) || rtype != qtype) return DnsReply::NotOurs;
    } else if (h.qdcount != 0) {
        return DnsReply::Malformed;
    }
    if (rcode_out != expected_rcode) return DnsReply::Rcode;
    if (!expected_address) return DnsReply::Ok;
    const auto& want = *expected_address;
    for (std::uint16_t i = 0; i < h.ancount; ++i) {
        dns::RrInfo rr;
        if (dns::read_rr(r, nullptr, rr) == 0) return DnsReply::Malformed;
        if (rr.rclass == dns::kClassIN &&
            ((rr.type == dns::qtype::A && rr.rdlength == 4 && want.family == 4) ||
             (rr.type == dns::qtype::AAAA && rr.rdlength == 16 && want.family == 6)) &&
            std::equal(msg.begin() + static_cast<std::ptrdiff_t>(rr.rdata),
                       msg.begin() + static_cast<std::ptrdiff_t>(rr.rdata + rr.rdlength),
                       want.bytes.begin())) {
            return DnsReply::Ok;
        }
    }
    return DnsReply::NoAddress;
}

}  // namespace gslbd::health
