#pragma once
/// DNS constants shared by parser, builder and engine.
#include <array>
#include <cstddef>
#include <cstdint>

namespace gslbd::dns {

inline constexpr std::size_t kHeaderSize = 12;
inline constexpr std::size_t kMaxNameWire = 255;  ///< RFC 1035 limit, incl. the root label
inline constexpr std::size_t kMaxLabel = 63;
inline constexpr std::size_t kMinUdpSize = 512;  ///< without EDNS
inline constexpr std::size_t kMaxMessage = 65535;
/// UDP payload size we advertise in OPT unless told otherwise (DNS flag day 2020).
inline constexpr std::uint16_t kDefaultEdnsUdpSize = 1232;

/// RCODE including the EDNS extended bits (BADVERS = 16 needs OPT).
enum class Rcode : std::uint16_t {
    NoError = 0,
    FormErr = 1,
    ServFail = 2,
    NxDomain = 3,
    NotImp = 4,
    Refused = 5,
    BadVers = 16,
    BadCookie = 23,  ///< RFC 7873
};

namespace qtype {
inline constexpr std::uint16_t A = 1;
inline constexpr std::uint16_t NS = 2;
inline constexpr std::uint16_t CNAME = 5;
inline constexpr std::uint16_t SOA = 6;
inline constexpr std::uint16_t HINFO = 13;
inline constexpr std::uint16_t TXT = 16;
inline constexpr std::uint16_t AAAA = 28;
inline constexpr std::uint16_t OPT = 41;
inline constexpr std::uint16_t SVCB = 64;
inline constexpr std::uint16_t HTTPS = 65;
inline constexpr std::uint16_t IXFR = 251;
inline constexpr std::uint16_t AXFR = 252;
inline constexpr std::uint16_t ANY = 255;
}  // namespace qtype

inline constexpr std::uint16_t kClassIN = 1;
inline constexpr std::uint16_t kClassANY = 255;

inline constexpr std::uint16_t kOptionEcs = 8;  ///< RFC 7871
inline constexpr std::uint16_t kOptionCookie = 10;

/// RFC 7871 client subnet as received. `addr` holds the address bytes, zero-padded.
struct Ecs {
    bool present = false;
    std::uint16_t family = 0;  ///< 1 = IPv4, 2 = IPv6
    std::uint8_t source_prefix = 0;
    std::uint8_t scope_prefix = 0;  ///< must be 0 in queries
    std::array<std::uint8_t, 16> addr{};
};

/// Header flag bits (in the 16-bit flags word).
namespace flag {
inline constexpr std::uint16_t QR = 0x8000;
inline constexpr std::uint16_t AA = 0x0400;
inline constexpr std::uint16_t TC = 0x0200;
inline constexpr std::uint16_t RD = 0x0100;
inline constexpr std::uint16_t RA = 0x0080;
inline constexpr std::uint16_t AD = 0x0020;
inline constexpr std::uint16_t CD = 0x0010;
}  // namespace flag

}  // namespace gslbd::dns
