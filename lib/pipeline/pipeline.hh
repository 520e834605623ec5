#pragma once
/// One DNS message in, one response out: parse -> client (ECS) -> gslb -> build.
/// Both I/O backends (socket, DPDK) call this; it is the whole per-packet work.
#include <cstddef>
#include <cstdint>
#include <span>

#include "dns/query.hh"
#include "dns/response.hh"
#include "gslb/policy.hh"
#include "gslb/publish.hh"
#include "util/addr.hh"

namespace gslbd::pipeline {

/// Per-worker counters; written only by the owning worker, read (racily, as relaxed
/// 64-bit loads) by the control side and summed there.
struct alignas(64) Counters {
    std::uint64_t queries = 0;     ///< messages handed in
    std::uint64_t responses = 0;   ///< responses produced
    std::uint64_t dropped = 0;     ///< QR=1, too short, or `out` smaller than required
    std::uint64_t noerror = 0;     ///< RCODE NOERROR answers from the engine (NODATA included)
    std::uint64_t nodata = 0;      ///< the NODATA part of `noerror`
    std::uint64_t nxdomain = 0;
    std::uint64_t refused = 0;
    std::uint64_t servfail = 0;    ///< incl. fixed-rcode fallbacks and "no snapshot yet"
    std::uint64_t formerr = 0;
    std::uint64_t notimp = 0;
    std::uint64_t badvers = 0;
    std::uint64_t truncated = 0;
    std::uint64_t ecs_used = 0;     ///< decided on a trusted ECS address
    std::uint64_t ecs_ignored = 0;  ///< ECS present but untrusted or disabled
    std::uint64_t fallback = 0;     ///< answers from a record's fallback policy
};

class Pipeline {
public:
    Pipeline(const gslb::SnapshotHolder& holder, std::uint64_t seed);

    /// Answers `query` received from `source`. Returns the response length written into
    /// `out` (at least 512 bytes; 65535 for TCP), or 0 to send nothing.
    /// `tcp` lifts the response limit to 65535 and never sets TC.
    /// The calling thread must be an online RCU reader.
    std::size_t handle(std::span<const std::uint8_t> query, const util::IpAddr& source,
                       std::span<std::uint8_t> out, bool tcp) noexcept;

    const Counters& counters() const noexcept { return counters_; }

private:
    /// The Ok-parse path; false when no answer could be made (then the caller SERVFAILs).
    bool answer(const gslb::Snapshot* snap, const dns::Query& q, const util::IpAddr& source,
                dns::ResponseWriter& w) noexcept;

    const gslb::SnapshotHolder& holder_;
    gslb::WorkerState ws_;
    Counters counters_;
};

}  // namespace gslbd::pipeline
