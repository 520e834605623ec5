#include "dns/response.hh"

#include <algorithm>
#include <cstring>

namespace gslbd::dns {

namespace {

constexpr std::size_t kMinBuffer = kHeaderSize + kMaxNameWire + 4 + 64;
constexpr std::size_t kOptFixed = 11;  // root owner, TYPE, CLASS, TTL, RDLENGTH
constexpr std::size_t kRrFixed = 10;   // TYPE, CLASS, TTL, RDLENGTH after the owner
constexpr std::uint8_t kRfc8482[] = {'R', 'F', 'C', '8', '4', '8', '2'};

std::size_t ecs_addr_len(const Ecs& e) noexcept {
    return std::min<std::size_t>((e.source_prefix + 7u) / 8u, e.addr.size());
}

std::size_t opt_size(const Ecs& e) noexcept {
    return kOptFixed + (e.present ? 4 + 4 + ecs_addr_len(e) : 0);
}

void store16(std::uint8_t* p, std::uint16_t v) noexcept {
    p[0] = static_cast<std::uint8_t>(v >> 8);
    p[1] = static_cast<std::uint8_t>(v);
}

/// Length of an uncompressed wire name that ends exactly at the end of `w`, else 0.
std::size_t wire_name_len(std::span<const std::uint8_t> w) noexcept {
    if (w.empty() || w.size() > kMaxNameWire) return 0;
    std::size_t i = 0;
    while (i < w.size()) {
        const std::uint8_t l = w[i];
        if (l > kMaxLabel) return 0;
        if (l == 0) return i + 1 == w.size() ? w.size() : 0;
        i += 1u + l;
    }
    return 0;
}

}  // namespace

ResponseWriter::ResponseWriter(std::span<std::uint8_t> buf, std::size_t limit) noexcept
    : buf_(buf.data()), cap_(buf.size() >= kMinBuffer ? buf.size() : 0) {
    limit_ = std::min(std::max(limit, kMinUdpSize), cap_);
}

void ResponseWriter::put16(std::uint16_t v) noexcept {
    store16(buf_ + pos_, v);
    pos_ += 2;
}

void ResponseWriter::put32(std::uint32_t v) noexcept {
    put16(static_cast<std::uint16_t>(v >> 16));
    put16(static_cast<std::uint16_t>(v));
}

void ResponseWriter::put_bytes(const std::uint8_t* p, std::size_t n) noexcept {
    if (n) std::memcpy(buf_ + pos_, p, n);
    pos_ += n;
}

void ResponseWriter::begin(const Query& q, Rcode rcode, bool aa, bool with_question) noexcept {
    if (cap_ == 0) return;
    const auto rc = static_cast<std::uint16_t>(rcode);
    const bool echo = with_question && q.qname_len != 0;
    std::uint16_t flags = flag::QR | static_cast<std::uint16_t>((q.opcode & 0x0F) << 11) |
                          (q.flags & (flag::RD | flag::CD)) | (rc & 0x0F);
    if (aa) flags |= flag::AA;
    pos_ = 0;
    put16(q.id);
    put16(flags);
    put16(echo ? 1 : 0);
    put16(0);
    put16(0);
    put16(0);
    if (echo) {
        put_bytes(q.qname.data(), q.qname_len);
        put16(q.qtype);
        put16(q.qclass);
    }
    question_end_ = pos_;
    counts_[0] = counts_[1] = counts_[2] = 0;
    cur_section_ = Section::Answer;
    ext_rcode_ = static_cast<std::uint16_t>(rc >> 4);
    truncated_ = false;
    finished_ = false;
    begun_ = true;
    want_opt_ = q.has_edns;
    opt_udp_ = kDefaultEdnsUdpSize;
    opt_do_ = q.do_bit;
    opt_ecs_ = q.ecs;
    opt_scope_ = 0;
    opt_reserve_ = want_opt_ ? opt_size(opt_ecs_) : 0;
}

void ResponseWriter::begin_header_only(std::uint16_t id, std::uint16_t query_flags,
                                       Rcode rcode) noexcept {
    Query q;
    q.id = id;
    q.flags = query_flags;
    q.opcode = static_cast<std::uint8_t>((query_flags >> 11) & 0x0F);
    begin(q, rcode, false, false);
}

void ResponseWriter::set_rcode(Rcode rcode) noexcept {
    if (cap_ == 0 || !begun_ || finished_) return;
    const auto rc = static_cast<std::uint16_t>(rcode);
    buf_[3] = static_cast<std::uint8_t>((buf_[3] & 0xF0) | (rc & 0x0F));
    ext_rcode_ = static_cast<std::uint16_t>(rc >> 4);
}

std::size_t ResponseWriter::name_size(NameRef n) const noexcept {
    if (n.is_qname) return question_end_ > kHeaderSize ? 2 : 0;
    return wire_name_len(n.wire);
}

bool ResponseWriter::reserve_rr(std::size_t n) noexcept {
    if (truncated_) return false;
    if (pos_ + n + opt_reserve_ > limit_) {
        truncated_ = true;
        return false;
    }
    return true;
}

bool ResponseWriter::prepare_rr(Section s, NameRef owner, std::size_t rdlen) noexcept {
    if (cap_ == 0 || !begun_ || finished_ || s < cur_section_) return false;
    const std::size_t owner_len = name_size(owner);
    if (owner_len == 0 || rdlen > 0xFFFF) return false;
    return reserve_rr(owner_len + kRrFixed + rdlen);
}

bool ResponseWriter::write_name(NameRef n) noexcept {
    if (n.is_qname) {
        put16(0xC000 | kHeaderSize);
    } else {
        put_bytes(n.wire.data(), n.wire.size());
    }
    return true;
}

bool ResponseWriter::rr_header(Section s, NameRef owner, std::uint16_t type,
                               std::uint32_t ttl) noexcept {
    rr_start_ = pos_;
    cur_section_ = s;
    write_name(owner);
    put16(type);
    put16(kClassIN);
    put32(ttl);
    rdlen_pos_ = pos_;
    put16(0);
    return true;
}

bool ResponseWriter::rr_end() noexcept {
    store16(buf_ + rdlen_pos_, static_cast<std::uint16_t>(pos_ - rdlen_pos_ - 2));
    ++counts_[static_cast<std::size_t>(cur_section_)];
    return true;
}

bool ResponseWriter::add_a(Section s, NameRef owner, std::uint32_t ttl,
                           const std::uint8_t addr[4]) noexcept {
    if (!prepare_rr(s, owner, 4)) return false;
    rr_header(s, owner, qtype::A, ttl);
    put_bytes(addr, 4);
    return rr_end();
}

bool ResponseWriter::add_aaaa(Section s, NameRef owner, std::uint32_t ttl,
                              const std::uint8_t addr[16]) noexcept {
    if (!prepare_rr(s, owner, 16)) return false;
    rr_header(s, owner, qtype::AAAA, ttl);
    put_bytes(addr, 16);
    return rr_end();
}

bool ResponseWriter::add_cname(Section s, NameRef owner, std::uint32_t ttl,
                               NameRef target) noexcept {
    const std::size_t tlen = name_size(target);
    if (tlen == 0 || !prepare_rr(s, owner, tlen)) return false;
    rr_header(s, owner, qtype::CNAME, ttl);
    write_name(target);
    return rr_end();
}

bool ResponseWriter::add_ns(Section s, NameRef owner, std::uint32_t ttl, NameRef target) noexcept {
    const std::size_t tlen = name_size(target);
    if (tlen == 0 || !prepare_rr(s, owner, tlen)) return false;
    rr_header(s, owner, qtype::NS, ttl);
    write_name(target);
    return rr_end();
}

bool ResponseWriter::add_soa(Section s, NameRef owner, std::uint32_t ttl,
                             const SoaData& soa) noexcept {
    const std::size_t mlen = wire_name_len(soa.mname);
    const std::size_t rlen = wire_name_len(soa.rname);
    if (mlen == 0 || rlen == 0 || !prepare_rr(s, owner, mlen + rlen + 20)) return false;
    rr_header(s, owner, qtype::SOA, ttl);
    put_bytes(soa.mname.data(), mlen);
    put_bytes(soa.rname.data(), rlen);
    put32(soa.serial);
    put32(soa.refresh);
    put32(soa.retry);
    put32(soa.expire);
    put32(soa.minimum);
    return rr_end();
}

bool ResponseWriter::add_txt(Section s, NameRef owner, std::uint32_t ttl,
                             std::string_view text) noexcept {
    const std::size_t chunks = text.empty() ? 1 : (text.size() + 254) / 255;
    if (!prepare_rr(s, owner, text.size() + chunks)) return false;
    rr_header(s, owner, qtype::TXT, ttl);
    const auto* p = reinterpret_cast<const std::uint8_t*>(text.data());
    std::size_t left = text.size();
    do {
        const std::size_t n = std::min<std::size_t>(left, 255);
        buf_[pos_++] = static_cast<std::uint8_t>(n);
        put_bytes(p, n);
        p += n;
        left -= n;
    } while (left > 0);
    return rr_end();
}

bool ResponseWriter::add_hinfo_rfc8482(Section s, NameRef owner, std::uint32_t ttl) noexcept {
    if (!prepare_rr(s, owner, 1 + sizeof kRfc8482 + 1)) return false;
    rr_header(s, owner, qtype::HINFO, ttl);
    buf_[pos_++] = sizeof kRfc8482;  // CPU
    put_bytes(kRfc8482, sizeof kRfc8482);
    buf_[pos_++] = 0;  // OS: empty
    return rr_end();
}

void ResponseWriter::set_opt(std::uint16_t our_udp_size, bool do_bit, const Ecs* ecs,
                             std::uint8_t ecs_scope) noexcept {
    if (cap_ == 0 || !begun_ || finished_ || !want_opt_) return;
    opt_udp_ = std::max<std::uint16_t>(our_udp_size, kMinUdpSize);
    opt_do_ = do_bit;
    opt_ecs_ = ecs ? *ecs : Ecs{};
    opt_scope_ = std::min(ecs_scope, opt_ecs_.source_prefix);
    // An ECS other than the query's may need more room than begin() reserved.
    opt_reserve_ = opt_size(opt_ecs_);
    if (pos_ + opt_reserve_ > limit_) truncated_ = true;
}

std::size_t ResponseWriter::finish() noexcept {
    if (cap_ == 0 || !begun_) return 0;
    if (finished_) return pos_;
    if (truncated_) {
        pos_ = question_end_;
        counts_[0] = counts_[1] = counts_[2] = 0;
        buf_[2] |= static_cast<std::uint8_t>(flag::TC >> 8);
    }
    store16(buf_ + 6, counts_[0]);
    store16(buf_ + 8, counts_[1]);
    store16(buf_ + 10, static_cast<std::uint16_t>(counts_[2] + (want_opt_ ? 1 : 0)));
    if (want_opt_) {
        buf_[pos_++] = 0;  // root owner
        put16(qtype::OPT);
        put16(opt_udp_);
        // TTL: extended RCODE (upper 8 of 12 bits), VERSION 0, DO flag.
        put32(std::uint32_t{static_cast<std::uint8_t>(ext_rcode_)} << 24 |
              (opt_do_ ? 0x8000u : 0u));
        if (opt_ecs_.present) {
            const std::size_t alen = ecs_addr_len(opt_ecs_);
            put16(static_cast<std::uint16_t>(4 + 4 + alen));
            put16(kOptionEcs);
            put16(static_cast<std::uint16_t>(4 + alen));
            put16(opt_ecs_.family);
            buf_[pos_++] = opt_ecs_.source_prefix;
            buf_[pos_++] = opt_scope_;
            put_bytes(opt_ecs_.addr.data(), alen);
        } else {
            put16(0);
        }
    }
    finished_ = true;
    return pos_;
}

std::uint16_t ResponseWriter::count(Section s) const noexcept {
    return counts_[static_cast<std::size_t>(s)];
}

}  // namespace gslbd::dns
