#include "util/sockaddr.hh"

#include <cstring>

namespace gslbd::util {

socklen_t to_sockaddr(const IpAddr& addr, std::uint16_t port, sockaddr_storage& out) noexcept {
    std::memset(&out, 0, sizeof out);
    if (addr.family == 4) {
        auto* s = reinterpret_cast<sockaddr_in*>(&out);
        s->sin_family = AF_INET;
        s->sin_port = htons(port);
        std::memcpy(&s->sin_addr, addr.bytes.data(), 4);
        return sizeof(sockaddr_in);
    }
    auto* s = reinterpret_cast<sockaddr_in6*>(&out);
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(port);
    std::memcpy(&s->sin6_addr, addr.bytes.data(), 16);
    return sizeof(sockaddr_in6);
}

}  // namespace gslbd::util
