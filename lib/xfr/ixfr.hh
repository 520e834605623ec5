#pragma once
/// What a primary's answer to AXFR or IXFR means (RFC 5936, RFC 1995), without any I/O: the
/// answer's RRs in order in, a whole zone out. Pure, so the rules (full zone vs. increments,
/// serial order, deletions that must exist) are tested alone (tests/unit/xfr).
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>

#include "zone/contents.hh"

namespace gslbd::xfr {

/// Every failure of a transfer: bad answers, I/O, TSIG. what() is for the log and status.
class XfrError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// RFC 1982 serial arithmetic: `a` is newer than `b`.
constexpr bool serial_newer(std::uint32_t a, std::uint32_t b) noexcept {
    return a != b && static_cast<std::uint32_t>(a - b) < 0x80000000u;
}

enum class Kind : std::uint8_t {
    UpToDate,  ///< IXFR answered with our own serial: nothing to do
    Axfr,      ///< a whole zone (AXFR, or IXFR answered in AXFR form)
    Ixfr,      ///< increments applied to our copy
    NeedAxfr,  ///< IXFR answered with one newer SOA: the primary wants us to ask AXFR
};
const char* kind_name(Kind k) noexcept;

struct Result {
    Kind kind = Kind::UpToDate;
    std::shared_ptr<zone::Contents> zone;  ///< Axfr, Ixfr
    std::size_t changes = 0;               ///< Ixfr: RRs deleted + added
};

/// Where a transfer answer's stream is complete (the reader stops there; RRs after it are
/// an error). Feed RRs in order; complete() once the closing SOA is seen.
class StreamEnd {
  public:
    /// `ixfr`: the question was IXFR (a single SOA can be a whole answer).
    explicit StreamEnd(bool ixfr) noexcept : ixfr_(ixfr) {}
    void add(const zone::Rr& rr) noexcept;
    /// Called at the end of each message: true when the answer is complete.
    bool complete_at_message_end() const noexcept;
    bool complete() const noexcept { return done_; }

  private:
    bool ixfr_;
    bool done_ = false;
    std::size_t n_ = 0;
    bool incremental_ = false;
    std::uint32_t serial_ = 0;
    unsigned seen_ = 0;  ///< SOAs with the first SOA's serial
};

/// Interprets the RRs of an answer for zone `origin` (lower-case wire). `base`: our copy (for
/// IXFR; nullptr for AXFR). Throws XfrError naming the problem: no SOA first, the stream
/// does not close, an increment that starts from another serial than the one before it,
/// deletes an RR we do not have, or serials that go backwards.
Result interpret(std::span<const zone::Rr> rrs, const std::string& origin,
                 const zone::Contents* base, bool ixfr);

}  // namespace gslbd::xfr
