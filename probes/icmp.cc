// Probe kind `icmp`: echo requests on one raw socket per address family, opened by prepare()
// when a configuration with icmp checks loads (so a missing CAP_NET_RAW is a load error);
// replies are matched by identifier, sequence number and source address. An attempt sends
// `count` echoes and is up at the first reply.
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
#include <system_error>

#include "socket_runner.hh"
#include "util/sockaddr.hh"

namespace gslbd::probes {

namespace {

std::string resolve(const config::HealthCheck& hc, const health::CheckSite& site, ProbeSpec& spec) {
    if (hc.port < 0 || hc.port > 65535) {
        throw config::ConfigError(hc.pos, "port", site.where + ": port must be 1..65535");
    }
    if (hc.count < 1 || hc.count > 100) {
        throw config::ConfigError(hc.pos, "count", site.where + ": count must be 1..100");
    }
    spec.port = 0;
    return std::to_string(hc.count);
}

std::uint16_t inet_checksum(const std::uint8_t* p, std::size_t n) {
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i + 1 < n; i += 2)
        sum += static_cast<std::uint32_t>(p[i] << 8 | p[i + 1]);
    if (n & 1) sum += static_cast<std::uint32_t>(p[n - 1] << 8);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum);
}

class IcmpRunner final : public SocketRunner {
  public:
    explicit IcmpRunner(const health::RunnerContext& ctx) : SocketRunner(ctx) {
        ident_ = static_cast<std::uint16_t>(rng_.next());
    }
    ~IcmpRunner() override {
        cancel_all();
        for (int fd : fd_) {
            if (fd >= 0) ::close(fd);
        }
    }

    void prepare(const util::IpAddr& addr) override {
        const int family = addr.family;
        int& fd = fd_[family == 4 ? 0 : 1];
        if (fd >= 0) return;
        int s = family == 4
                    ? ::socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP)
                    : ::socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6);
        if (s < 0) {
            throw std::system_error(
                errno, std::generic_category(),
                fmt::format("health: icmp checks need a raw IPv{} socket (run as root or grant "
                            "CAP_NET_RAW, e.g. setcap cap_net_raw+ep gslbd), socket()",
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
        ev.data.u64 = ctx_.tag | static_cast<std::uint32_t>(s);
        if (epoll_ctl(ctx_.epoll_fd, EPOLL_CTL_ADD, s, &ev) != 0) {
            const int e = errno;
            ::close(s);
            throw std::system_error(e, std::generic_category(), "health: epoll_ctl(icmp)");
        }
        fd = s;
    }

    void on_event(int fd, std::uint32_t /*events*/) override {
        if (fd == fd_[0]) {
            readable(4);
        } else if (fd == fd_[1]) {
            readable(6);
        }
    }

  private:
    bool begin(Attempt& a) override {
        const util::IpAddr& addr = a.addr;
        const int fd = fd_[addr.family == 4 ? 0 : 1];
        if (fd < 0) {
            fail(a.token, ErrorKind::Internal, "icmp socket not open");
            return false;
        }
        for (int i = 0; i < a.spec->cfg.count; ++i) {
            std::uint16_t seq = 0;
            std::uint32_t key = 0;
            for (int tries = 0; tries < 65536; ++tries) {
                seq = ++seq_;
                key = static_cast<std::uint32_t>(addr.family) << 16 | seq;
                if (!wait_.contains(key)) break;
            }
            std::uint8_t pkt[24] = {};
            pkt[0] = addr.family == 4 ? ICMP_ECHO : ICMP6_ECHO_REQUEST;
            pkt[4] = static_cast<std::uint8_t>(ident_ >> 8);
            pkt[5] = static_cast<std::uint8_t>(ident_);
            pkt[6] = static_cast<std::uint8_t>(seq >> 8);
            pkt[7] = static_cast<std::uint8_t>(seq);
            std::memcpy(pkt + 8, &a.serial, sizeof a.serial);
            if (addr.family == 4) {  // the kernel fills the ICMPv6 checksum itself
                std::uint16_t c = inet_checksum(pkt, sizeof pkt);
                pkt[2] = static_cast<std::uint8_t>(c >> 8);
                pkt[3] = static_cast<std::uint8_t>(c);
            }
            sockaddr_storage dst;
            socklen_t dl = util::to_sockaddr(addr, 0, dst);
            if (::sendto(fd, pkt, sizeof pkt, 0, reinterpret_cast<sockaddr*>(&dst), dl) < 0) {
                const int e = errno;
                forget(a);
                fail(a.token, errno_kind(e), errno_text("icmp send", e));
                return false;
            }
            wait_[key] = a.serial;
            a.keys.push_back(key);
        }
        return true;
    }

    void on_ready(Attempt& /*a*/, std::uint32_t /*events*/) override {}  // no own sockets

    void forget(Attempt& a) override {
        for (auto k : a.keys) wait_.erase(k);
        a.keys.clear();
    }

    void readable(int family) {
        const int fd = fd_[family == 4 ? 0 : 1];
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
            if ((icmp[4] << 8 | icmp[5]) != ident_) continue;
            auto seq = static_cast<std::uint16_t>(icmp[6] << 8 | icmp[7]);
            auto w = wait_.find(static_cast<std::uint32_t>(family) << 16 | seq);
            if (w == wait_.end()) continue;
            const Attempt* a = find(w->second);
            if (a == nullptr) continue;
            util::IpAddr src;
            src.family = static_cast<std::uint8_t>(family);
            if (family == 4) {
                std::memcpy(src.bytes.data(), &reinterpret_cast<sockaddr_in*>(&from)->sin_addr, 4);
            } else {
                std::memcpy(src.bytes.data(), &reinterpret_cast<sockaddr_in6*>(&from)->sin6_addr,
                            16);
            }
            if (!(src == a->addr)) continue;
            finish(w->second, ErrorKind::None, {});
        }
    }

    int fd_[2] = {-1, -1};  ///< [0] IPv4, [1] IPv6
    std::uint16_t ident_ = 0;
    std::uint16_t seq_ = 0;
    std::unordered_map<std::uint32_t, std::uint64_t> wait_;  ///< family<<16|seq -> serial
};

}  // namespace

GSLBD_REGISTER_PROBE_KIND(icmp, "icmp", resolve,
                          [](const health::RunnerContext& ctx)
                              -> std::unique_ptr<health::ProbeRunner> {
                              return std::make_unique<IcmpRunner>(ctx);
                          })

}  // namespace gslbd::probes
