#include "socket_runner.hh"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/sockaddr.hh"

namespace gslbd::probes {

ErrorKind errno_kind(int e) {
    if (e == ECONNREFUSED) return ErrorKind::Refused;
    if (e == ETIMEDOUT) return ErrorKind::Timeout;
    return ErrorKind::Network;
}

std::string errno_text(const char* what, int e) {
    return std::string(what) + ": " + std::strerror(e);
}

SocketRunner::SocketRunner(const health::RunnerContext& ctx)
    : ctx_(ctx), rng_(util::random_seed()) {}

SocketRunner::~SocketRunner() {
    for (auto& [serial, a] : live_) {
        if (a->fd >= 0) ::close(a->fd);
    }
}

void SocketRunner::start(std::uint64_t token, std::shared_ptr<const ProbeSpec> spec,
                         const util::IpAddr& addr, std::chrono::milliseconds timeout) {
    auto a = std::make_unique<Attempt>();
    a->serial = next_serial_++;
    a->token = token;
    a->spec = std::move(spec);
    a->addr = addr;
    a->start = SteadyClock::now();
    if (!begin(*a)) return;  // the failure is in ready_ already
    deadlines_.emplace(a->start + timeout, a->serial);
    if (a->fd >= 0) by_fd_[a->fd] = a->serial;
    live_.emplace(a->serial, std::move(a));
}

SocketRunner::Attempt* SocketRunner::find(std::uint64_t serial) {
    auto it = live_.find(serial);
    return it == live_.end() ? nullptr : it->second.get();
}

void SocketRunner::fail(std::uint64_t token, ErrorKind kind, std::string detail) {
    ready_.push_back(ProbeResult{token, kind, std::move(detail), {}});
}

bool SocketRunner::connect(Attempt& a, int type, bool rst_on_close) {
    const int af = a.addr.family == 4 ? AF_INET : AF_INET6;
    a.fd = ::socket(af, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (a.fd < 0) {
        fail(a.token, ErrorKind::Internal, errno_text("socket", errno));
        return false;
    }
    if (rst_on_close) {
        linger lg{1, 0};
        setsockopt(a.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    if (const auto& src = ctx_.source[a.addr.family == 4 ? 0 : 1]) {
        sockaddr_storage local;
        const socklen_t ll = util::to_sockaddr(*src, 0, local);
        if (::bind(a.fd, reinterpret_cast<sockaddr*>(&local), ll) != 0) {
            const int e = errno;
            ::close(a.fd);
            a.fd = -1;
            fail(a.token, ErrorKind::Internal,
                 "bind to source " + src->to_string() + ": " + std::strerror(e));
            return false;
        }
    }
    sockaddr_storage ss;
    const socklen_t sl = util::to_sockaddr(a.addr, a.spec->port, ss);
    if (::connect(a.fd, reinterpret_cast<sockaddr*>(&ss), sl) != 0 && errno != EINPROGRESS) {
        const int e = errno;
        ::close(a.fd);
        a.fd = -1;
        fail(a.token, errno_kind(e), errno_text("connect", e));
        return false;
    }
    return true;
}

bool SocketRunner::watch(Attempt& a, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = ctx_.tag | static_cast<std::uint32_t>(a.fd);
    if (epoll_ctl(ctx_.epoll_fd, EPOLL_CTL_ADD, a.fd, &ev) != 0) {
        const int e = errno;
        ::close(a.fd);
        a.fd = -1;
        fail(a.token, ErrorKind::Internal, errno_text("epoll", e));
        return false;
    }
    return true;
}

void SocketRunner::on_event(int fd, std::uint32_t events) {
    auto it = by_fd_.find(fd);
    if (it == by_fd_.end()) return;  // finished earlier
    if (Attempt* a = find(it->second)) on_ready(*a, events);
}

void SocketRunner::finish(std::uint64_t serial, ErrorKind kind, std::string detail) {
    auto it = live_.find(serial);
    if (it == live_.end()) return;
    Attempt& a = *it->second;
    ProbeResult r;
    r.token = a.token;
    r.kind = kind;
    r.detail = std::move(detail);
    r.latency = std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - a.start);
    if (a.fd >= 0) {
        by_fd_.erase(a.fd);
        ::close(a.fd);  // also removes it from epoll
    }
    forget(a);
    live_.erase(it);
    ready_.push_back(std::move(r));
}

void SocketRunner::process(SteadyClock::time_point now, std::vector<ProbeResult>& out) {
    while (!deadlines_.empty() && deadlines_.top().first <= now) {
        const std::uint64_t serial = deadlines_.top().second;
        deadlines_.pop();
        finish(serial, ErrorKind::Timeout, "no answer within the timeout");
    }
    for (auto& r : ready_) out.push_back(std::move(r));
    ready_.clear();
}

std::optional<SteadyClock::time_point> SocketRunner::deadline() const {
    if (!ready_.empty()) return SteadyClock::time_point::min();
    // entries of attempts that ended earlier are dropped here: the loop would otherwise wake
    // up at each of them (one per probe) for nothing
    while (!deadlines_.empty() && live_.count(deadlines_.top().second) == 0) deadlines_.pop();
    if (!deadlines_.empty()) return deadlines_.top().first;
    return std::nullopt;
}

void SocketRunner::cancel_all() {
    for (auto& [serial, a] : live_) {
        if (a->fd >= 0) ::close(a->fd);
        forget(*a);
    }
    live_.clear();
    by_fd_.clear();
    deadlines_ = {};
    ready_.clear();
}

}  // namespace gslbd::probes
