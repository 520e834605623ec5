#include "zone/contents.hh"

namespace gslbd::zone {

namespace {

// Skips one uncompressed wire name; the offset after it, or 0 when it runs out.
std::size_t skip_name(std::string_view d, std::size_t o) noexcept {
    while (o < d.size()) {
        const auto len = static_cast<unsigned char>(d[o]);
        if (len == 0) return o + 1;
        if (len > 63) return 0;
        o += len + 1u;
    }
    return 0;
}

}  // namespace

bool soa_timers(std::string_view d, SoaTimers& out) noexcept {
    std::size_t o = skip_name(d, 0);
    if (o != 0) o = skip_name(d, o);
    if (o == 0 || d.size() != o + 20) return false;
    auto u32 = [&](std::size_t at) {
        const auto* p = reinterpret_cast<const unsigned char*>(d.data() + at);
        return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
               (std::uint32_t{p[2]} << 8) | p[3];
    };
    out.serial = u32(o);
    out.refresh = u32(o + 4);
    out.retry = u32(o + 8);
    out.expire = u32(o + 12);
    out.minimum = u32(o + 16);
    return true;
}

void add_contents(const Contents& c, ZoneBuilder& b, const config::SourcePos& where) {
    for (const Rr& rr : c.rrs)
        b.add({reinterpret_cast<const std::uint8_t*>(rr.owner.data()), rr.owner.size()}, rr.type,
              rr.ttl, {reinterpret_cast<const std::uint8_t*>(rr.rdata.data()), rr.rdata.size()},
              where);
}

NotifyBoard& notify_board() noexcept {
    static NotifyBoard board;
    return board;
}

}  // namespace gslbd::zone
