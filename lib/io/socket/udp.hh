#pragma once
/// UDP DNS over kernel sockets: N worker threads, each with its own SO_REUSEPORT socket
/// per listener, recvmmsg/sendmmsg bursts, its own Pipeline and RCU registration.
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "config/model.hh"
#include "gslb/publish.hh"
#include "io/backend.hh"
#include "io/counter.hh"
#include "pipeline/pipeline.hh"

namespace gslbd::io {

/// Totals over every UDP worker.
struct UdpStats {
    std::uint64_t rx_packets = 0;    ///< datagrams received
    std::uint64_t tx_packets = 0;    ///< responses handed to the kernel
    std::uint64_t tx_errors = 0;     ///< responses the kernel refused (dropped)
    std::uint64_t rx_truncated = 0;  ///< datagrams larger than our receive buffer (dropped)
    pipeline::Counters dns;          ///< summed pipeline counters
    cache::Counters cache;           ///< summed response cache counters
    edge::Counters edge;             ///< summed edge protection counters
};

/// The socket backend's UDP half (io::Backend; the TCP server is the other backend).
class UdpServer final : public Backend {
  public:
    /// Datagrams per recvmmsg/sendmmsg call.
    static constexpr unsigned kBurst = 32;

    /// Opens and binds every worker's sockets now, so a bad address fails at start-up.
    /// Throws std::runtime_error naming the address ("UDP 127.0.0.1:53: bind: ...").
    /// `holder` must outlive the server.
    UdpServer(const gslb::SnapshotHolder& holder, const std::vector<config::Listener>& listeners,
              unsigned workers);
    ~UdpServer() override;  ///< stops and joins
    UdpServer(const UdpServer&) = delete;
    UdpServer& operator=(const UdpServer&) = delete;

    /// Starts the worker threads (once).
    void start() override;
    /// Asks the workers to stop and joins them; they notice within ~100 ms. Idempotent.
    void stop() override;
    /// "UDP: 127.0.0.1:53, [::1]:53 (2 workers)"
    std::string describe() const override;
    /// udp counters, cache counters, udp_rx/udp_tx, drops udp_send_error and udp_oversize.
    void collect(Stats& into) const override;
    std::string summary() const override;

    unsigned workers() const noexcept { return static_cast<unsigned>(workers_.size()); }
    /// Sums per-worker counters without locking (values may be a few packets stale).
    UdpStats stats() const noexcept;

  private:
    struct Worker;
    void run(Worker& w) noexcept;

    const gslb::SnapshotHolder& holder_;
    std::string listeners_;  ///< for describe()
    std::atomic<bool> stop_{false};
    std::vector<std::unique_ptr<Worker>> workers_;
    std::vector<std::thread> threads_;
};

}  // namespace gslbd::io
