#include "dns/response.hh"

#include <algorithm>
#include <cstring>

namespace gslbd::dns {

namespace {

constexpr std::size_t kMinBuffer = kHeaderSize + kMaxNameWire + 4 + 64;
constexpr std::uint8_t kRfc8482[] = {'R', 'F', 'C', '8', '4', '8', '2'};

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

/// Writes `n` (already sized by name_size()) at `p` and returns the end.
std::uint8_t* put_name(std::uint8_t* p, NameRef n) noexcept {
    if (n.is_qname) {
        util::store16(p, 0xC000 | kHeaderSize);
        return p + 2;
    }
    copy_bytes(p, n.wire.data(), n.wire.size());
    return p + n.wire.size();
}

std::span<std::uint8_t> usable(std::span<std::uint8_t> buf, std::size_t limit) noexcept {
    if (buf.size() < kMinBuffer) return {};
    return buf.first(std::min(std::max(limit, kMinUdpSize), buf.size()));
}

}  // namespace

// The writer covers only the first `limit` bytes: a message never grows past what the
// client accepts, and the truncation rule below keeps room for the OPT record in it.
ResponseWriter::ResponseWriter(std::span<std::uint8_t> buf, std::size_t limit) noexcept
    : w_(usable(buf, limit)) {}

void ResponseWriter::begin(const Query& q, Rcode rcode, bool aa, bool with_question) noexcept {
    if (w_.size() == 0) return;
    const auto rc = static_cast<std::uint16_t>(rcode);
    const bool echo = with_question && q.qname_len != 0;
    std::uint16_t flags = flag::QR | static_cast<std::uint16_t>((q.opcode & 0x0F) << 11) |
                          (q.flags & (flag::RD | flag::CD)) | (rc & 0x0F);
    if (aa) flags |= flag::AA;
    w_.reset();
    // Header and question always fit: the buffer holds kMinBuffer bytes and limit >= 512.
    std::uint8_t* h = w_.claim(kHeaderSize + (echo ? q.qname_len + 4u : 0u));
    if (h == nullptr) return;
    util::store16(h, q.id);
    util::store16(h + 2, flags);
    util::store16(h + 4, echo ? 1 : 0);
    std::memset(h + 6, 0, 6);
    if (echo) {
        copy_bytes(h + kHeaderSize, q.qname.data(), q.qname_len);
        util::store16(h + kHeaderSize + q.qname_len, q.qtype);
        util::store16(h + kHeaderSize + q.qname_len + 2, q.qclass);
    }
    question_end_ = w_.pos();
    counts_[0] = counts_[1] = counts_[2] = 0;
    cur_section_ = Section::Answer;
    ext_rcode_ = static_cast<std::uint8_t>(rc >> 4);
    truncated_ = false;
    finished_ = false;
    begun_ = true;
    want_opt_ = q.has_edns;
    opt_udp_ = kDefaultEdnsUdpSize;
    opt_do_ = q.do_bit;
    opt_ecs_ = q.ecs;
    opt_scope_ = 0;
    opt_reserve_ = want_opt_ ? opt_size(&opt_ecs_) : 0;
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
    if (w_.size() == 0 || !begun_ || finished_) return;
    const auto rc = static_cast<std::uint16_t>(rcode);
    std::uint8_t* h = w_.data();
    h[3] = static_cast<std::uint8_t>((h[3] & 0xF0) | (rc & 0x0F));
    ext_rcode_ = static_cast<std::uint8_t>(rc >> 4);
}

std::size_t ResponseWriter::name_size(NameRef n) const noexcept {
    if (n.is_qname) return question_end_ > kHeaderSize ? 2 : 0;
    return wire_name_len(n.wire);
}

/// Checks and claims a whole RR of `rdlen` bytes of RDATA at once, writes its owner and
/// fixed fields, counts it, and returns where its RDATA goes; nullptr (nothing written)
/// for a caller bug, or when it does not fit beside the OPT record (then truncated).
std::uint8_t* ResponseWriter::start_rr(Section s, NameRef owner, std::uint16_t type,
                                       std::uint32_t ttl, std::size_t rdlen) noexcept {
    if (w_.size() == 0 || !begun_ || finished_ || s < cur_section_) return nullptr;
    const std::size_t owner_len = name_size(owner);
    if (owner_len == 0 || rdlen > 0xFFFF || truncated_) return nullptr;
    const std::size_t n = owner_len + kRrFixed + rdlen;
    if (n + opt_reserve_ > w_.left()) {
        truncated_ = true;
        return nullptr;
    }
    std::uint8_t* p = w_.claim(n);
    if (p == nullptr) return nullptr;
    cur_section_ = s;
    ++counts_[static_cast<std::size_t>(s)];
    p = put_name(p, owner);
    util::store16(p, type);
    util::store16(p + 2, kClassIN);
    util::store32(p + 4, ttl);
    util::store16(p + 8, static_cast<std::uint16_t>(rdlen));
    return p + kRrFixed;
}

bool ResponseWriter::add_a(Section s, NameRef owner, std::uint32_t ttl,
                           const std::uint8_t addr[4]) noexcept {
    std::uint8_t* d = start_rr(s, owner, qtype::A, ttl, 4);
    if (d == nullptr) return false;
    std::memcpy(d, addr, 4);
    return true;
}

bool ResponseWriter::add_aaaa(Section s, NameRef owner, std::uint32_t ttl,
                              const std::uint8_t addr[16]) noexcept {
    std::uint8_t* d = start_rr(s, owner, qtype::AAAA, ttl, 16);
    if (d == nullptr) return false;
    std::memcpy(d, addr, 16);
    return true;
}

bool ResponseWriter::add_target(Section s, NameRef owner, std::uint16_t type, std::uint32_t ttl,
                                NameRef target) noexcept {
    const std::size_t tlen = name_size(target);
    std::uint8_t* d = tlen != 0 ? start_rr(s, owner, type, ttl, tlen) : nullptr;
    if (d == nullptr) return false;
    put_name(d, target);
    return true;
}

bool ResponseWriter::add_cname(Section s, NameRef owner, std::uint32_t ttl,
                               NameRef target) noexcept {
    return add_target(s, owner, qtype::CNAME, ttl, target);
}

bool ResponseWriter::add_ns(Section s, NameRef owner, std::uint32_t ttl, NameRef target) noexcept {
    return add_target(s, owner, qtype::NS, ttl, target);
}

bool ResponseWriter::add_soa(Section s, NameRef owner, std::uint32_t ttl,
                             const SoaData& soa) noexcept {
    const std::size_t mlen = wire_name_len(soa.mname);
    const std::size_t rlen = wire_name_len(soa.rname);
    std::uint8_t* d =
        mlen != 0 && rlen != 0 ? start_rr(s, owner, qtype::SOA, ttl, mlen + rlen + 20) : nullptr;
    if (d == nullptr) return false;
    std::memcpy(d, soa.mname.data(), mlen);
    d += mlen;
    std::memcpy(d, soa.rname.data(), rlen);
    d += rlen;
    util::store32(d, soa.serial);
    util::store32(d + 4, soa.refresh);
    util::store32(d + 8, soa.retry);
    util::store32(d + 12, soa.expire);
    util::store32(d + 16, soa.minimum);
    return true;
}

bool ResponseWriter::add_txt(Section s, NameRef owner, std::uint32_t ttl,
                             std::string_view text) noexcept {
    const std::size_t chunks = text.empty() ? 1 : (text.size() + 254) / 255;
    std::uint8_t* d = start_rr(s, owner, qtype::TXT, ttl, text.size() + chunks);
    if (d == nullptr) return false;
    const auto* p = reinterpret_cast<const std::uint8_t*>(text.data());
    std::size_t left = text.size();
    do {
        const std::size_t n = std::min<std::size_t>(left, 255);
        *d++ = static_cast<std::uint8_t>(n);
        if (n != 0) std::memcpy(d, p, n);
        d += n;
        p += n;
        left -= n;
    } while (left > 0);
    return true;
}

bool ResponseWriter::add_rr(Section s, NameRef owner, std::uint16_t type, std::uint32_t ttl,
                            std::span<const std::uint8_t> rdata) noexcept {
    std::uint8_t* d = start_rr(s, owner, type, ttl, rdata.size());
    if (d == nullptr) return false;
    if (!rdata.empty()) std::memcpy(d, rdata.data(), rdata.size());
    return true;
}

bool ResponseWriter::add_hinfo_rfc8482(Section s, NameRef owner, std::uint32_t ttl) noexcept {
    std::uint8_t* d = start_rr(s, owner, qtype::HINFO, ttl, 1 + sizeof kRfc8482 + 1);
    if (d == nullptr) return false;
    d[0] = sizeof kRfc8482;  // CPU
    std::memcpy(d + 1, kRfc8482, sizeof kRfc8482);
    d[1 + sizeof kRfc8482] = 0;  // OS: empty
    return true;
}

void ResponseWriter::set_opt(std::uint16_t our_udp_size, bool do_bit, const Ecs* ecs,
                             std::uint8_t ecs_scope) noexcept {
    if (w_.size() == 0 || !begun_ || finished_ || !want_opt_) return;
    opt_udp_ = our_udp_size;  // write_opt() raises it to 512
    opt_do_ = do_bit;
    opt_ecs_ = ecs ? *ecs : Ecs{};
    opt_scope_ = ecs_scope;  // write_opt() clamps it to the source prefix
    // An ECS other than the query's may need more room than begin() reserved.
    opt_reserve_ = opt_size(&opt_ecs_);
    if (opt_reserve_ > w_.left()) truncated_ = true;
}

std::size_t ResponseWriter::finish() noexcept {
    if (w_.size() == 0 || !begun_) return 0;
    if (finished_) return w_.pos();
    if (truncated_) {
        w_.rewind(question_end_);
        counts_[0] = counts_[1] = counts_[2] = 0;
        w_.data()[2] |= static_cast<std::uint8_t>(flag::TC >> 8);
    }
    w_.patch16(6, counts_[0]);
    w_.patch16(8, counts_[1]);
    w_.patch16(10, static_cast<std::uint16_t>(counts_[2] + (want_opt_ ? 1 : 0)));
    // Header, question and OPT fit in 512 bytes: the reserve kept room for the OPT.
    if (want_opt_) put_opt(w_, opt_udp_, ext_rcode_, opt_do_, &opt_ecs_, opt_scope_);
    finished_ = true;
    return w_.pos();
}

std::uint16_t ResponseWriter::count(Section s) const noexcept {
    return counts_[static_cast<std::size_t>(s)];
}

}  // namespace gslbd::dns
