#pragma once
/// Dynamic blocks (docs/edge.md "Dynamic blocks"), as dnsdist has them: per client prefix,
/// counts over a sliding window (queries, NXDOMAIN answers, ANY queries, response bytes);
/// a prefix whose rate exceeds a threshold is blocked (drop, REFUSED or TC) for a set time.
///
/// Data plane: every worker has its own DynTable, a fixed array of 64-byte slots allocated
/// once (4-way probing like the RRL table); the per-packet work is a hash, at most four
/// slot compares and a few adds: no lock, no allocation, no system call.
///
/// The window is the classic two-bucket sliding window: each slot keeps the counts of the
/// current bucket (`window` seconds long) and of the one before; the estimate for the last
/// `window` seconds weighs the previous bucket by the part of it still inside the window.
/// A prefix is blocked when the estimate exceeds rate × window, so a flood is caught after
/// about rate × window packets, and a steady client just under the rate never is.
///
/// Control side: the BlockBoard knows every table (each registers itself when made); it
/// merges the workers' blocks for the API and /metrics, lifts them (writing the slots with
/// relaxed atomic stores the owning worker reads the same way), and, called periodically
/// by scan(), logs each block once when it starts and once when it ends.
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "edge/prefix_table.hh"
#include "util/addr.hh"

namespace gslbd::edge {

/// What a block was started for (the threshold exceeded).
enum class BlockReason : std::uint8_t { Queries, NxDomain, Any, Bytes };
inline constexpr std::size_t kBlockReasons = 4;
/// "queries", "nxdomain", "any", "bytes".
const char* to_string(BlockReason r) noexcept;

/// What a blocked prefix gets. Truncate answers UDP with an empty TC=1 response and lets
/// TCP through (the client proved its address).
enum class BlockAction : std::uint8_t { Pass, Drop, Refuse, Truncate };
/// "drop", "refuse", "truncate" ("pass" for Pass).
const char* to_string(BlockAction a) noexcept;

/// One threshold: `rate` per second over the window (0 = off), then `action` for `duration`.
struct DynThreshold {
    std::uint32_t rate = 0;
    BlockAction action = BlockAction::Drop;
    std::uint32_t duration = 60;  ///< seconds
};

/// The immutable part, in edge::Rules (built from the config's `dynamic_blocks:`).
struct DynRules {
    bool on = false;
    std::array<DynThreshold, kBlockReasons> thresholds{};  ///< by BlockReason
    std::uint32_t window = 10;                             ///< seconds, 1..3600
    std::uint8_t v4_prefix = 24, v6_prefix = 56;           ///< IPv6 at most /64
    PrefixTable exempt;
};

/// One prefix's account. Written by the owning worker; the control side reads it with
/// relaxed loads and writes only `until` and `lift` (relaxed stores).
struct alignas(64) DynSlot {
    std::uint64_t word = 0;     ///< the prefix's address bits (network order, host bits 0)
    std::uint8_t family = 0;    ///< 0 = free, 4 or 6
    std::uint8_t len = 0;       ///< prefix length
    std::uint8_t block = 0;     ///< the block in force: BlockReason | BlockAction << 4
    std::uint8_t lift = 0;      ///< set by the control side: forget the counts
    std::uint32_t until = 0;    ///< blocked while now < until (0 = not blocked)
    std::uint32_t since = 0;    ///< when the block started
    std::uint32_t blocked = 0;  ///< queries this block stopped
    std::uint32_t bucket = 0;   ///< second the current bucket began
    std::uint32_t last = 0;     ///< second of the last query (the stalest slot is reused)
    std::array<std::uint32_t, kBlockReasons> cur{}, prev{};
};
static_assert(sizeof(DynSlot) == 64, "a DynSlot is one cache line");

/// A worker's table (in edge::Guard). Registers itself with the BlockBoard when made and
/// unregisters when destroyed (control side; allocates, locks).
class DynTable {
  public:
    /// `entries` is rounded up to a power of two (at least 64).
    explicit DynTable(std::size_t entries);
    ~DynTable();
    DynTable(const DynTable&) = delete;
    DynTable& operator=(const DynTable&) = delete;

    /// The account of `src`'s prefix at `now` (seconds, CLOCK_MONOTONIC_COARSE), made (or
    /// reused) when absent, its window advanced; nullptr when `src` is exempt.
    DynSlot* find(const DynRules& r, const util::IpAddr& src, std::uint32_t now) noexcept;

    /// Counts one query (an ANY query when `any`) in `s` and returns what to do with it:
    /// Pass, or the action of the block in force (which this query may have started; the
    /// new block is counted in `started`). Blocked queries are counted in `blocked[reason]`.
    BlockAction query(const DynRules& r, DynSlot& s, bool any, bool tcp, std::uint32_t now,
                      std::uint64_t& started,
                      std::array<std::uint64_t, kBlockReasons>& blocked) noexcept;
    /// Counts the response to the query that query() passed: NXDOMAIN or not, its length
    /// (0 = nothing was sent). May start a block (counted in `started`).
    void response(const DynRules& r, DynSlot& s, bool nxdomain, std::size_t bytes,
                  std::uint32_t now, std::uint64_t& started) noexcept;

    std::size_t size() const noexcept { return mask_ + 1; }
    const DynSlot& slot(std::size_t i) const noexcept { return table_[i]; }
    DynSlot& slot(std::size_t i) noexcept { return table_[i]; }

  private:
    /// Starts a block when one of the thresholds in `which` (a bit per BlockReason) is exceeded.
    void check(const DynRules& r, DynSlot& s, std::uint32_t now, std::uint64_t& started,
               unsigned which) noexcept;

    std::unique_ptr<DynSlot[]> table_;
    std::size_t mask_ = 0;
    std::uint64_t seed_ = 0;
};

/// A block as the control side shows it: the workers' blocks of one prefix merged.
struct BlockInfo {
    util::IpPrefix prefix;
    BlockReason reason = BlockReason::Queries;
    BlockAction action = BlockAction::Drop;
    std::uint32_t since = 0, until = 0;  ///< seconds, CLOCK_MONOTONIC_COARSE
    std::uint64_t blocked = 0;           ///< queries stopped, summed over workers
    unsigned workers = 0;                ///< how many workers block it
};

/// Every DynTable of the process (one per pipeline). Control side: locks, allocates.
class BlockBoard {
  public:
    static BlockBoard& instance();

    void add(DynTable* t);
    void remove(DynTable* t);

    /// The blocks in force at `now`, merged by prefix (earliest since, latest until, summed
    /// counts), sorted by prefix text.
    std::vector<BlockInfo> list(std::uint32_t now) const;
    /// Lifts the block of `prefix` (every block when nullopt) in every worker and forgets
    /// the prefix's counts, so it starts from an empty window. Returns how many distinct
    /// prefixes were blocked at `now`. Logged, naming `by`.
    std::size_t lift(const std::optional<util::IpPrefix>& prefix, const std::string& by,
                     std::uint32_t now);
    /// Logs the blocks that started and ended since the last call (once each); returns how
    /// many are in force. A block that started and ended between two calls (a 1 s block can
    /// last a few milliseconds: it ends at the next full second) is logged too, start and end
    /// in one go. Called periodically (BlockWatch).
    std::size_t scan(std::uint32_t now);
    /// Blocks scan() has logged as started (tests).
    std::uint64_t logged_starts() const;

  private:
    /// Per table slot: the block (prefix word and start) scan() has accounted for.
    struct Shadow {
        std::uint64_t word = 0;
        std::uint32_t since = 0;
        bool seen = false;
    };
    mutable std::mutex mu_;
    std::vector<DynTable*> tables_;
    std::vector<std::vector<Shadow>> shadows_;  ///< by index in tables_
    std::vector<BlockInfo> seen_;               ///< what the last scan() logged as in force
    std::uint64_t logged_starts_ = 0;
};

/// A thread that calls BlockBoard::scan() every 250 ms until destroyed. Given
/// `rrl_would_limit` (the data plane's count of responses RRL's log-only mode let through over
/// the rate, summed over workers; called from this thread once a second), it also logs how
/// many there were: at once when the count first moves, then at most every 10 s while it
/// keeps moving, never per packet. Destroy it before what the function reads goes away.
class BlockWatch {
  public:
    explicit BlockWatch(std::function<std::uint64_t()> rrl_would_limit = {});
    ~BlockWatch();
    BlockWatch(const BlockWatch&) = delete;
    BlockWatch& operator=(const BlockWatch&) = delete;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace gslbd::edge
