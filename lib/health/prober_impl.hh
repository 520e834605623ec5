#pragma once
/// Internal to the prober's files (prober.cc, probe_http.cc, probe_tcp.cc, probe_dns.cc,
/// probe_icmp.cc): how epoll events are tagged, and the state of a probe that runs on a
/// socket of our own (TCP, DNS, ICMP). Nothing outside lib/health includes it.
#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "health/prober.hh"

namespace gslbd::health::detail {

/// epoll_event::data.u64 of the prober's epoll set: a curl socket (its fd in the low 32
/// bits), one of the special descriptors, or else the serial of a probe on our own socket.
inline constexpr std::uint64_t kCurlTag = 1ull << 63;
inline constexpr std::uint64_t kSpecialTag = 1ull << 62;
/// A socket of a plug-in kind's runner: kPluginTag | runner index << 32 | fd.
inline constexpr std::uint64_t kPluginTag = 1ull << 61;
inline constexpr std::uint64_t kWakeTag = kSpecialTag | 0;
inline constexpr std::uint64_t kIcmp4Tag = kSpecialTag | 1;
inline constexpr std::uint64_t kIcmp6Tag = kSpecialTag | 2;

inline std::system_error sys_error(const std::string& what) {
    return std::system_error(errno, std::generic_category(), what);
}

inline ErrorKind errno_kind(int e) {
    if (e == ECONNREFUSED) return ErrorKind::Refused;
    if (e == ETIMEDOUT) return ErrorKind::Timeout;
    return ErrorKind::Network;
}

}  // namespace gslbd::health::detail

namespace gslbd::health {

/// A probe on a socket of our own: a TCP connect, a DNS query over UDP, or ICMP echoes
/// (which share the prober's raw socket and are matched by sequence number).
struct Prober::Own {
    std::uint64_t token = 0;
    ProbeSpec::Kind kind = ProbeSpec::Kind::Tcp;
    int fd = -1;  ///< tcp, dns: closed by finish_own (or by the start that fails)
    std::shared_ptr<const ProbeSpec> spec;
    util::IpAddr addr;
    SteadyClock::time_point start;
    std::uint16_t dns_id = 0;
    std::vector<std::uint32_t> icmp_keys;  ///< into Prober::icmp_wait_
};

}  // namespace gslbd::health
