#pragma once
/// DNS over TCP (RFC 7766) on the control side: one thread, epoll, non-blocking sockets,
/// two-byte length framing, pipelined queries, idle timeout, connection limit.
#include <atomic>
#include <chrono>
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

struct TcpOptions {
    std::chrono::milliseconds idle_timeout{10000};
    unsigned max_connections = 1024;
    /// Stop reading from a connection while this many response bytes wait to be sent
    /// (a client that pipelines but never reads cannot make us buffer without bound).
    std::size_t max_pending_output = 256 * 1024;
};

struct TcpStats {
    std::uint64_t accepted = 0;   ///< connections taken into service
    std::uint64_t rejected = 0;   ///< accepted and closed at once: over max_connections
    std::uint64_t timed_out = 0;  ///< closed by the idle timeout
    std::uint64_t closed = 0;     ///< every close, any reason
    std::uint64_t active = 0;     ///< open now
    pipeline::Counters dns;
    cache::Counters cache;
};

/// An io::Backend of its own: it serves next to either UDP backend (with DPDK, TCP reaches
/// it through the exception path and the kernel).
class TcpServer final : public Backend {
  public:
    /// Opens, binds and listens on every listener now. Throws std::runtime_error naming
    /// the address on failure. `holder` must outlive the server.
    TcpServer(const gslb::SnapshotHolder& holder, const std::vector<config::Listener>& listeners,
              const TcpOptions& opts);
    ~TcpServer() override;  ///< stops, joins, closes every connection
    TcpServer(const TcpServer&) = delete;
    TcpServer& operator=(const TcpServer&) = delete;

    void start() override;
    /// Idempotent; the thread notices within ~100 ms.
    void stop() override;
    /// "TCP: 127.0.0.1:53, [::1]:53"
    std::string describe() const override;
    /// tcp counters, cache counters, tcp_* connection counters.
    void collect(Stats& into) const override;
    std::string summary() const override;
    TcpStats stats() const noexcept;

  private:
    struct Conn;
    struct State;
    void run() noexcept;

    const gslb::SnapshotHolder& holder_;
    TcpOptions opts_;
    std::string listeners_;  ///< for describe()
    std::atomic<bool> stop_{false};
    std::vector<int> listen_fds_;
    int epfd_ = -1;
    std::unique_ptr<pipeline::Pipeline> pipeline_;
    Counter accepted_, rejected_, timed_out_, closed_, active_;
    std::thread thread_;
};

}  // namespace gslbd::io
