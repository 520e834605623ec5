#include "dns/query.hh"

#include <cstring>

namespace gslbd::dns {

namespace {

/// Bounds-checked cursor in the style of Knot's wire_ctx: the first failure sticks, every
/// later read yields 0 and moves nothing, so callers check `ok()` once per step.
class Reader {
public:
    explicit Reader(std::span<const std::uint8_t> p) noexcept : p_(p.data()), len_(p.size()) {}

    bool ok() const noexcept { return !err_; }
    void fail() noexcept { err_ = true; }
    std::size_t pos() const noexcept { return pos_; }
    std::size_t left() const noexcept { return err_ ? 0 : len_ - pos_; }
    const std::uint8_t* data() const noexcept { return p_; }
    std::size_t size() const noexcept { return len_; }

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
        std::uint16_t v = static_cast<std::uint16_t>(p_[pos_] << 8 | p_[pos_ + 1]);
        pos_ += 2;
        return v;
    }
    std::uint32_t u32() noexcept {
        if (!need(4)) return 0;
        std::uint32_t v = std::uint32_t{p_[pos_]} << 24 | std::uint32_t{p_[pos_ + 1]} << 16 |
                          std::uint32_t{p_[pos_ + 2]} << 8 | std::uint32_t{p_[pos_ + 3]};
        pos_ += 4;
        return v;
    }
    void skip(std::size_t n) noexcept {
        if (need(n)) pos_ += n;
    }
    void seek(std::size_t pos) noexcept {
        if (pos > len_) err_ = true;
        if (!err_) pos_ = pos;
    }

private:
    const std::uint8_t* p_;
    std::size_t len_;
    std::size_t pos_ = 0;
    bool err_ = false;
};

/// Reads the (possibly compressed) name at the cursor and leaves the cursor after it.
/// `out` (may be null: validate only) receives the decompressed wire name. Every pointer
/// must point below the start of the label run it ends (and past the header), so the
/// start offset strictly decreases with each jump: loops are impossible and the walk is
/// bounded by the packet size. Returns the wire length, 0 on any error.
std::size_t read_name(Reader& r, std::uint8_t* out, std::uint8_t* labels) noexcept {
    const std::uint8_t* p = r.data();
    const std::size_t size = r.size();
    std::size_t pos = r.pos();
    std::size_t run_start = pos;
    std::size_t end = 0;  // cursor position after the name; set at the first pointer
    std::size_t len = 0;
    std::uint8_t nlabels = 0;
    if (!r.ok()) return 0;
    for (;;) {
        if (pos >= size) return r.fail(), 0;
        const std::uint8_t b = p[pos];
        if ((b & 0xC0) == 0xC0) {
            if (pos + 1 >= size) return r.fail(), 0;
            const std::size_t target = static_cast<std::size_t>(b & 0x3F) << 8 | p[pos + 1];
            if (target >= run_start || target < kHeaderSize) return r.fail(), 0;
            if (end == 0) end = pos + 2;
            pos = run_start = target;
            continue;
        }
        if (b & 0xC0) return r.fail(), 0;  // 0x40 / 0x80: reserved label types
        if (len + 1 + b > kMaxNameWire) return r.fail(), 0;
        if (b == 0) {
            if (out) out[len] = 0;
            ++len;
            if (end == 0) end = pos + 1;
            break;
        }
        if (pos + 1 + b > size) return r.fail(), 0;
        if (out) std::memcpy(out + len, p + pos, 1u + b);
        len += 1u + b;
        pos += 1u + b;
        ++nlabels;
    }
    if (labels) *labels = nlabels;
    r.seek(end);
    return len;
}

bool ecs_valid_and_copy(Reader& r, std::size_t optlen, Ecs& ecs) noexcept {
    if (optlen < 4) return false;
    const std::uint16_t family = r.u16();
    const std::uint8_t source = r.u8();
    const std::uint8_t scope = r.u8();
    const std::size_t alen = optlen - 4;
    unsigned max_prefix = 0;
    if (family == 1) {
        max_prefix = 32;
    } else if (family == 2) {
        max_prefix = 128;
    } else {
        return false;
    }
    if (source > max_prefix || scope != 0) return false;
    if (alen != (source + 7u) / 8u) return false;
    if (!r.need(alen)) return false;
    ecs.addr.fill(0);
    for (std::size_t i = 0; i < alen; ++i) ecs.addr[i] = r.u8();
    if (source % 8 != 0) {
        const std::uint8_t host_mask = static_cast<std::uint8_t>(0xFF >> (source % 8));
        if (ecs.addr[alen - 1] & host_mask) return false;
    }
    ecs.present = true;
    ecs.family = family;
    ecs.source_prefix = source;
    ecs.scope_prefix = 0;
    return true;
}

/// Parses the RDATA of an OPT record of EDNS version 0. Other options (cookie, padding,
/// ...) are skipped after a bounds check.
bool parse_opt_options(Reader& r, std::size_t rdlen, Query& q) noexcept {
    const std::size_t end = r.pos() + rdlen;
    while (r.ok() && r.pos() < end) {
        if (end - r.pos() < 4) return false;
        const std::uint16_t code = r.u16();
        const std::uint16_t optlen = r.u16();
        if (end - r.pos() < optlen) return false;
        if (code == kOptionEcs) {
            if (q.ecs.present) return false;
            const std::size_t start = r.pos();
            if (!ecs_valid_and_copy(r, optlen, q.ecs)) return false;
            if (r.pos() != start + optlen) return false;
        } else {
            r.skip(optlen);
        }
    }
    return r.ok() && r.pos() == end;
}

void reset(Query& q) noexcept {
    // The name arrays are left alone: only the first qname_len bytes are meaningful.
    q.id = 0;
    q.flags = 0;
    q.opcode = 0;
    q.qtype = 0;
    q.qclass = 0;
    q.qname_len = 0;
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
}

}  // namespace

void lower_name(const std::uint8_t* in, std::uint8_t* out, std::size_t len) noexcept {
    // Length bytes are <= 63, below 'A' (65), so lower-casing every byte leaves them intact.
    for (std::size_t i = 0; i < len; ++i) {
        const std::uint8_t c = in[i];
        out[i] = (c >= 'A' && c <= 'Z') ? static_cast<std::uint8_t>(c + 32) : c;
    }
}

ParseResult parse_query(std::span<const std::uint8_t> packet, Query& q) noexcept {
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
        const std::size_t n = read_name(r, q.qname.data(), &labels);
        q.qtype = r.u16();
        q.qclass = r.u16();
        if (n != 0 && r.ok()) {
            q.qname_len = static_cast<std::uint8_t>(n);
            q.qname_labels = labels;
            q.question_end = static_cast<std::uint16_t>(r.pos());
            lower_name(q.qname.data(), q.qname_lower.data(), n);
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
        const std::size_t owner_len = read_name(r, owner, nullptr);
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
        } else if (!parse_opt_options(r, rdlen, q)) {
            return res;
        }
    }
    if (!r.ok() || r.pos() != packet.size()) return res;
    res.status = version_unsupported ? ParseStatus::BadVers : ParseStatus::Ok;
    return res;
}

}  // namespace gslbd::dns
