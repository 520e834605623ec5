#include "edge/cookie.hh"

#include <cstring>

#include "edge/siphash.hh"

namespace gslbd::edge {

namespace {

// Client cookie | version | reserved | timestamp | client address: at most 8+1+3+4+16 bytes.
std::uint64_t cookie_hash(const std::uint8_t key[16], const std::uint8_t* client,
                          const std::uint8_t* head, const util::IpAddr& addr) noexcept {
    std::uint8_t in[32];
    std::memcpy(in, client, 8);
    std::memcpy(in + 8, head, 8);
    const std::size_t alen = addr.family == 4 ? 4 : 16;
    std::memcpy(in + 16, addr.bytes.data(), alen);
    return siphash24(key, in, 16 + alen);
}

inline void put_le64(std::uint8_t* p, std::uint64_t v) noexcept {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

}  // namespace

void make_server_cookie(const std::uint8_t key[16], const std::uint8_t* client,
                        const util::IpAddr& addr, std::uint32_t now, std::uint8_t* out) noexcept {
    out[0] = 1;
    out[1] = out[2] = out[3] = 0;
    out[4] = static_cast<std::uint8_t>(now >> 24);
    out[5] = static_cast<std::uint8_t>(now >> 16);
    out[6] = static_cast<std::uint8_t>(now >> 8);
    out[7] = static_cast<std::uint8_t>(now);
    // SipHash's output as the reference code writes it: little-endian (RFC 9018 Appendix A).
    put_le64(out + 8, cookie_hash(key, client, out, addr));
}

bool server_cookie_valid(const CookieSecrets& secrets, const std::uint8_t* client,
                         const std::uint8_t* server, std::size_t len, const util::IpAddr& addr,
                         std::uint32_t now) noexcept {
    if (len != kServerCookieLen || server[0] != 1) return false;
    const std::uint32_t ts = std::uint32_t{server[4]} << 24 | std::uint32_t{server[5]} << 16 |
                             std::uint32_t{server[6]} << 8 | server[7];
    const auto age = static_cast<std::int32_t>(now - ts);
    if (age > kCookieMaxAge || age < -kCookieMaxFuture) return false;
    std::uint8_t mac[8];
    put_le64(mac, cookie_hash(secrets.current.data(), client, server, addr));
    if (std::memcmp(mac, server + 8, 8) == 0) return true;
    if (!secrets.has_previous) return false;
    put_le64(mac, cookie_hash(secrets.previous.data(), client, server, addr));
    return std::memcmp(mac, server + 8, 8) == 0;
}

}  // namespace gslbd::edge
