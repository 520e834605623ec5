#pragma once
/// Asking a primary (control side, blocking with deadlines): one query over TCP (RFC 7766
/// framing), the answer's messages read until the stream is complete (lib/xfr/ixfr.hh
/// StreamEnd), each parsed with libknot and, with a key, TSIG-verified (RFC 8945 §5.3.1:
/// the first and the last message signed, at most 99 unsigned in between; libknot's
/// knot_tsig_* do the HMAC, as knotd's own transfers do).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/model.hh"
#include "xfr/ixfr.hh"

namespace gslbd::xfr {

/// A TSIG key ready for libknot (hmac-sha256 only, as the config accepts).
class TsigKey {
  public:
    /// Throws XfrError when libknot refuses it (bad base64, unknown algorithm).
    explicit TsigKey(const config::TsigKey& k);
    ~TsigKey();
    TsigKey(const TsigKey&) = delete;
    TsigKey& operator=(const TsigKey&) = delete;
    const void* knot() const noexcept { return key_; }  ///< knot_tsig_key_t*
    const std::string& name() const noexcept { return name_; }

  private:
    void* key_ = nullptr;
    std::string name_;
};

struct Limits {
    std::chrono::milliseconds connect{3000};
    std::chrono::milliseconds idle{10000};         ///< longest wait for the next bytes
    std::chrono::milliseconds total{120000};       ///< a whole transfer
    std::size_t max_bytes = std::size_t{1} << 30;  ///< of wire, per answer
    std::size_t max_rrs = 20'000'000;
};

struct Answer {
    std::uint16_t rcode = 0;
    std::vector<zone::Rr> rrs;  ///< the answer sections of every message, in order
    std::size_t messages = 0, bytes = 0;
    bool signed_ok = false;  ///< TSIG verified (false without a key)
};

/// Asks `server` for `qtype` (SOA, AXFR or IXFR; for IXFR `soa` is our SOA RR, put in the
/// authority section) of `origin` (lower-case wire) and reads the whole answer. An answer
/// with an rcode other than NOERROR is returned as it is (rcode set, no RRs) so the caller
/// can fall back from IXFR; everything else that is wrong throws XfrError: connect or read
/// failures and timeouts, a short or garbled message, a wrong ID or question, TSIG missing or
/// not verifying, data after the end, the limits. `stop` is checked while waiting.
Answer ask(const config::Primary& server, const std::string& origin, std::uint16_t qtype,
           const zone::Rr* soa, const TsigKey* key, const Limits& limits,
           const std::atomic<bool>& stop);

}  // namespace gslbd::xfr
