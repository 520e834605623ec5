#pragma once
/// A secondary zone's data as it came from its primary (lib/xfr): a flat list of RRs, the
/// form an IXFR is applied to and the on-disk copy is written from. The topology builds its
/// StaticZone from it (add_contents) exactly as from a master file, so GSLB records overlay a
/// transferred zone with the same checks. Also the NOTIFY board: the one word a worker writes
/// when a listed primary sends NOTIFY, read by the transfer thread.
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "zone/zone.hh"

namespace gslbd::zone {

/// One RR: owner lower-case wire, RDATA uncompressed wire (class IN).
struct Rr {
    std::string owner;
    std::uint16_t type = 0;
    std::uint32_t ttl = 0;
    std::string rdata;
    friend bool operator==(const Rr&, const Rr&) = default;
};

/// The SOA fields after the two names, from the apex SOA's RDATA.
struct SoaTimers {
    std::uint32_t serial = 0, refresh = 0, retry = 0, expire = 0, minimum = 0;
};
/// Reads them from an SOA RDATA; false when it is malformed.
bool soa_timers(std::string_view rdata, SoaTimers& out) noexcept;

/// A whole zone (the apex SOA among its RRs).
struct Contents {
    SoaTimers soa;
    std::vector<Rr> rrs;
};

/// A secondary zone's data in a topology: the last good copy and whether it has expired
/// (then the zone answers SERVFAIL, docs/zones.md).
struct Transferred {
    std::shared_ptr<const Contents> data;
    bool expired = false;
};
/// Zone name (as in the config: "example.com.") -> its data. Absent: nothing yet (SERVFAIL).
using Secondaries = std::map<std::string, Transferred>;

/// Adds every RR of `c` to `b`; errors (CNAME beside data, a static A at a GSLB name, ...)
/// throw config::ConfigError at `where` (the zone's place in the config) naming the RR.
void add_contents(const Contents& c, ZoneBuilder& b, const config::SourcePos& where);

/// NOTIFY (RFC 1996) from a listed primary, workers to the transfer thread: a counter per
/// slot, a slot per zone (by the hash of its name; two zones sharing one only cost a
/// needless SOA check). Workers bump it (one relaxed atomic add, no syscall); the transfer
/// thread polls it.
class NotifyBoard {
  public:
    static constexpr std::size_t kSlots = 1024;
    void note(std::uint64_t name_hash) noexcept {
        slots_[slot(name_hash)].fetch_add(1, std::memory_order_relaxed);
    }
    std::uint32_t count(std::uint64_t name_hash) const noexcept {
        return slots_[slot(name_hash)].load(std::memory_order_relaxed);
    }
    /// NOTIFYs answered NOERROR (from a listed primary) and REFUSED (anyone else, or a zone
    /// that is not a secondary here), for /metrics.
    std::atomic<std::uint64_t> accepted{0}, refused{0};

  private:
    // The top bits of a Fibonacci multiply: every bit of the name hash counts.
    static std::size_t slot(std::uint64_t h) noexcept {
        return static_cast<std::size_t>((h * 0x9E3779B97F4A7C15ull) >> 54);
    }
    static_assert(kSlots == 1024, "slot() takes 10 bits");
    std::array<std::atomic<std::uint32_t>, kSlots> slots_{};
};
/// The process's board.
NotifyBoard& notify_board() noexcept;

}  // namespace gslbd::zone
