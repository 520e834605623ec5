#pragma once
/// Helpers shared by the UDP and TCP servers (internal to lib/io/socket).
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>
#include <vector>

#include "config/model.hh"
#include "util/addr.hh"
#include "util/sockaddr.hh"

namespace gslbd::io {

/// Fills `out` for `addr`:`port`; returns the length to pass to bind/sendto (util/sockaddr.hh).
using util::to_sockaddr;
/// The address part of a received sockaddr (AF_INET or AF_INET6); family 0 otherwise.
util::IpAddr from_sockaddr(const sockaddr_storage& sa) noexcept;
/// "127.0.0.1:53" / "[::1]:53".
std::string listener_text(const config::Listener& l);
/// "127.0.0.1:53, [::1]:53", or "none".
std::string listeners_text(const std::vector<config::Listener>& ls);
/// True for 0.0.0.0 and ::.
bool is_wildcard(const util::IpAddr& a) noexcept;

/// A non-blocking, close-on-exec socket bound to `l` (IPv6 sockets are IPV6_V6ONLY).
/// `type` is SOCK_DGRAM or SOCK_STREAM. Throws std::runtime_error
/// "PROTO ADDR: STEP: strerror" on failure.
int open_bound_socket(const config::Listener& l, int type, bool reuseport);

}  // namespace gslbd::io
