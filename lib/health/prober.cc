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

#include "health/probe_kind.hh"

namespace gslbd::health {

namespace {

/// epoll_event::data.u64 of the prober's epoll set: the wake-up eventfd, or a runner's
/// socket: kRunnerTag | runner index << 32 | fd.
constexpr std::uint64_t kWakeTag = 1ull << 62;
constexpr std::uint64_t kRunnerTag = 1ull << 61;

std::system_error sys_error(const std::string& what) {
    return std::system_error(errno, std::generic_category(), what);
}

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

Prober::Prober() {
    static RaiseFileLimit raised;
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) throw sys_error("health: epoll_create1");
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) throw sys_error("health: eventfd");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kWakeTag;
    epoll_ctl(ep_, EPOLL_CTL_ADD, wake_fd_, &ev);
}

Prober::~Prober() {
    cancel_all();
    runners_.clear();  // before the epoll set closes: curl may still remove its sockets
    if (wake_fd_ >= 0) ::close(wake_fd_);
    if (ep_ >= 0) ::close(ep_);
}

std::size_t Prober::in_flight() const noexcept {
    std::size_t n = 0;
    for (const auto& [k, r] : runners_) n += r->in_flight();
    return n;
}

ProbeRunner& Prober::runner_for(const ProbeKind* kind) {
    for (auto& [k, r] : runners_) {
        if (k == kind) return *r;
    }
    RunnerContext ctx;
    ctx.epoll_fd = ep_;
    ctx.tag = kRunnerTag | (static_cast<std::uint64_t>(runners_.size()) << 32);
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

void Prober::prepare(const ProbeSpec& spec, const util::IpAddr& addr) {
    runner_for(spec.kind).prepare(addr);
}

void Prober::start(std::uint64_t token, std::shared_ptr<const ProbeSpec> spec,
                   const util::IpAddr& addr, std::chrono::milliseconds timeout) {
    try {
        ProbeRunner& r = runner_for(spec->kind);
        r.start(token, std::move(spec), addr, timeout);
    } catch (const std::exception& e) {
        fail_now(token, ErrorKind::Internal, e.what());
    }
}

void Prober::set_source(std::optional<util::IpAddr> v4, std::optional<util::IpAddr> v6) {
    source_[0] = v4;
    source_[1] = v6;
}

// ---- the loop -------------------------------------------------------------------------------

std::optional<SteadyClock::time_point> Prober::next_deadline() const {
    if (!ready_.empty()) return SteadyClock::time_point::min();
    std::optional<SteadyClock::time_point> d;
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
        if (tag & kRunnerTag) {
            const auto i = static_cast<std::size_t>((tag >> 32) & 0xffffu);
            if (i < runners_.size()) {
                runners_[i].second->on_event(static_cast<int>(tag & 0xffffffffu), ev.events);
            }
        } else if (tag == kWakeTag) {
            std::uint64_t v;
            ssize_t r = ::read(wake_fd_, &v, sizeof v);
            (void)r;
        }
    }
    nevents_ = 0;
    auto now = SteadyClock::now();
    for (auto& [k, r] : runners_) r->process(now, ready_);
    for (auto& r : ready_) out.push_back(std::move(r));
    ready_.clear();
}

void Prober::cancel_all() {
    for (auto& [k, r] : runners_) r->cancel_all();
    ready_.clear();
}

}  // namespace gslbd::health
