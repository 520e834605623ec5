#include "io/socket/sockaddr.hh"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace gslbd::io {

util::IpAddr from_sockaddr(const sockaddr_storage& sa) noexcept {
    util::IpAddr a;
    if (sa.ss_family == AF_INET) {
        a.family = 4;
        std::memcpy(a.bytes.data(), &reinterpret_cast<const sockaddr_in*>(&sa)->sin_addr, 4);
    } else if (sa.ss_family == AF_INET6) {
        a.family = 6;
        std::memcpy(a.bytes.data(), &reinterpret_cast<const sockaddr_in6*>(&sa)->sin6_addr, 16);
    }
    return a;
}

std::string listener_text(const config::Listener& l) {
    return util::SockAddrText{l.addr, l.port}.to_string();
}

std::string listeners_text(const std::vector<config::Listener>& ls) {
    std::string s;
    for (const auto& l : ls) s += (s.empty() ? "" : ", ") + listener_text(l);
    return s.empty() ? "none" : s;
}

bool is_wildcard(const util::IpAddr& a) noexcept {
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a.bytes[i] != 0) return false;
    return true;
}

int open_bound_socket(const config::Listener& l, int type, bool reuseport) {
    const char* proto = type == SOCK_DGRAM ? "UDP" : "TCP";
    auto fail = [&](const char* step, int err) -> int {
        throw std::runtime_error(std::string(proto) + " " + listener_text(l) + ": " + step + ": " +
                                 std::strerror(err));
    };
    if (l.addr.family != 4 && l.addr.family != 6) fail("address", EAFNOSUPPORT);
    const int domain = l.addr.family == 4 ? AF_INET : AF_INET6;
    int fd = ::socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket", errno);
    const int one = 1;
    auto opt = [&](int level, int name, const char* what) {
        if (::setsockopt(fd, level, name, &one, sizeof one) != 0) {
            int err = errno;
            ::close(fd);
            fail(what, err);
        }
    };
    if (domain == AF_INET6) opt(IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY");
    if (type == SOCK_STREAM) opt(SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR");
    if (reuseport) opt(SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT");
    sockaddr_storage sa;
    socklen_t len = to_sockaddr(l.addr, l.port, sa);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0) {
        int err = errno;
        ::close(fd);
        fail("bind", err);
    }
    return fd;
}

}  // namespace gslbd::io
