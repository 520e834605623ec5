#pragma once
/// IP addresses and prefixes shared by every module. Plain values, no allocation.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gslbd::util {

/// An IPv4 or IPv6 address. IPv4 is stored in the first 4 bytes of `bytes`, the rest zero.
struct IpAddr {
    std::uint8_t family = 0;  ///< 4 or 6; 0 means "no address"
    std::array<std::uint8_t, 16> bytes{};

    static IpAddr v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) noexcept;
    /// Parses dotted quad or RFC 4291 text ("::1", "2001:db8::5"). No brackets, no port.
    static std::optional<IpAddr> parse(std::string_view text) noexcept;
    std::string to_string() const;
    std::size_t size() const noexcept { return family == 4 ? 4 : (family == 6 ? 16 : 0); }
    unsigned max_prefix() const noexcept { return family == 4 ? 32 : 128; }
    /// Copy with every bit after `len` cleared.
    IpAddr masked(unsigned len) const noexcept;
    /// Bit `i` counted from the most significant bit of the first byte.
    bool bit(unsigned i) const noexcept { return (bytes[i >> 3] >> (7 - (i & 7))) & 1u; }
    friend bool operator==(const IpAddr&, const IpAddr&) = default;
};

/// A network: address with host bits cleared, plus prefix length.
struct IpPrefix {
    IpAddr addr;
    std::uint8_t len = 0;

    /// "10.0.0.0/8", "2001:db8::/32"; a bare address means a host prefix.
    /// Rejects host bits set after the prefix when `strict` (config files want to know).
    static std::optional<IpPrefix> parse(std::string_view text, bool strict = true) noexcept;
    bool contains(const IpAddr& a) const noexcept;
    std::string to_string() const;
    friend bool operator==(const IpPrefix&, const IpPrefix&) = default;
};

/// "127.0.0.1:53", "[::1]:53", or a bare address with `default_port`.
struct SockAddrText {
    IpAddr addr;
    std::uint16_t port = 0;
    static std::optional<SockAddrText> parse(std::string_view text,
                                             std::uint16_t default_port) noexcept;
    std::string to_string() const;
};

}  // namespace gslbd::util
