// ICMP probes: echo requests on one raw socket per address family (opened at load time, so a
// missing CAP_NET_RAW is a load error); replies are matched by identifier, sequence number
// and source address. A probe sends `count` echoes and is up at the first reply.
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "health/prober.hh"
#include "health/prober_impl.hh"
#include "util/sockaddr.hh"

namespace gslbd::health {

using detail::errno_kind;
using detail::sys_error;

namespace {

std::uint16_t inet_checksum(const std::uint8_t* p, std::size_t n) {
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i + 1 < n; i += 2)
        sum += static_cast<std::uint32_t>(p[i] << 8 | p[i + 1]);
    if (n & 1) sum += static_cast<std::uint32_t>(p[n - 1] << 8);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum);
}

}  // namespace

void Prober::open_icmp(int family) {
    int& fd = icmp_fd_[family == 4 ? 0 : 1];
    if (fd >= 0) return;
    int s = family == 4
                ? ::socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP)
                : ::socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6);
    if (s < 0) {
        throw sys_error(fmt::format(
            "health: icmp checks need a raw IPv{} socket (run as root or grant CAP_NET_RAW, "
            "e.g. setcap cap_net_raw+ep gslbd), socket()",
            family));
    }
    if (family == 6) {
        icmp6_filter filt;
        ICMP6_FILTER_SETBLOCKALL(&filt);
        ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &filt);
        setsockopt(s, IPPROTO_ICMPV6, ICMP6_FILTER, &filt, sizeof filt);
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = family == 4 ? detail::kIcmp4Tag : detail::kIcmp6Tag;
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, s, &ev) != 0) {
        ::close(s);
        throw sys_error("health: epoll_ctl(icmp)");
    }
    fd = s;
}

bool Prober::start_icmp(Own& o, std::uint64_t serial) {
    const util::IpAddr& addr = o.addr;
    int fd = icmp_fd_[addr.family == 4 ? 0 : 1];
    if (fd < 0) {
        fail_now(o.token, ErrorKind::Internal, "icmp socket not open");
        return false;
    }
    for (int i = 0; i < o.spec->cfg.count; ++i) {
        std::uint16_t seq = 0;
        std::uint32_t key = 0;
        for (int tries = 0; tries < 65536; ++tries) {
            seq = ++icmp_seq_;
            key = static_cast<std::uint32_t>(addr.family) << 16 | seq;
            if (!icmp_wait_.contains(key)) break;
        }
        std::uint8_t pkt[24] = {};
        pkt[0] = addr.family == 4 ? ICMP_ECHO : ICMP6_ECHO_REQUEST;
        pkt[4] = static_cast<std::uint8_t>(icmp_ident_ >> 8);
        pkt[5] = static_cast<std::uint8_t>(icmp_ident_);
        pkt[6] = static_cast<std::uint8_t>(seq >> 8);
        pkt[7] = static_cast<std::uint8_t>(seq);
        std::memcpy(pkt + 8, &serial, sizeof serial);
        if (addr.family == 4) {  // the kernel fills the ICMPv6 checksum itself
            std::uint16_t c = inet_checksum(pkt, sizeof pkt);
            pkt[2] = static_cast<std::uint8_t>(c >> 8);
            pkt[3] = static_cast<std::uint8_t>(c);
        }
        sockaddr_storage dst;
        socklen_t dl = util::to_sockaddr(addr, 0, dst);
        if (::sendto(fd, pkt, sizeof pkt, 0, reinterpret_cast<sockaddr*>(&dst), dl) < 0) {
            int e = errno;
            for (auto k : o.icmp_keys) icmp_wait_.erase(k);
            fail_now(o.token, errno_kind(e), std::string("icmp send: ") + std::strerror(e));
            return false;
        }
        icmp_wait_[key] = serial;
        o.icmp_keys.push_back(key);
    }
    return true;
}

void Prober::on_icmp_readable(int family) {
    int fd = icmp_fd_[family == 4 ? 0 : 1];
    std::uint8_t buf[1500];
    for (;;) {
        sockaddr_storage from;
        socklen_t fl = sizeof from;
        ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
        if (n < 0) return;  // EAGAIN (or a transient error: the deadline covers us)
        std::size_t off = 0;
        if (family == 4) {
            if (n < 20) continue;
            off = static_cast<std::size_t>(buf[0] & 0x0f) * 4;
        }
        if (static_cast<std::size_t>(n) < off + 8) continue;
        const std::uint8_t* icmp = buf + off;
        if (icmp[0] != (family == 4 ? ICMP_ECHOREPLY : ICMP6_ECHO_REPLY)) continue;
        if ((icmp[4] << 8 | icmp[5]) != icmp_ident_) continue;
        auto seq = static_cast<std::uint16_t>(icmp[6] << 8 | icmp[7]);
        auto w = icmp_wait_.find(static_cast<std::uint32_t>(family) << 16 | seq);
        if (w == icmp_wait_.end()) continue;
        auto it = own_.find(w->second);
        if (it == own_.end()) continue;
        util::IpAddr src;
        src.family = static_cast<std::uint8_t>(family);
        if (family == 4) {
            std::memcpy(src.bytes.data(), &reinterpret_cast<sockaddr_in*>(&from)->sin_addr, 4);
        } else {
            std::memcpy(src.bytes.data(), &reinterpret_cast<sockaddr_in6*>(&from)->sin6_addr, 16);
        }
        if (!(src == it->second->addr)) continue;
        finish_own(w->second, ErrorKind::None, {});
    }
}

}  // namespace gslbd::health
