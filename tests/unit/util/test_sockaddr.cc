#include <arpa/inet.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <string>

#include "util/sockaddr.hh"

using gslbd::util::IpAddr;
using gslbd::util::to_sockaddr;

namespace {

// The kernel's own reading of the socket address: "ADDR port".
std::string kernel_text(const sockaddr_storage& ss) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET) {
        const auto& s = reinterpret_cast<const sockaddr_in&>(ss);
        inet_ntop(AF_INET, &s.sin_addr, buf, sizeof buf);
        return std::string(buf) + " " + std::to_string(ntohs(s.sin_port));
    }
    const auto& s = reinterpret_cast<const sockaddr_in6&>(ss);
    inet_ntop(AF_INET6, &s.sin6_addr, buf, sizeof buf);
    return std::string(buf) + " " + std::to_string(ntohs(s.sin6_port));
}

}  // namespace

TEST_CASE("to_sockaddr: family, length, address and port in network order") {
    sockaddr_storage ss;
    std::memset(&ss, 0xab, sizeof ss);  // whatever was there before is cleared
    CHECK(to_sockaddr(*IpAddr::parse("198.51.100.7"), 5353, ss) == sizeof(sockaddr_in));
    CHECK(ss.ss_family == AF_INET);
    CHECK(kernel_text(ss) == "198.51.100.7 5353");
    CHECK(reinterpret_cast<const sockaddr_in&>(ss).sin_zero[0] == 0);

    std::memset(&ss, 0xab, sizeof ss);
    CHECK(to_sockaddr(*IpAddr::parse("2001:db8::53"), 65535, ss) == sizeof(sockaddr_in6));
    CHECK(ss.ss_family == AF_INET6);
    CHECK(kernel_text(ss) == "2001:db8::53 65535");
    CHECK(reinterpret_cast<const sockaddr_in6&>(ss).sin6_flowinfo == 0);
    CHECK(reinterpret_cast<const sockaddr_in6&>(ss).sin6_scope_id == 0);

    // port 0 (ICMP, MaxMind lookups) and the unspecified addresses
    to_sockaddr(*IpAddr::parse("0.0.0.0"), 0, ss);
    CHECK(kernel_text(ss) == "0.0.0.0 0");
    to_sockaddr(*IpAddr::parse("::"), 0, ss);
    CHECK(kernel_text(ss) == ":: 0");
}
