#pragma once
/// Edge protection on the packet's way (docs/edge.md, ARCHITECTURE.md "Edge protection"):
/// the ACL on the source address before anything is parsed, DNS cookies, and response rate
/// limiting with BIND/Knot semantics.
///
/// Rules are immutable and built on the control side from the config (build_rules); the
/// topology of each published snapshot holds them, so a reload changes them under RCU like
/// everything else. A Guard is the mutable per-worker part (the RRL table and counters):
/// allocated once when its pipeline is made, then never again; no lock, no allocation, no
/// syscall per packet. Workers share nothing, so a client that RSS or SO_REUSEPORT spreads
/// over N workers is limited per worker: it gets up to N times the configured rate.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "config/model.hh"
#include "edge/cookie.hh"
#include "edge/dynblock.hh"
#include "edge/prefix_table.hh"
#include "util/addr.hh"

namespace gslbd::edge {

/// PrefixTable values of the ACL.
enum AclValue : std::uint8_t { kAclAllow = 1, kAclDrop = 2, kAclRefuse = 3 };

/// RRL response classes (BIND's): what a response is keyed and limited by.
enum class RrlClass : std::uint8_t {
    Answer,    ///< positive: (prefix, qname, qtype), responses_per_second
    NoData,    ///< (prefix, qname), nodata_per_second
    NxDomain,  ///< (prefix, zone), nxdomains_per_second
    Error,     ///< (prefix), errors_per_second: REFUSED, SERVFAIL, FORMERR, ...
};

struct Rules {
    // ACL
    bool acl_on = false;
    std::uint8_t acl_default = kAclAllow;
    PrefixTable acl;
    // RRL
    bool rrl_on = false;
    bool rrl_log_only = false;
    std::array<std::uint32_t, 4> rrl_rate{};  ///< by RrlClass
    std::uint32_t rrl_window = 15;
    std::uint32_t rrl_slip = 2;
    std::uint8_t rrl_v4_prefix = 24, rrl_v6_prefix = 56;
    PrefixTable rrl_exempt;
    // cookies
    bool cookies_on = false;
    bool cookies_enforce = false;
    CookieSecrets secrets;
    // dynamic blocks (edge/dynblock.hh)
    DynRules dyn;
};

/// The rules `cfg` asks for, or nullptr when it configures none of them (then the pipeline
/// skips all of this with one branch). Secrets that the config leaves unset are drawn once
/// per process, so a reload keeps every cookie valid. Control side; allocates.
std::shared_ptr<const Rules> build_rules(const config::Config& cfg);

/// What happens to one response.
enum class Verdict : std::uint8_t { Pass, Drop, Slip };

/// Per-worker counters; written only by the owning worker, read racily by the control side.
struct alignas(64) Counters {
    std::uint64_t acl_dropped = 0;
    std::uint64_t acl_refused = 0;
    std::uint64_t rrl_dropped = 0;
    std::uint64_t rrl_slipped = 0;      ///< sent truncated (or BADCOOKIE) instead
    std::uint64_t rrl_would_limit = 0;  ///< log_only: would have been dropped or slipped
    std::uint64_t rrl_exempt = 0;       ///< not limited: exempt prefix, valid cookie or TCP
    std::uint64_t cookie_queries = 0;   ///< queries with a COOKIE option (cookies on)
    std::uint64_t cookie_valid = 0;     ///< ... and a valid server cookie
    std::uint64_t badcookie = 0;        ///< BADCOOKIE answers
    std::uint64_t dyn_started = 0;      ///< dynamic blocks started (per worker)
    std::uint64_t dyn_exempt = 0;       ///< not checked: valid cookie (dynamic blocks on)
    /// queries a dynamic block stopped, by BlockReason
    std::array<std::uint64_t, kBlockReasons> dyn_blocked{};
};

/// Adds `from` (read with relaxed loads) into `into`.
void add_relaxed(Counters& into, const Counters& from) noexcept;

/// The per-worker state: RRL accounts in a fixed table (4-way probing, the oldest account
/// is reused when all four are taken, as BIND's table does when it is full).
class Guard {
  public:
    /// `rrl_entries` and `dyn_entries` are rounded up to a power of two (at least 64).
    /// Allocates; registers the dynamic block table with the BlockBoard.
    Guard(std::size_t rrl_entries, std::size_t dyn_entries = 64);

    /// The ACL verdict for `src` (a kAcl* value).
    static std::uint8_t acl(const Rules& r, const util::IpAddr& src) noexcept {
        const std::uint8_t v = r.acl.lookup(src);
        return v != 0 ? v : r.acl_default;
    }

    /// Debits the account of (src's prefix, cls, name_key) for one response at `now`
    /// (seconds) and says whether it may go out, must be dropped, or slips out truncated.
    /// Exempt prefixes always pass; log_only counts and passes.
    Verdict rrl(const Rules& r, const util::IpAddr& src, RrlClass cls, std::uint64_t name_key,
                std::uint32_t now) noexcept;

    /// Dynamic blocks: DynTable::query() and response() with this guard's counters.
    DynSlot* dyn_find(const Rules& r, const util::IpAddr& src, std::uint32_t now) noexcept {
        return dyn_.find(r.dyn, src, now);
    }
    BlockAction dyn_query(const Rules& r, DynSlot& s, bool any, bool tcp,
                          std::uint32_t now) noexcept {
        return dyn_.query(r.dyn, s, any, tcp, now, counters.dyn_started, counters.dyn_blocked);
    }
    void dyn_response(const Rules& r, DynSlot& s, bool nxdomain, std::size_t bytes,
                      std::uint32_t now) noexcept {
        dyn_.response(r.dyn, s, nxdomain, bytes, now, counters.dyn_started);
    }

    Counters counters;

  private:
    struct Entry {
        std::uint64_t key = 0;  ///< 0 = free
        std::int32_t balance = 0;
        std::uint32_t last = 0;  ///< second of the last debit
        std::uint32_t slip = 0;  ///< limited responses since the last slipped one
        std::uint32_t pad = 0;
    };
    std::unique_ptr<Entry[]> table_;
    std::size_t mask_ = 0;
    std::uint64_t seed_ = 0;
    DynTable dyn_;
};

/// Appends an EDNS COOKIE option (`client`, 8 bytes, then `server`, kServerCookieLen bytes)
/// to the OPT record of the response `msg[0, len)`, moving what follows the OPT. Returns the
/// new length, or `len` unchanged when there is no OPT or the option does not fit in
/// `msg.size()`.
std::size_t append_cookie(std::span<std::uint8_t> msg, std::size_t len, const std::uint8_t* client,
                          const std::uint8_t* server) noexcept;

/// Bytes append_cookie() adds.
inline constexpr std::size_t kCookieOptionLen = 4 + kClientCookieLen + kServerCookieLen;

}  // namespace gslbd::edge
