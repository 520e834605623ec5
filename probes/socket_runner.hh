#pragma once
/// What the probe kinds on sockets of their own (tcp, dns, icmp) share: attempts in flight
/// keyed by serial, their sockets in the prober's epoll set (tagged RunnerContext::tag | fd),
/// a deadline per attempt, the local source address, and the results waiting for process().
/// A kind derives and implements begin() (open, send, watch) and on_ready() (an event on the
/// attempt's socket). Called only from the prober's thread, like every runner.
#include <cstdint>
#include <memory>
#include <queue>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "health/probe_kind.hh"
#include "util/random.hh"

namespace gslbd::probes {

using health::ErrorKind;
using health::ProbeResult;
using health::ProbeSpec;
using health::SteadyClock;

/// ECONNREFUSED -> Refused, ETIMEDOUT -> Timeout, anything else -> Network.
ErrorKind errno_kind(int e);
/// "<what>: <strerror(e)>".
std::string errno_text(const char* what, int e);

class SocketRunner : public health::ProbeRunner {
  public:
    explicit SocketRunner(const health::RunnerContext& ctx);
    ~SocketRunner() override;  ///< closes the sockets of attempts still in flight

    void start(std::uint64_t token, std::shared_ptr<const ProbeSpec> spec, const util::IpAddr& addr,
               std::chrono::milliseconds timeout) final;
    void on_event(int fd, std::uint32_t events) override;
    void process(SteadyClock::time_point now, std::vector<ProbeResult>& out) override;
    std::optional<SteadyClock::time_point> deadline() const override;
    void cancel_all() override;
    std::size_t in_flight() const override { return live_.size(); }

  protected:
    struct Attempt {
        std::uint64_t serial = 0;
        std::uint64_t token = 0;
        int fd = -1;  ///< the attempt's own socket (closed by finish), -1 for none
        std::shared_ptr<const ProbeSpec> spec;
        util::IpAddr addr;
        SteadyClock::time_point start;
        std::uint16_t dns_id = 0;
        std::vector<std::uint32_t> keys;  ///< icmp: what it waits for (the kind's own index)
    };
    /// Starts `a`; false after fail() (nothing of it left open).
    virtual bool begin(Attempt& a) = 0;
    /// An epoll event on `a.fd`.
    virtual void on_ready(Attempt& a, std::uint32_t events) = 0;
    /// `a` ends (result, timeout or cancel): drop what the kind indexes it by.
    virtual void forget(Attempt& /*a*/) {}

    /// Opens a.fd: a non-blocking socket of `type` connecting to the attempt's address and
    /// port from the configured source (`rst_on_close`: SO_LINGER 0). false after fail().
    bool connect(Attempt& a, int type, bool rst_on_close);
    /// Adds a.fd to the epoll set; false after fail() (a.fd closed).
    bool watch(Attempt& a, std::uint32_t events);
    /// Ends `a` with a result (closes its socket, forgets it).
    void finish(std::uint64_t serial, ErrorKind kind, std::string detail);
    /// A result for `token` without a live attempt (a failure to start).
    void fail(std::uint64_t token, ErrorKind kind, std::string detail);
    Attempt* find(std::uint64_t serial);

    health::RunnerContext ctx_;
    util::Rng rng_;

  private:
    std::uint64_t next_serial_ = 1;
    std::unordered_map<std::uint64_t, std::unique_ptr<Attempt>> live_;
    std::unordered_map<int, std::uint64_t> by_fd_;
    using Deadline = std::pair<SteadyClock::time_point, std::uint64_t>;
    /// entries of finished attempts stay until deadline() or process() reaches them
    mutable std::priority_queue<Deadline, std::vector<Deadline>, std::greater<>> deadlines_;
    std::vector<ProbeResult> ready_;
};

}  // namespace gslbd::probes
