#pragma once
/// A ProbeRunner for kinds whose client is blocking (a database client library, a script):
/// attempts run on a small pool of threads of their own, never on the prober's loop. The loop
/// side keeps the promise on time: an attempt whose result is not back by its deadline ends
/// as a Timeout at the deadline, whatever its thread is still doing (the job gets the same
/// deadline and should give up by itself; its late result is dropped).
///
/// The pool's threads are detached and share their state with the runner, so destroying the
/// runner (a reload, shutdown) never waits for a job that hangs in a library call.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "health/probe_kind.hh"

namespace gslbd::health {

/// What a job found: ErrorKind::None = up.
struct JobOutcome {
    ErrorKind kind = ErrorKind::None;
    std::string detail;
};

class JobRunner : public ProbeRunner {
  public:
    /// Runs `spec` against `addr` from `source` (nullopt: the kernel's choice); must return by
    /// `deadline` if it can (it runs on a pool thread: it may block, it must not throw).
    using Work = std::function<JobOutcome(const ProbeSpec& spec, const util::IpAddr& addr,
                                          const std::optional<util::IpAddr>& source,
                                          SteadyClock::time_point deadline)>;
    /// `threads` pool threads named `name` (ps/top show them).
    JobRunner(const RunnerContext& ctx, std::string name, std::size_t threads, Work work);
    ~JobRunner() override;

    void start(std::uint64_t token, std::shared_ptr<const ProbeSpec> spec, const util::IpAddr& addr,
               std::chrono::milliseconds timeout) override;
    void process(SteadyClock::time_point now, std::vector<ProbeResult>& out) override;
    std::optional<SteadyClock::time_point> deadline() const override;
    void cancel_all() override;
    std::size_t in_flight() const override { return pending_.size(); }

  private:
    struct Shared;
    struct Pending {
        std::uint64_t token;
        SteadyClock::time_point start;
    };
    std::shared_ptr<Shared> shared_;
    const std::optional<util::IpAddr>* source_;  ///< RunnerContext::source
    std::string name_;                           ///< for messages
    std::size_t threads_;
    std::uint64_t next_serial_ = 1;
    std::unordered_map<std::uint64_t, Pending> pending_;  ///< by serial
    using Deadline = std::pair<SteadyClock::time_point, std::uint64_t>;
    mutable std::priority_queue<Deadline, std::vector<Deadline>, std::greater<>> deadlines_;
};

}  // namespace gslbd::health
