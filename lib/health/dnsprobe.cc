#include "health/dnsprobe.hh"

#include <algorithm>
#include <cctype>

namespace gslbd::health {

std::vector<std::uint8_t> encode_qname(const std::string& text, const config::SourcePos& pos) {
    std::vector<std::uint8_t> wire;
    if (text.empty()) throw config::ConfigError(pos, "query_name", "must not be empty");
    if (text != ".") {
        std::size_t start = 0;
        while (start < text.size()) {
            std::size_t dot = text.find('.', start);
            if (dot == std::string::npos) dot = text.size();
            std::size_t len = dot - start;
            if (len == 0 || len > 63) {
                throw config::ConfigError(pos, "query_name",
                                          "'" + text + "' has an empty or over-long label");
            }
            wire.push_back(static_cast<std::uint8_t>(len));
            for (std::size_t i = start; i < dot; ++i) {
                wire.push_back(
                    static_cast<std::uint8_t>(std::tolower(static_cast<unsigned char>(text[i]))));
            }
            start = dot + 1;
        }
    }
    wire.push_back(0);
    if (wire.size() > 255) throw config::ConfigError(pos, "query_name", "name over 255 bytes");
    return wire;
}

std::vector<std::uint8_t> build_dns_query(std::uint16_t id, std::span<const std::uint8_t> qname,
                                          std::uint16_t qtype) {
    std::vector<std::uint8_t> q(12 + qname.size() + 4, 0);
    q[0] = static_cast<std::uint8_t>(id >> 8);
    q[1] = static_cast<std::uint8_t>(id);
    q[5] = 1;  // QDCOUNT
    std::copy(qname.begin(), qname.end(), q.begin() + 12);
    std::size_t at = 12 + qname.size();
    q[at] = static_cast<std::uint8_t>(qtype >> 8);
    q[at + 1] = static_cast<std::uint8_t>(qtype);
    q[at + 3] = 1;  // class IN
    return q;
}

namespace {

struct Reader {
    std::span<const std::uint8_t> m;
    std::size_t at = 0;
    bool ok = true;
    std::uint16_t u16() noexcept {
        if (at + 2 > m.size()) {
            ok = false;
            return 0;
        }
        std::uint16_t v = static_cast<std::uint16_t>(m[at] << 8 | m[at + 1]);
        at += 2;
        return v;
    }
    void skip(std::size_t n) noexcept {
        if (at + n > m.size())
            ok = false;
        else
            at += n;
    }
    // Skips a possibly compressed name; compression ends the name in place.
    void skip_name() noexcept {
        for (int guard = 0; guard < 128; ++guard) {
            if (at >= m.size()) break;
            std::uint8_t l = m[at];
            if ((l & 0xC0) == 0xC0) {
                skip(2);
                return;
            }
            if (l & 0xC0) break;
            ++at;
            if (l == 0) return;
            skip(l);
            if (!ok) return;
        }
        ok = false;
    }
};

bool same_name(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(a[i]) != std::tolower(b[i])) return false;
    }
    return true;
}

}  // namespace

DnsReply check_dns_reply(std::span<const std::uint8_t> msg, std::uint16_t id,
                         std::span<const std::uint8_t> qname, std::uint16_t qtype,
                         int expected_rcode, const std::optional<util::IpAddr>& expected_address,
                         int& rcode_out) noexcept {
    Reader r{msg};
    std::uint16_t rid = r.u16();
    std::uint16_t flags = r.u16();
    std::uint16_t qd = r.u16(), an = r.u16();
    r.skip(4);
    if (!r.ok) return DnsReply::Malformed;
    if (rid != id || !(flags & 0x8000)) return DnsReply::NotOurs;
    rcode_out = flags & 0x0F;
    if (qd == 1) {
        // the question must be ours (uncompressed, as we sent it)
        if (r.at + qname.size() + 4 > msg.size()) return DnsReply::Malformed;
        if (!same_name(msg.subspan(r.at, qname.size()), qname)) return DnsReply::NotOurs;
        r.skip(qname.size());
        if (r.u16() != qtype) return DnsReply::NotOurs;
        r.skip(2);
    } else if (qd != 0) {
        return DnsReply::Malformed;
    }
    if (rcode_out != expected_rcode) return DnsReply::Rcode;
    if (!expected_address) return DnsReply::Ok;
    for (std::uint16_t i = 0; i < an && r.ok; ++i) {
        r.skip_name();
        std::uint16_t type = r.u16();
        std::uint16_t cls = r.u16();
        r.skip(4);
        std::uint16_t rdlen = r.u16();
        if (!r.ok || r.at + rdlen > msg.size()) return DnsReply::Malformed;
        const auto& want = *expected_address;
        if (cls == 1 && ((type == 1 && rdlen == 4 && want.family == 4) ||
                         (type == 28 && rdlen == 16 && want.family == 6))) {
            bool eq = true;
            for (std::size_t k = 0; k < rdlen; ++k) eq = eq && msg[r.at + k] == want.bytes[k];
            if (eq) return DnsReply::Ok;
        }
        r.skip(rdlen);
    }
    return r.ok ? DnsReply::NoAddress : DnsReply::Malformed;
}

}  // namespace gslbd::health
