#pragma once
/// The I/O backend interface: what the daemon starts, stops, describes and asks for
/// statistics, whatever moves the packets (kernel UDP sockets, the TCP server, DPDK).
/// Every backend hands messages to pipeline::Pipeline::handle() and sums its own workers'
/// counters into one Stats when asked; nothing else in the process keeps a list of them.
///
/// Control side only: construction, start, stop, describe and collect may allocate, lock
/// and throw (std::runtime_error with a message an operator can act on).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cache/cache.hh"
#include "pipeline/pipeline.hh"

namespace gslbd::io {

/// One data plane worker, for the per-worker series.
struct WorkerSample {
    std::string kind;  ///< "udp" or "dpdk"
    unsigned index = 0;
    std::uint64_t packets = 0;  ///< received
    bool has_cycles = false;    ///< DPDK: busy/idle TSC cycles are known
    std::uint64_t busy_cycles = 0, idle_cycles = 0;
};

/// What the backends report, summed over their workers (the /metrics data plane part).
/// Backends add into it, so one Stats collects every backend of the process.
struct Stats {
    pipeline::Counters udp, tcp;  ///< pipeline counters by transport (DPDK counts as udp)
    cache::Counters cache;        ///< every worker's response cache, all transports
    edge::Counters edge;          ///< ACL, RRL and cookie counters, all transports
    std::uint64_t udp_rx = 0, udp_tx = 0;
    std::uint64_t tcp_accepted = 0, tcp_rejected = 0, tcp_timed_out = 0, tcp_closed = 0,
                  tcp_active = 0;
    /// drops outside the pipeline, by reason ("udp_send_error", "dpdk_tx_full", ...)
    std::vector<std::pair<std::string, std::uint64_t>> drops;
    std::vector<WorkerSample> workers;
};

class Backend {
  public:
    virtual ~Backend() = default;  ///< stops (as stop()) and releases everything

    /// Starts the workers (once). Everything that can fail at start-up (bind, port set-up)
    /// already happened in the constructor.
    virtual void start() = 0;
    /// Stops the workers and waits for them. Idempotent.
    virtual void stop() = 0;
    /// One line for the start-up log, naming the backend first ("UDP: 127.0.0.1:53 (2
    /// workers)", "DPDK: port 0 ...").
    virtual std::string describe() const = 0;
    /// Adds this backend's counters into `into`, read without locks while the workers run
    /// (values may be a few packets stale). Any thread.
    virtual void collect(Stats& into) const = 0;
    /// One line of totals for the shutdown log ("UDP: 10 received, 10 sent, 0 send errors").
    virtual std::string summary() const = 0;
};

}  // namespace gslbd::io
