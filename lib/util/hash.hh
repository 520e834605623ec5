#pragma once
/// Small fixed hash functions shared by modules that must agree on them forever (the fleet's
/// rendezvous hashing is part of its protocol; ip-hash keeps clients where they were).
#include <cstdint>

namespace gslbd::util {

/// splitmix64's finaliser: a bijection with full avalanche, so neighbouring keys give
/// unrelated results.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

}  // namespace gslbd::util
