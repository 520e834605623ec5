#pragma once
/// SipHash-2-4 (Aumasson and Bernstein), the MAC of RFC 9018 server cookies. A small own
/// implementation: 64-bit output, 16-byte key, little-endian words as the reference code.
#include <cstddef>
#include <cstdint>

namespace gslbd::edge {

/// SipHash-2-4 of `len` bytes at `data` under the 16-byte `key`.
std::uint64_t siphash24(const std::uint8_t key[16], const std::uint8_t* data,
                        std::size_t len) noexcept;

}  // namespace gslbd::edge
