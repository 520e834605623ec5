#pragma once
/// Single-writer counters for I/O backends: the owning thread adds with a plain load + store
/// (no locked instruction), any thread reads with a relaxed load. Never locked.
#include <atomic>
#include <cstdint>

namespace gslbd::io {

struct Counter {
    std::atomic<std::uint64_t> v{0};
    /// Owner thread only.
    void add(std::uint64_t n = 1) noexcept {
        v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    std::uint64_t get() const noexcept { return v.load(std::memory_order_relaxed); }
};

}  // namespace gslbd::io
