#pragma once
/// IpAddr to a kernel socket address (bind, connect, sendto, MaxMind lookups).
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>

#include "util/addr.hh"

namespace gslbd::util {

/// Fills `out` (zeroed first) for `addr`:`port` (host byte order); returns the length to pass
/// to the kernel: sizeof(sockaddr_in) for family 4, else sizeof(sockaddr_in6).
socklen_t to_sockaddr(const IpAddr& addr, std::uint16_t port, sockaddr_storage& out) noexcept;

}  // namespace gslbd::util
