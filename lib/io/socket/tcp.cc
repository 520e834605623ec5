#include "io/socket/tcp.hh"

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "io/socket/sockaddr.hh"
#include "util/bytes.hh"
#include "util/random.hh"

namespace gslbd::io {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::uint64_t kListenTag = 1ull << 32;
constexpr std::size_t kMaxMsg = 65535;

}  // namespace

struct TcpServer::Conn {
    int fd = -1;
    util::IpAddr peer;
    std::vector<std::uint8_t> in;   ///< bytes received, not yet a whole message
    std::vector<std::uint8_t> out;  ///< framed responses not yet sent
    std::size_t out_pos = 0;
    Clock::time_point last;
    bool closing = false;  ///< read no more; close once `out` is sent
    std::uint32_t events = 0;
    std::size_t pending() const noexcept { return out.size() - out_pos; }
};

TcpServer::TcpServer(const gslb::SnapshotHolder& holder,
                     const std::vector<config::Listener>& listeners, const TcpOptions& opts)
    : holder_(holder), opts_(opts), listeners_(listeners_text(listeners)) {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0)
        throw std::runtime_error(std::string("TCP: epoll_create1: ") + std::strerror(errno));
    for (const auto& l : listeners) {
        int fd = open_bound_socket(l, SOCK_STREAM, false);
        listen_fds_.push_back(fd);
        if (::listen(fd, 1024) != 0)
            throw std::runtime_error("TCP " + listener_text(l) +
                                     ": listen: " + std::strerror(errno));
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = kListenTag | static_cast<std::uint32_t>(fd);
        if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0)
            throw std::runtime_error("TCP " + listener_text(l) +
                                     ": epoll_ctl: " + std::strerror(errno));
    }
    pipeline_ = std::make_unique<pipeline::Pipeline>(holder_, util::random_seed());
}

TcpServer::~TcpServer() {
    stop();
    for (int fd : listen_fds_) ::close(fd);
    if (epfd_ >= 0) ::close(epfd_);
}

void TcpServer::start() {
    if (thread_.joinable()) return;
    thread_ = std::thread([this] { run(); });
}

void TcpServer::stop() {
    stop_.store(true, std::memory_order_relaxed);
    if (thread_.joinable()) thread_.join();
}

TcpStats TcpServer::stats() const noexcept {
    TcpStats s;
    s.accepted = accepted_.get();
    s.rejected = rejected_.get();
    s.timed_out = timed_out_.get();
    s.closed = closed_.get();
    s.active = active_.get();
    pipeline::add_relaxed(s.dns, pipeline_->counters());
    pipeline::add_relaxed(s.cache, pipeline_->cache_counters());
    return s;
}

std::string TcpServer::describe() const {
    return "TCP: " + listeners_;
}

void TcpServer::collect(Stats& into) const {
    const TcpStats t = stats();
    pipeline::add_relaxed(into.tcp, t.dns);
    pipeline::add_relaxed(into.cache, t.cache);
    edge::add_relaxed(into.edge, pipeline_->edge_counters());
    into.tcp_accepted += t.accepted;
    into.tcp_rejected += t.rejected;
    into.tcp_timed_out += t.timed_out;
    into.tcp_closed += t.closed;
    into.tcp_active += t.active;
}

std::string TcpServer::summary() const {
    const TcpStats t = stats();
    return "TCP: " + std::to_string(t.accepted) + " connections, " + std::to_string(t.rejected) +
           " rejected, " + std::to_string(t.timed_out) + " timed out, " +
           std::to_string(t.dns.queries) + " queries";
}

/// The event loop's state; lives on the server thread's stack.
struct TcpServer::State {
    TcpServer& srv;
    std::unordered_map<int, std::unique_ptr<Conn>> conns;
    std::array<std::uint8_t, 2 + kMaxMsg> resp{};
    std::array<std::uint8_t, 16384> scratch{};

    void close_conn(int fd) {
        auto it = conns.find(fd);
        if (it == conns.end()) return;
        ::epoll_ctl(srv.epfd_, EPOLL_CTL_DEL, fd, nullptr);
        ::close(fd);
        conns.erase(it);
        srv.closed_.add();
        srv.active_.v.store(conns.size(), std::memory_order_relaxed);
    }

    void accept_all(int lfd, Clock::time_point now) {
        for (;;) {
            sockaddr_storage sa;
            socklen_t len = sizeof sa;
            int fd = ::accept4(lfd, reinterpret_cast<sockaddr*>(&sa), &len,
                               SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EINTR || errno == ECONNABORTED) continue;
                return;  // EAGAIN, or out of descriptors: try again on the next event
            }
            if (conns.size() >= srv.opts_.max_connections) {
                ::close(fd);
                srv.rejected_.add();
                continue;
            }
            auto c = std::make_unique<Conn>();
            c->fd = fd;
            c->peer = from_sockaddr(sa);
            c->last = now;
            c->events = EPOLLIN;
            epoll_event ev{};
            ev.events = c->events;
            ev.data.u64 = static_cast<std::uint32_t>(fd);
            if (::epoll_ctl(srv.epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
                ::close(fd);
                continue;
            }
            conns.emplace(fd, std::move(c));
            srv.accepted_.add();
            srv.active_.v.store(conns.size(), std::memory_order_relaxed);
        }
    }

    // Answers every whole message in c.in; leaves a partial one for the next read. Returns
    // whether a whole message was taken.
    bool process(Conn& c) {
        std::size_t off = 0;
        while (!c.closing && c.in.size() - off >= 2 && c.pending() < srv.opts_.max_pending_output) {
            const std::size_t len = util::load16(&c.in[off]);
            if (c.in.size() - off - 2 < len) break;
            const std::size_t n = srv.pipeline_->handle({c.in.data() + off + 2, len}, c.peer,
                                                        {resp.data() + 2, kMaxMsg}, true);
            off += 2 + len;
            if (n == 0) {
                // The pipeline found nothing worth answering (e.g. a response, or a
                // zero-length message): the stream can no longer be trusted.
                c.closing = true;
                break;
            }
            util::store16(resp.data(), static_cast<std::uint16_t>(n));
            c.out.insert(c.out.end(), resp.begin(), resp.begin() + 2 + n);
        }
        c.in.erase(c.in.begin(), c.in.begin() + static_cast<std::ptrdiff_t>(off));
        return off != 0;
    }

    // Returns false when the connection was closed.
    bool flush(Conn& c, Clock::time_point now) {
        while (c.pending() > 0) {
            const ssize_t w =
                ::send(c.fd, c.out.data() + c.out_pos, c.pending(), MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0) {
                c.out_pos += static_cast<std::size_t>(w);
                c.last = now;
            } else if (w < 0 && errno == EINTR) {
                continue;
            } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                break;
            } else {
                close_conn(c.fd);
                return false;
            }
        }
        if (c.pending() == 0) {
            c.out.clear();
            c.out_pos = 0;
            if (c.closing) {
                close_conn(c.fd);
                return false;
            }
        }
        return true;
    }

    void on_readable(Conn& c, Clock::time_point now) {
        while (!c.closing && c.pending() < srv.opts_.max_pending_output) {
            const ssize_t r = ::recv(c.fd, scratch.data(), scratch.size(), MSG_DONTWAIT);
            if (r > 0) {
                c.in.insert(c.in.end(), scratch.begin(), scratch.begin() + r);
                // Only a whole message counts as activity: a client trickling a message a
                // byte at a time must not hold its connection slot past the idle timeout.
                if (process(c)) c.last = now;
                if (static_cast<std::size_t>(r) < scratch.size()) break;
            } else if (r == 0) {
                // Peer finished sending: answer what is complete, then close after the
                // responses are out (a half-closed client still reads).
                process(c);
                c.closing = true;
            } else if (errno == EINTR) {
                continue;
            } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            } else {
                close_conn(c.fd);
                return;
            }
        }
        // Pending output may have blocked processing of messages already buffered.
        process(c);
        if (!flush(c, now)) return;
        update_interest(c);
    }

    void on_writable(Conn& c, Clock::time_point now) {
        if (!flush(c, now)) return;
        // Output drained below the limit: buffered queries can go on.
        if (c.pending() < srv.opts_.max_pending_output && !c.in.empty()) {
            process(c);
            if (!flush(c, now)) return;
        }
        update_interest(c);
    }

    void update_interest(Conn& c) {
        std::uint32_t want = 0;
        if (!c.closing && c.pending() < srv.opts_.max_pending_output) want |= EPOLLIN;
        if (c.pending() > 0) want |= EPOLLOUT;
        if (want == c.events) return;
        c.events = want;
        epoll_event ev{};
        ev.events = want;
        ev.data.u64 = static_cast<std::uint32_t>(c.fd);
        ::epoll_ctl(srv.epfd_, EPOLL_CTL_MOD, c.fd, &ev);
    }

    void expire_idle(Clock::time_point now) {
        std::vector<int> idle;
        for (const auto& [fd, c] : conns)
            if (now - c->last >= srv.opts_.idle_timeout) idle.push_back(fd);
        for (int fd : idle) {
            close_conn(fd);
            srv.timed_out_.add();
        }
    }
};

void TcpServer::run() noexcept {
    gslb::RcuThread rcu;
    State st{*this, {}, {}, {}};
    std::array<epoll_event, 64> evs;
    auto last_sweep = Clock::now();
    while (!stop_.load(std::memory_order_relaxed)) {
        gslb::RcuThread::offline();
        const int n = ::epoll_wait(epfd_, evs.data(), static_cast<int>(evs.size()), 100);
        gslb::RcuThread::online();
        const auto now = Clock::now();
        for (int i = 0; i < n; ++i) {
            const std::uint64_t tag = evs[i].data.u64;
            const int fd = static_cast<int>(static_cast<std::uint32_t>(tag));
            try {
                if (tag & kListenTag) {
                    st.accept_all(fd, now);
                    continue;
                }
                auto it = st.conns.find(fd);
                if (it == st.conns.end()) continue;
                Conn& c = *it->second;
                const std::uint32_t e = evs[i].events;
                if (e & EPOLLIN) {
                    st.on_readable(c, now);
                } else if (e & EPOLLOUT) {
                    st.on_writable(c, now);
                } else if (e & (EPOLLERR | EPOLLHUP)) {
                    st.close_conn(fd);
                }
            } catch (const std::exception&) {
                // Out of memory while buffering: shed this connection, keep serving.
                if (!(tag & kListenTag)) st.close_conn(fd);
            }
        }
        if (now - last_sweep >= std::chrono::milliseconds(100)) {
            try {
                st.expire_idle(now);
            } catch (const std::exception&) {
            }
            last_sweep = now;
        }
        gslb::RcuThread::quiescent();
    }
    while (!st.conns.empty()) st.close_conn(st.conns.begin()->first);
}

}  // namespace gslbd::io
