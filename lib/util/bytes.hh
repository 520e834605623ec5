#pragma once
/// Big-endian (network order) integer loads and stores on raw bytes: the one definition
/// the DNS wire toolkit (lib/dns/wire.hh) and the DPDK L2/L3 code (lib/io/dpdk) share.
/// No alignment is assumed; each is one unaligned load or store plus a byte swap.
#include <cstdint>
#include <cstring>

namespace gslbd::util {

inline std::uint16_t load16(const std::uint8_t* p) noexcept {
    std::uint16_t v;
    std::memcpy(&v, p, 2);
    return __builtin_bswap16(v);
}
inline std::uint32_t load32(const std::uint8_t* p) noexcept {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}
inline void store16(std::uint8_t* p, std::uint16_t v) noexcept {
    const std::uint16_t be = __builtin_bswap16(v);  // one store, not two byte stores
    std::memcpy(p, &be, 2);
}
inline void store32(std::uint8_t* p, std::uint32_t v) noexcept {
    const std::uint32_t be = __builtin_bswap32(v);
    std::memcpy(p, &be, 4);
}

}  // namespace gslbd::util
