#pragma once
/// Pure pieces of health checking: verdicts, error kinds and the rise/fall state machine.
/// No I/O, no clocks: unit-testable on their own.
#include <array>
#include <cstdint>
#include <string_view>

namespace gslbd::health {

/// What we currently believe about a backend (or about one check of it).
enum class Verdict : std::uint8_t {
    Unknown,  ///< no result yet and Options::assume_healthy_at_start is false (published as down)
    Up,
    Down,
};

/// Why a probe failed. `None` on success. Counted per target and globally.
enum class ErrorKind : std::uint8_t {
    None,
    Timeout,    ///< no answer within the timeout (also: ICMP without reply)
    Refused,    ///< TCP RST / ICMP port unreachable
    Network,    ///< other connect / socket errors (unreachable, reset, ...)
    Tls,        ///< handshake or certificate verification failed
    Status,     ///< HTTP status not in expected_codes
    Body,       ///< HTTP body does not match expected_body
    DnsRcode,   ///< DNS reply rcode differs from expected_rcode
    DnsAnswer,  ///< DNS reply lacks expected_address
    BadReply,   ///< malformed reply (HTTP protocol error, unparsable DNS)
    Internal,   ///< could not even start the probe (out of sockets, ...)
};
inline constexpr std::size_t kErrorKinds = 11;

constexpr std::string_view to_string(Verdict v) noexcept {
    switch (v) {
        case Verdict::Up:
            return "up";
        case Verdict::Down:
            return "down";
        default:
            return "unknown";
    }
}

constexpr std::string_view to_string(ErrorKind k) noexcept {
    constexpr std::array<std::string_view, kErrorKinds> names = {
        "none", "timeout",   "refused",    "network",   "tls",     "status",
        "body", "dns_rcode", "dns_answer", "bad_reply", "internal"};
    return names[static_cast<std::size_t>(k)];
}

/// Consecutive-result hysteresis: Up -> Down after `fall` failed rounds in a row, Down -> Up
/// after `rise` good rounds in a row. From Unknown the first result decides at once (we are
/// waiting for a first verdict, not for proof of stability). Alternating results never change
/// the verdict when rise, fall >= 2.
class RiseFall {
  public:
    RiseFall() = default;
    RiseFall(Verdict initial, int rise, int fall) noexcept
        : verdict_(initial), rise_(rise < 1 ? 1 : rise), fall_(fall < 1 ? 1 : fall) {}

    /// Feeds one round result; true when the verdict changed.
    bool feed(bool ok) noexcept {
        if (ok) {
            ++ok_run_;
            fail_run_ = 0;
        } else {
            ++fail_run_;
            ok_run_ = 0;
        }
        Verdict next = verdict_;
        if (verdict_ == Verdict::Unknown) {
            next = ok ? Verdict::Up : Verdict::Down;
        } else if (verdict_ == Verdict::Up && fail_run_ >= fall_) {
            next = Verdict::Down;
        } else if (verdict_ == Verdict::Down && ok_run_ >= rise_) {
            next = Verdict::Up;
        }
        bool changed = next != verdict_;
        verdict_ = next;
        return changed;
    }
    /// New thresholds (config reload) keep the current verdict and runs.
    void set_thresholds(int rise, int fall) noexcept {
        rise_ = rise < 1 ? 1 : rise;
        fall_ = fall < 1 ? 1 : fall;
    }
    Verdict verdict() const noexcept { return verdict_; }
    int rise() const noexcept { return rise_; }
    int fall() const noexcept { return fall_; }
    int ok_run() const noexcept { return ok_run_; }
    int fail_run() const noexcept { return fail_run_; }

  private:
    Verdict verdict_ = Verdict::Unknown;
    int rise_ = 2, fall_ = 3;
    int ok_run_ = 0, fail_run_ = 0;
};

/// Several checks on one backend: Down if any check is Down, else Unknown if any is Unknown,
/// else Up (healthy only when all pass). No checks at all means Up.
template <typename It, typename Get>
Verdict combine(It first, It last, Get get) noexcept {
    bool unknown = false;
    for (; first != last; ++first) {
        Verdict v = get(*first);
        if (v == Verdict::Down) return Verdict::Down;
        if (v == Verdict::Unknown) unknown = true;
    }
    return unknown ? Verdict::Unknown : Verdict::Up;
}

}  // namespace gslbd::health
