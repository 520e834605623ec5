#pragma once
/// A longest-prefix-match table of IPv4/IPv6 prefixes to a small value (an ACL action, an
/// exemption). Built once on the control side, then read-only: a lookup walks the distinct
/// prefix lengths present, longest first, and probes one open-addressed hash table per
/// length. An ACL of a few lengths costs a few probes whatever the number of rules; no
/// allocation, no lock, no branch on the rule count. Before any probe, a bitmap of the
/// leading bits that some prefix covers (the first octet of IPv4, the first 12 bits of IPv6)
/// sends most addresses, which no rule is near, away with one load.
#include <array>
#include <cstdint>
#include <vector>

#include "util/addr.hh"

namespace gslbd::edge {

class PrefixTable {
  public:
    /// Adds `prefix` -> `value` (1..255; 0 means "no match"). A prefix added twice keeps the
    /// last value. Control side; call freeze() after the last add.
    void add(const util::IpPrefix& prefix, std::uint8_t value);
    /// Builds the lookup tables. Allocates.
    void freeze();
    bool empty() const noexcept { return v4_lens_.empty() && v6_lens_.empty(); }

    /// The value of the longest prefix that contains `a`, or 0.
    std::uint8_t lookup(const util::IpAddr& a) const noexcept;

  private:
    struct Slot {
        std::uint64_t hi = 0, lo = 0;  ///< masked address (IPv4 in `lo`)
        std::uint8_t len = 0;
        std::uint8_t family = 0;
        std::uint8_t value = 0;  ///< 0 = empty slot
    };
    std::vector<util::IpPrefix> pending_;
    std::vector<std::uint8_t> pending_values_;
    std::vector<std::uint8_t> v4_lens_, v6_lens_;  ///< distinct lengths, longest first
    std::array<std::uint64_t, 4> v4_lead_{};       ///< bit per first octet some prefix covers
    std::array<std::uint64_t, 64> v6_lead_{};      ///< bit per first 12 bits some prefix covers
    std::vector<Slot> slots_;
    std::uint64_t mask_ = 0;
    std::uint64_t seed_ = 0;
};

}  // namespace gslbd::edge
