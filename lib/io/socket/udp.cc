#include "io/socket/udp.hh"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "cache/cache.hh"
#include "io/socket/sockaddr.hh"
#include "util/random.hh"

namespace gslbd::io {

namespace {

// The largest UDP payload: a query never needs more, and a response is clamped by the
// pipeline to the client's and our EDNS size, so one fixed buffer per slot always fits.
constexpr std::size_t kBufSize = 65535;
// Enough for one IP_PKTINFO or IPV6_PKTINFO control message.
constexpr std::size_t kCtlSize = CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(in_pktinfo));
// Bursts taken from one socket before looking at the others (fairness across listeners).
constexpr int kBurstsPerSocket = 8;
constexpr std::size_t kMaxListeners = 64;
// Receive buffer asked for each worker socket. Linux's default (212 KB, about 2,000 small
// queries) overflows in a few milliseconds of a burst at 100k qps while the worker is busy;
// 4 MiB rides out ~40 ms. SO_RCVBUFFORCE passes net.core.rmem_max while we are still root;
// without CAP_NET_ADMIN the plain option gives what rmem_max allows. Pages are only used
// when the queue actually fills.
constexpr int kRcvBuf = 4 << 20;

void raise_receive_buffer(int fd) noexcept {
    int want = kRcvBuf;
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) == 0) return;
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
}

}  // namespace

struct UdpServer::Worker {
    unsigned index = 0;
    std::vector<int> fds;
    std::vector<std::uint8_t> wildcard;  ///< per fd: reply from the address we were asked at
    std::unique_ptr<pipeline::Pipeline> pipe;

    std::unique_ptr<std::uint8_t[]> rx =
        std::make_unique_for_overwrite<std::uint8_t[]>(kBurst * kBufSize);
    std::unique_ptr<std::uint8_t[]> tx =
        std::make_unique_for_overwrite<std::uint8_t[]>(kBurst * kBufSize);
    std::array<mmsghdr, kBurst> rmsg{}, smsg{};
    std::array<iovec, kBurst> riov{}, siov{};
    std::array<sockaddr_storage, kBurst> names{};
    alignas(cmsghdr) std::array<std::array<std::uint8_t, kCtlSize>, kBurst> rctl{}, sctl{};

    Counter rx_packets, tx_packets, tx_errors, rx_truncated;

    ~Worker() {
        for (int fd : fds) ::close(fd);
    }
};

UdpServer::UdpServer(const gslb::SnapshotHolder& holder,
                     const std::vector<config::Listener>& listeners, unsigned workers)
    : holder_(holder), listeners_(listeners_text(listeners)) {
    if (workers == 0) workers = 1;
    if (listeners.size() > kMaxListeners)
        throw std::runtime_error("UDP: at most " + std::to_string(kMaxListeners) + " listeners");
    for (const auto& l : listeners) {
        // Every worker binds with SO_REUSEPORT, and so would a second gslbd started by
        // mistake: the kernel would quietly split the traffic between us. A plain bind
        // first makes "address in use" an error again.
        ::close(open_bound_socket(l, SOCK_DGRAM, false));
    }
    for (unsigned i = 0; i < workers; ++i) {
        auto w = std::make_unique<Worker>();
        w->index = i;
        for (const auto& l : listeners) {
            int fd = open_bound_socket(l, SOCK_DGRAM, true);
            w->fds.push_back(fd);
            raise_receive_buffer(fd);
            const bool wild = is_wildcard(l.addr);
            w->wildcard.push_back(wild);
            if (wild) {
                const int one = 1;
                const int rc =
                    l.addr.family == 4
                        ? ::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one)
                        : ::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
                if (rc != 0)
                    throw std::runtime_error("UDP " + listener_text(l) +
                                             ": PKTINFO: " + std::strerror(errno));
            }
        }
        w->pipe = std::make_unique<pipeline::Pipeline>(
            holder_, util::random_seed() ^ (i * 0x9e3779b97f4a7c15ull));
        workers_.push_back(std::move(w));
    }
}

UdpServer::~UdpServer() {
    stop();
}

void UdpServer::start() {
    if (!threads_.empty()) return;
    for (auto& w : workers_) threads_.emplace_back([this, wp = w.get()] { run(*wp); });
}

void UdpServer::stop() {
    stop_.store(true, std::memory_order_relaxed);
    for (auto& t : threads_)
        if (t.joinable()) t.join();
    threads_.clear();
}

UdpStats UdpServer::stats() const noexcept {
    UdpStats s;
    for (const auto& w : workers_) {
        s.rx_packets += w->rx_packets.get();
        s.tx_packets += w->tx_packets.get();
        s.tx_errors += w->tx_errors.get();
        s.rx_truncated += w->rx_truncated.get();
        pipeline::add_relaxed(s.dns, w->pipe->counters());
        pipeline::add_relaxed(s.cache, w->pipe->cache_counters());
        edge::add_relaxed(s.edge, w->pipe->edge_counters());
    }
    return s;
}

std::string UdpServer::describe() const {
    return "UDP: " + listeners_ + " (" + std::to_string(workers()) + " workers)";
}

void UdpServer::collect(Stats& into) const {
    const UdpStats u = stats();
    pipeline::add_relaxed(into.udp, u.dns);
    pipeline::add_relaxed(into.cache, u.cache);
    edge::add_relaxed(into.edge, u.edge);
    into.udp_rx += u.rx_packets;
    into.udp_tx += u.tx_packets;
    into.drops.emplace_back("udp_send_error", u.tx_errors);
    into.drops.emplace_back("udp_oversize", u.rx_truncated);
}

std::string UdpServer::summary() const {
    const UdpStats u = stats();
    return "UDP: " + std::to_string(u.rx_packets) + " received, " + std::to_string(u.tx_packets) +
           " sent, " + std::to_string(u.tx_errors) + " send errors";
}

namespace {

// Turns the destination address the kernel reported into the source address for the reply.
socklen_t reply_pktinfo(msghdr& rx, std::uint8_t* out) noexcept {
    for (cmsghdr* c = CMSG_FIRSTHDR(&rx); c != nullptr; c = CMSG_NXTHDR(&rx, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            in_pktinfo in;
            std::memcpy(&in, CMSG_DATA(c), sizeof in);
            in_pktinfo pi{};
            pi.ipi_spec_dst = in.ipi_addr;
            auto* o = reinterpret_cast<cmsghdr*>(out);
            o->cmsg_level = IPPROTO_IP;
            o->cmsg_type = IP_PKTINFO;
            o->cmsg_len = CMSG_LEN(sizeof pi);
            std::memcpy(CMSG_DATA(o), &pi, sizeof pi);
            return CMSG_SPACE(sizeof pi);
        }
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            in6_pktinfo pi;
            std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
            auto* o = reinterpret_cast<cmsghdr*>(out);
            o->cmsg_level = IPPROTO_IPV6;
            o->cmsg_type = IPV6_PKTINFO;
            o->cmsg_len = CMSG_LEN(sizeof pi);
            std::memcpy(CMSG_DATA(o), &pi, sizeof pi);  // same address, same interface
            return CMSG_SPACE(sizeof pi);
        }
    }
    return 0;
}

}  // namespace

void UdpServer::run(Worker& w) noexcept {
    gslb::RcuThread rcu;
    std::array<pollfd, kMaxListeners> pfds{};
    const std::size_t nfds = std::min(w.fds.size(), pfds.size());
    for (std::size_t i = 0; i < nfds; ++i) pfds[i] = pollfd{w.fds[i], POLLIN, 0};

    for (unsigned i = 0; i < kBurst; ++i) {
        w.riov[i] = iovec{w.rx.get() + i * kBufSize, kBufSize};
        w.smsg[i].msg_hdr.msg_iov = &w.siov[i];
        w.smsg[i].msg_hdr.msg_iovlen = 1;
    }

    while (!stop_.load(std::memory_order_relaxed)) {
        // Offline while blocked so a publish never waits for an idle worker.
        gslb::RcuThread::offline();
        const int ready = ::poll(pfds.data(), nfds, 100);
        gslb::RcuThread::online();
        if (ready > 0) {
            for (std::size_t f = 0; f < nfds; ++f) {
                if ((pfds[f].revents & POLLIN) == 0) continue;
                const int fd = w.fds[f];
                const bool wild = w.wildcard[f] != 0;
                for (int round = 0; round < kBurstsPerSocket; ++round) {
                    for (unsigned i = 0; i < kBurst; ++i) {
                        msghdr& h = w.rmsg[i].msg_hdr;
                        h.msg_name = &w.names[i];
                        h.msg_namelen = sizeof(sockaddr_storage);
                        h.msg_iov = &w.riov[i];
                        h.msg_iovlen = 1;
                        h.msg_control = wild ? w.rctl[i].data() : nullptr;
                        h.msg_controllen = wild ? kCtlSize : 0;
                        h.msg_flags = 0;
                    }
                    const int n = ::recvmmsg(fd, w.rmsg.data(), kBurst, MSG_DONTWAIT, nullptr);
                    if (n <= 0) break;
                    w.rx_packets.add(static_cast<std::uint64_t>(n));
                    w.pipe->tick(cache::coarse_now());  // one clock read per burst
                    unsigned k = 0;
                    for (int i = 0; i < n; ++i) {
                        msghdr& h = w.rmsg[i].msg_hdr;
                        if (h.msg_flags & MSG_TRUNC) {
                            w.rx_truncated.add();
                            continue;
                        }
                        const util::IpAddr src = from_sockaddr(w.names[i]);
                        std::uint8_t* out = w.tx.get() + k * kBufSize;
                        const std::size_t len =
                            w.pipe->handle({w.rx.get() + i * kBufSize, w.rmsg[i].msg_len}, src,
                                           {out, kBufSize}, false);
                        if (len == 0) continue;
                        msghdr& s = w.smsg[k].msg_hdr;
                        s.msg_name = &w.names[i];
                        s.msg_namelen = h.msg_namelen;
                        w.siov[k] = iovec{out, len};
                        s.msg_control = nullptr;
                        s.msg_controllen = 0;
                        if (wild) {
                            const socklen_t cl = reply_pktinfo(h, w.sctl[k].data());
                            if (cl != 0) {
                                s.msg_control = w.sctl[k].data();
                                s.msg_controllen = cl;
                            }
                        }
                        ++k;
                    }
                    unsigned sent = 0;
                    while (sent < k) {
                        const int r = ::sendmmsg(fd, w.smsg.data() + sent, k - sent, MSG_DONTWAIT);
                        if (r > 0) {
                            sent += static_cast<unsigned>(r);
                            w.tx_packets.add(static_cast<std::uint64_t>(r));
                        } else if (r < 0 && errno == EINTR) {
                            continue;
                        } else {
                            // The first remaining datagram failed (full socket buffer, bad
                            // destination): UDP may drop it; go on with the rest.
                            w.tx_errors.add();
                            ++sent;
                        }
                    }
                    if (n < static_cast<int>(kBurst)) break;
                }
            }
        }
        gslb::RcuThread::quiescent();
    }
}

}  // namespace gslbd::io
