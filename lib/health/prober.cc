#include "health/prober.hh"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "health/probe_http.hh"
#include "health/probe_kind.hh"
#include "health/prober_impl.hh"
#include "util/sockaddr.hh"

namespace gslbd::health {

using namespace detail;

namespace {

// Thousands of probes in flight need thousands of sockets; the soft limit is often 1024
// while the hard limit is far higher. Raised once for the process.
struct RaiseFileLimit {
    RaiseFileLimit() {
        rlimit rl{};
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
    }
};

}  // namespace

Prober::Prober() : rng_(util::random_seed()) {
    static RaiseFileLimit raised;
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) throw sys_error("health: epoll_create1");
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) throw sys_error("health: eventfd");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kWakeTag;
    epoll_ctl(ep_, EPOLL_CTL_ADD, wake_fd_, &ev);
    http_ = std::make_unique<HttpProbes>(ep_, ready_);
    icmp_ident_ = static_cast<std::uint16_t>(rng_.next());
}

Prober::~Prober() {
    cancel_all();
    http_.reset();  // curl may still remove its sockets from the epoll set
    runners_.clear();
    for (int fd : icmp_fd_) {
        if (fd >= 0) ::close(fd);
    }
    if (wake_fd_ >= 0) ::close(wake_fd_);
    if (ep_ >= 0) ::close(ep_);
}

std::size_t Prober::in_flight() const noexcept {
    std::size_t n = own_.size() + http_->in_flight();
    for (const auto& [k, r] : runners_) n += r->in_flight();
    return n;
}

ProbeRunner& Prober::runner_for(const ProbeKind* kind) {
    for (auto& [k, r] : runners_) {
        if (k == kind) return *r;
    }
    RunnerContext ctx;
    ctx.epoll_fd = ep_;
    ctx.tag = kPluginTag | (static_cast<std::uint64_t>(runners_.size()) << 32);
    ctx.wakeup = [this] { wakeup(); };
    ctx.source = source_;
    runners_.emplace_back(kind, kind->make_runner(ctx));
    return *runners_.back().second;
}

void Prober::wakeup() noexcept {
    std::uint64_t one = 1;
    ssize_t r = ::write(wake_fd_, &one, sizeof one);
    (void)r;
}

void Prober::fail_now(std::uint64_t token, ErrorKind kind, std::string detail) {
    ready_.push_back(ProbeResult{token, kind, std::move(detail), {}});
}

void Prober::start(std::uint64_t token, std::shared_ptr<const ProbeSpec> spec,
                   const util::IpAddr& addr, std::chrono::milliseconds timeout) {
    if (spec->kind == ProbeSpec::Kind::Http) {
        http_->start(token, std::move(spec), addr, timeout);
        return;
    }
    if (spec->kind == ProbeSpec::Kind::Plugin) {
        try {
            ProbeRunner& r = runner_for(spec->plugin);
            r.start(token, std::move(spec), addr, timeout);
        } catch (const std::exception& e) {
            fail_now(token, ErrorKind::Internal, e.what());
        }
        return;
    }
    auto o = std::make_unique<Own>();
    o->token = token;
    o->kind = spec->kind;
    o->spec = std::move(spec);
    o->addr = addr;
    o->start = SteadyClock::now();
    const std::uint64_t serial = next_serial_++;
    bool started = false;
    switch (o->kind) {
        case ProbeSpec::Kind::Tcp:
            started = start_tcp(*o, serial);
            break;
        case ProbeSpec::Kind::Dns:
            started = start_dns(*o, serial);
            break;
        case ProbeSpec::Kind::Icmp:
            started = start_icmp(*o, serial);
            break;
        case ProbeSpec::Kind::Http:
        case ProbeSpec::Kind::Plugin:
            break;
    }
    if (!started) return;  // the failure is in ready_ already
    deadlines_.emplace(o->start + timeout, serial);
    own_.emplace(serial, std::move(o));
}

// ---- what the probes on our own sockets share -----------------------------------------------

void Prober::set_source(std::optional<util::IpAddr> v4, std::optional<util::IpAddr> v6) {
    source_[0] = v4;
    source_[1] = v6;
    http_->set_source(v4 ? v4->to_string() : std::string(), v6 ? v6->to_string() : std::string());
}

bool Prober::connect_own(Own& o, int type, bool rst_on_close) {
    const int af = o.addr.family == 4 ? AF_INET : AF_INET6;
    o.fd = ::socket(af, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (o.fd < 0) {
        fail_now(o.token, ErrorKind::Internal, std::string("socket: ") + std::strerror(errno));
        return false;
    }
    if (rst_on_close) {
        linger lg{1, 0};
        setsockopt(o.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    if (const auto& src = source_[o.addr.family == 4 ? 0 : 1]) {
        sockaddr_storage local;
        const socklen_t ll = util::to_sockaddr(*src, 0, local);
        if (::bind(o.fd, reinterpret_cast<sockaddr*>(&local), ll) != 0) {
            const int e = errno;
            ::close(o.fd);
            fail_now(o.token, ErrorKind::Internal,
                     "bind to source " + src->to_string() + ": " + std::strerror(e));
            return false;
        }
    }
    sockaddr_storage ss;
    socklen_t sl = util::to_sockaddr(o.addr, o.spec->port, ss);
    int rc = ::connect(o.fd, reinterpret_cast<sockaddr*>(&ss), sl);
    if (rc != 0 && errno != EINPROGRESS) {
        int e = errno;
        ::close(o.fd);
        fail_now(o.token, errno_kind(e), std::string("connect: ") + std::strerror(e));
        return false;
    }
    return true;
}

bool Prober::watch_own(Own& o, std::uint64_t serial, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = serial;
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, o.fd, &ev) != 0) {
        int e = errno;
        ::close(o.fd);
        fail_now(o.token, ErrorKind::Internal, std::string("epoll: ") + std::strerror(e));
        return false;
    }
    return true;
}

void Prober::finish_own(std::uint64_t serial, ErrorKind kind, std::string detail) {
    auto it = own_.find(serial);
    if (it == own_.end()) return;
    Own& o = *it->second;
    ProbeResult r;
    r.token = o.token;
    r.kind = kind;
    r.detail = std::move(detail);
    r.latency = std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - o.start);
    if (o.fd >= 0) ::close(o.fd);  // also removes it from epoll
    for (auto k : o.icmp_keys) icmp_wait_.erase(k);
    own_.erase(it);
    ready_.push_back(std::move(r));
}

// ---- the loop -------------------------------------------------------------------------------

std::optional<SteadyClock::time_point> Prober::next_deadline() const {
    if (!ready_.empty()) return SteadyClock::time_point::min();
    std::optional<SteadyClock::time_point> d = http_->deadline();
    if (!deadlines_.empty() && (!d || deadlines_.top().first < *d)) d = deadlines_.top().first;
    for (const auto& [k, r] : runners_) {
        auto rd = r->deadline();
        if (rd && (!d || *rd < *d)) d = rd;
    }
    return d;
}

void Prober::wait(std::chrono::milliseconds max_wait) {
    int ms = static_cast<int>(std::max<std::int64_t>(0, max_wait.count()));
    if (!ready_.empty()) ms = 0;
    nevents_ = epoll_wait(ep_, events_.data(), static_cast<int>(events_.size()), ms);
    if (nevents_ < 0) nevents_ = 0;  // EINTR
}

void Prober::process(std::vector<ProbeResult>& out) {
    for (int i = 0; i < nevents_; ++i) {
        const epoll_event& ev = events_[static_cast<std::size_t>(i)];
        std::uint64_t tag = ev.data.u64;
        if (tag & kCurlTag) {
            http_->on_socket(static_cast<int>(tag & 0xffffffffu), ev.events);
        } else if ((tag & (kSpecialTag | kPluginTag)) == kPluginTag) {
            const auto i = static_cast<std::size_t>((tag >> 32) & 0xffffu);
            if (i < runners_.size()) {
                runners_[i].second->on_event(static_cast<int>(tag & 0xffffffffu), ev.events);
            }
        } else if (tag == kWakeTag) {
            std::uint64_t v;
            ssize_t r = ::read(wake_fd_, &v, sizeof v);
            (void)r;
        } else if (tag == kIcmp4Tag || tag == kIcmp6Tag) {
            on_icmp_readable(tag == kIcmp4Tag ? 4 : 6);
        } else if (auto it = own_.find(tag); it != own_.end()) {  // else finished earlier
            if (it->second->kind == ProbeSpec::Kind::Tcp) {
                on_tcp_event(tag, *it->second, ev.events);
            } else {
                on_dns_readable(tag, *it->second);
            }
        }
    }
    nevents_ = 0;
    auto now = SteadyClock::now();
    http_->process(now);
    for (auto& [k, r] : runners_) r->process(now, ready_);
    while (!deadlines_.empty() && deadlines_.top().first <= now) {
        std::uint64_t serial = deadlines_.top().second;
        deadlines_.pop();
        finish_own(serial, ErrorKind::Timeout, "no answer within the timeout");
    }
    for (auto& r : ready_) out.push_back(std::move(r));
    ready_.clear();
}

void Prober::cancel_all() {
    http_->cancel_all();
    for (auto& [k, r] : runners_) r->cancel_all();
    for (auto& [serial, o] : own_) {
        if (o->fd >= 0) ::close(o->fd);
    }
    own_.clear();
    icmp_wait_.clear();
    deadlines_ = {};
    ready_.clear();
}

}  // namespace gslbd::health
