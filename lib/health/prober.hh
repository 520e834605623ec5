#pragma once
/// The probe engine: one epoll instance drives every probe of the process. HTTP(S) runs on
/// libcurl's multi interface in socket-action mode (curl's sockets live in the same epoll);
/// TCP connects, DNS queries over UDP and ICMP echoes are non-blocking sockets of our own.
/// No thread per probe. Not thread-safe except wakeup(): the owner serializes the other calls.
/// Memory follows the number of probes in flight, not the number of targets: curl easy handles
/// come from a small pool and go back to it when their probe ends.
/// The first Prober raises the process's soft RLIMIT_NOFILE to its hard limit (thousands of
/// probes in flight need thousands of sockets).
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include <sys/epoll.h>

#include "health/plan.hh"
#include "health/state.hh"
#include "util/addr.hh"
#include "util/random.hh"

namespace gslbd::health {

namespace detail {
class HttpProbes;
}
class ProbeRunner;  // health/probe_kind.hh

using SteadyClock = std::chrono::steady_clock;

/// One finished attempt.
struct ProbeResult {
    std::uint64_t token = 0;  ///< as given to Prober::start
    ErrorKind kind = ErrorKind::None;
    std::string detail;  ///< human text for failures ("HTTP 503", "connect: refused", ...)
    std::chrono::microseconds latency{0};
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

    /// Opens the raw ICMP socket for `family` (4 or 6) unless open. Throws std::system_error
    /// (EPERM without CAP_NET_RAW) so a missing privilege is reported at load time.
    void open_icmp(int family);
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
    /// Local source addresses for new probes (HTTP(S), TCP, DNS), per family; nullopt = the
    /// kernel's choice.
    void set_source(std::optional<util::IpAddr> v4, std::optional<util::IpAddr> v6);

  private:
    struct Own;  // health/prober_impl.hh
    // one file per probe type: probe_http.cc (HttpProbes), probe_tcp.cc, probe_dns.cc,
    // probe_icmp.cc; prober.cc holds the loop and what the socket probes share
    bool start_tcp(Own& o, std::uint64_t serial);
    void on_tcp_event(std::uint64_t serial, Own& o, std::uint32_t events);
    bool start_dns(Own& o, std::uint64_t serial);
    void on_dns_readable(std::uint64_t serial, Own& o);
    bool start_icmp(Own& o, std::uint64_t serial);
    void on_icmp_readable(int family);
    /// Opens o.fd: a non-blocking socket of `type` connecting to the probe's address and
    /// port (`rst_on_close`: SO_LINGER 0). false after fail_now (nothing left open).
    bool connect_own(Own& o, int type, bool rst_on_close);
    /// Adds o.fd to epoll under `serial`; false after fail_now (o.fd closed).
    bool watch_own(Own& o, std::uint64_t serial, std::uint32_t events);
    void finish_own(std::uint64_t serial, ErrorKind kind, std::string detail);
    void fail_now(std::uint64_t token, ErrorKind kind, std::string detail);

    std::optional<util::IpAddr> source_[2];  ///< [0] IPv4, [1] IPv6
    int ep_ = -1;
    int wake_fd_ = -1;
    int icmp_fd_[2] = {-1, -1};  ///< [0] IPv4, [1] IPv6
    std::uint16_t icmp_ident_ = 0;
    std::uint16_t icmp_seq_ = 0;
    std::unordered_map<std::uint32_t, std::uint64_t> icmp_wait_;  ///< family<<16|seq -> serial
    std::vector<ProbeResult> ready_;
    std::unique_ptr<detail::HttpProbes> http_;
    /// Runners of plug-in kinds, created at their kind's first probe; index = tag bits 32..47.
    std::vector<std::pair<const ProbeKind*, std::unique_ptr<ProbeRunner>>> runners_;
    ProbeRunner& runner_for(const ProbeKind* kind);
    std::uint64_t next_serial_ = 1;
    std::unordered_map<std::uint64_t, std::unique_ptr<Own>> own_;
    using Deadline = std::pair<SteadyClock::time_point, std::uint64_t>;
    std::priority_queue<Deadline, std::vector<Deadline>, std::greater<>> deadlines_;
    std::array<epoll_event, 256> events_{};
    int nevents_ = 0;
    util::Rng rng_;
};

}  // namespace gslbd::health
