#pragma once
/// The probe engine: one epoll instance drives every probe of the process. The attempts
/// themselves are carried out by the runners of the registered probe kinds
/// (health/probe_kind.hh, probes/): one runner per kind, created at the kind's first use,
/// its sockets in this epoll set (http: a native HTTP/1.1 client, libcurl's multi in
/// socket-action mode for https; tcp, dns,
/// icmp: non-blocking sockets; mysql, lua: a thread pool of their own that wakes the loop).
/// No thread per probe. Not thread-safe except wakeup(): the owner serializes the other calls.
/// The first Prober raises the process's soft RLIMIT_NOFILE to its hard limit (thousands of
/// probes in flight need thousands of sockets).
#include <array>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <sys/epoll.h>

#include "health/plan.hh"
#include "health/state.hh"
#include "util/addr.hh"

namespace gslbd::health {

class ProbeRunner;  // health/probe_kind.hh

using SteadyClock = std::chrono::steady_clock;

/// One finished attempt.
struct ProbeResult {
    std::uint64_t token = 0;  ///< as given to Prober::start
    ErrorKind kind = ErrorKind::None;
    std::string detail;  ///< human text for failures ("HTTP 503", "connect: refused", ...)
    std::chrono::microseconds latency{0};
    /// http checks with a load_gauge: the gauge's value in the response (NaN: none found)
    double gauge = std::numeric_limits<double>::quiet_NaN();
    bool ok() const noexcept { return kind == ErrorKind::None; }
};

/// The bytes of an HTTP body we look at for `expected_body`.
inline constexpr std::size_t kMaxBody = 64 * 1024;

class Prober {
  public:
    /// Throws std::system_error when epoll/eventfd/curl cannot be set up.
    Prober();
    ~Prober();
    Prober(const Prober&) = delete;
    Prober& operator=(const Prober&) = delete;

    /// Lets the runner of `spec`'s kind acquire what a target at `addr` needs before its
    /// first probe (ProbeRunner::prepare). Throws std::system_error (icmp: EPERM without
    /// CAP_NET_RAW) so a missing privilege is reported at load time.
    void prepare(const ProbeSpec& spec, const util::IpAddr& addr);
    /// Starts one attempt against `addr`; its result comes out of process() later (also for
    /// failures found at once, such as a refused local connect).
    void start(std::uint64_t token, std::shared_ptr<const ProbeSpec> spec, const util::IpAddr& addr,
               std::chrono::milliseconds timeout);
    /// Waits up to `max_wait` for socket events (or wakeup()). Call without holding locks.
    void wait(std::chrono::milliseconds max_wait);
    /// Handles what wait() saw plus expired deadlines; appends finished attempts to `out`.
    void process(std::vector<ProbeResult>& out);
    /// Earliest moment process() has work without any socket event (timeouts, queued results).
    std::optional<SteadyClock::time_point> next_deadline() const;
    /// Drops every attempt in flight (no results are produced for them).
    void cancel_all();
    /// Makes a concurrent or the next wait() return at once. Thread-safe.
    void wakeup() noexcept;
    std::size_t in_flight() const noexcept;
    /// Local source addresses for new probes (runners read them at each start), per family;
    /// nullopt = the kernel's choice.
    void set_source(std::optional<util::IpAddr> v4, std::optional<util::IpAddr> v6);

  private:
    void fail_now(std::uint64_t token, ErrorKind kind, std::string detail);
    /// The runner of `kind`, created at its first use; index = tag bits 32..47.
    ProbeRunner& runner_for(const ProbeKind* kind);

    std::optional<util::IpAddr> source_[2];  ///< [0] IPv4, [1] IPv6
    int ep_ = -1;
    int wake_fd_ = -1;
    std::vector<ProbeResult> ready_;  ///< failures to start (a runner that threw)
    std::vector<std::pair<const ProbeKind*, std::unique_ptr<ProbeRunner>>> runners_;
    std::array<epoll_event, 256> events_{};
    int nevents_ = 0;
};

}  // namespace gslbd::health
