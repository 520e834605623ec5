#pragma once
/// Fast per-thread pseudo random numbers for selection (wyrand). Not for cryptography.
#include <cstdint>

namespace gslbd::util {

class Rng {
public:
    explicit Rng(std::uint64_t seed = 0x9e3779b97f4a7c15ull) noexcept : state_(seed) {}
    std::uint64_t next() noexcept {
        state_ += 0xa0761d6478bd642full;
        __uint128_t m = static_cast<__uint128_t>(state_) * (state_ ^ 0xe7037ed1a0b428dbull);
        return static_cast<std::uint64_t>(m >> 64) ^ static_cast<std::uint64_t>(m);
    }
    /// Uniform in [0, n) without modulo bias (Lemire's method). n > 0.
    std::uint32_t uniform(std::uint32_t n) noexcept {
        std::uint64_t m = static_cast<std::uint64_t>(static_cast<std::uint32_t>(next())) * n;
        auto low = static_cast<std::uint32_t>(m);
        if (low < n) {
            std::uint32_t threshold = static_cast<std::uint32_t>(-n) % n;
            while (low < threshold) {
                m = static_cast<std::uint64_t>(static_cast<std::uint32_t>(next())) * n;
                low = static_cast<std::uint32_t>(m);
            }
        }
        return static_cast<std::uint32_t>(m >> 32);
    }
    /// Uniform in [0, n) for 64-bit ranges (weights sums); tiny bias below 2^-32 accepted.
    std::uint64_t uniform64(std::uint64_t n) noexcept {
        return static_cast<std::uint64_t>((static_cast<__uint128_t>(next()) * n) >> 64);
    }

private:
    std::uint64_t state_;
};

/// A seed from the OS (getrandom) mixed with the thread id; used once per worker at start.
std::uint64_t random_seed() noexcept;

}  // namespace gslbd::util
