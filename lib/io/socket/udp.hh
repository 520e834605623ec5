#pragma once
/// UDP DNS over kernel sockets: N worker threads, each with its own SO_REUSEPORT socket
/// per listener, recvmmsg/sendmmsg bursts, its own Pipeline and RCU registration.
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <thread>
#include <vector>

#include "config/model.hh"
#include "gslb/publish.hh"
#include "io/socket/counter.hh"
#include "pipeline/pipeline.hh"

namespace gslbd::io {

/// Totals over every UDP worker.
struct UdpStats {
    std::uint64_t rx_packets = 0;    ///< datagrams received
    std::uint64_t tx_packets = 0;    ///< responses handed to the kernel
    std::uint64_t tx_errors = 0;     ///< responses the kernel refused (dropped)
    std::uint64_t rx_truncated = 0;  ///< datagrams larger than our receive buffer (dropped)
    pipeline::Counters dns;          ///< summed pipeline counters
};

class UdpServer {
  public:
    /// Datagrams per recvmmsg/sendmmsg call.
    static constexpr unsigned kBurst = 32;

    /// Opens and binds every worker's sockets now, so a bad address fails at start-up.
    /// Throws std::runtime_error naming the address ("UDP 127.0.0.1:53: bind: ...").
    /// `holder` must outlive the server.
    UdpServer(const gslb::SnapshotHolder& holder, const std::vector<config::Listener>& listeners,
              unsigned workers);
    ~UdpServer();  ///< stops and joins
    UdpServer(const UdpServer&) = delete;
    UdpServer& operator=(const UdpServer&) = delete;

    /// Starts the worker threads (once).
    void start();
    /// Asks the workers to stop and joins them; they notice within ~100 ms. Idempotent.
    void stop();

    unsigned workers() const noexcept { return static_cast<unsigned>(workers_.size()); }
    /// Sums per-worker counters without locking (values may be a few packets stale).
    UdpStats stats() const noexcept;

  private:
    struct Worker;
    void run(Worker& w) noexcept;

    const gslb::SnapshotHolder& holder_;
    std::atomic<bool> stop_{false};
    std::vector<std::unique_ptr<Worker>> workers_;
    std::vector<std::thread> threads_;
};

}  // namespace gslbd::io
