#include "dns/wire.hh"

namespace gslbd::dns {

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

std::size_t read_rr(Reader& r, std::uint8_t* owner, RrInfo& rr) noexcept {
    const std::size_t owner_len = read_name(r, owner);
    rr.type = r.u16();
    rr.rclass = r.u16();
    rr.ttl = r.u32();
    rr.rdlength = r.u16();
    rr.rdata = r.pos();
    r.skip(rr.rdlength);
    return r.ok() ? owner_len : 0;
}

}  // namespace gslbd::dns
