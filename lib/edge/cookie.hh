#pragma once
/// DNS cookies (RFC 7873) with interoperable server cookies (RFC 9018): version 1, three
/// reserved bytes, a 32-bit timestamp and SipHash-2-4 over client cookie, version, reserved,
/// timestamp and client address. A cookie made under the previous secret stays valid, so a
/// secret rotates without a storm of BADCOOKIE. Pure functions: no I/O, no allocation.
#include <array>
#include <cstddef>
#include <cstdint>

#include "util/addr.hh"

namespace gslbd::edge {

inline constexpr std::size_t kClientCookieLen = 8;
inline constexpr std::size_t kServerCookieLen = 16;  ///< RFC 9018 version 1
/// A server cookie older than this is invalid (RFC 9018 §4.3: one hour) ...
inline constexpr std::int32_t kCookieMaxAge = 3600;
/// ... and so is one from further in the future than this (five minutes of clock skew).
inline constexpr std::int32_t kCookieMaxFuture = 300;

/// The secrets server cookies are made and checked with.
struct CookieSecrets {
    std::array<std::uint8_t, 16> current{};
    std::array<std::uint8_t, 16> previous{};
    bool has_previous = false;
};

/// Writes the 16-byte version 1 server cookie for `client` (8 bytes) from `addr` at Unix
/// time `now` (seconds; serial arithmetic, so the 2106 wrap is harmless) to `out`.
void make_server_cookie(const std::uint8_t key[16], const std::uint8_t* client,
                        const util::IpAddr& addr, std::uint32_t now, std::uint8_t* out) noexcept;

/// Whether `server` (`len` bytes, as received after the client cookie) is a version 1 server
/// cookie this server made for `client` and `addr` under either secret, no older than
/// kCookieMaxAge and no further ahead than kCookieMaxFuture at `now`.
bool server_cookie_valid(const CookieSecrets& secrets, const std::uint8_t* client,
                         const std::uint8_t* server, std::size_t len, const util::IpAddr& addr,
                         std::uint32_t now) noexcept;

}  // namespace gslbd::edge
