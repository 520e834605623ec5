#pragma once
/// One DPDK worker: one RX/TX queue pair of a port (plus the matching queue pair of the
/// port's exception device), its own Pipeline, its own counters. Run to completion:
/// rx burst -> FrameProcessor -> tx burst, then kernel frames from the exception device
/// out through the port. No allocation, lock or syscall per packet.
#include <atomic>
#include <cstdint>

#include "gslb/publish.hh"
#include "io/dpdk/packet.hh"
#include "pipeline/pipeline.hh"

struct rte_mbuf;

namespace gslbd::io::dpdk {

inline constexpr std::uint16_t kNoPort = 0xffff;

/// Which queues a worker owns and how the port behaves.
struct QueueBinding {
    std::uint16_t port = 0, queue = 0;
    std::uint16_t exc_port = kNoPort;  ///< exception device, kNoPort = none
    std::uint16_t exc_queue = 0;
    std::uint16_t mtu = 1500;
    bool cksum_offload = false;  ///< the port does IPv4 + UDP checksums on TX
};

class Worker {
  public:
    static constexpr unsigned kBurst = 32;
    /// TX attempts for a burst before the rest is dropped (counted), so a stuck queue
    /// can never stall the worker.
    static constexpr unsigned kTxRetries = 4;

    /// `addrs` and `holder` must outlive the worker. The cache is sized from the snapshot
    /// current now (Pipeline's rule: call on the publishing thread).
    Worker(const gslb::SnapshotHolder& holder, const PortAddresses& addrs, const QueueBinding& q,
           std::uint64_t seed);
    /// Same, with the cache sized explicitly (pipeline::Pipeline's sizes): callable on any
    /// thread, e.g. on the worker's own lcore so that its memory is first touched there and
    /// lands on the lcore's NUMA node.
    Worker(const gslb::SnapshotHolder& holder, const PortAddresses& addrs, const QueueBinding& q,
           std::uint64_t seed, std::size_t cache_entries, std::size_t entry_bytes);
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    /// One loop iteration (no RCU bookkeeping): returns frames handled (0 = idle poll).
    /// The calling thread must be an online RCU reader.
    unsigned poll() noexcept;
    /// The lcore loop: registers as RCU reader, polls until `stop`, reports a quiescent
    /// state every iteration and accounts busy/idle polls and TSC cycles.
    void run(const std::atomic<bool>& stop) noexcept;

    const QueueBinding& binding() const noexcept { return q_; }
    /// Racy but tear-free copy of the counters, pipeline and cache included (any thread).
    WorkerStats stats() const noexcept;

  private:
    void send(std::uint16_t port, std::uint16_t queue, rte_mbuf** pkts, unsigned n,
              DropReason on_full) noexcept;
    /// Advances the pipeline's cache clock from the TSC (one rdtsc and a compare per
    /// non-empty burst; no clock syscall or vDSO call per packet).
    void tick_clock() noexcept;
    void start_clock() noexcept;

    QueueBinding q_;
    pipeline::Pipeline pipe_;
    WorkerCounters counters_;
    FrameProcessor proc_;
    std::uint64_t tsc_hz_;
    std::uint64_t next_second_tsc_ = 0;  ///< TSC at which clock_seconds_ advances
    std::uint32_t clock_seconds_ = 0;
};

}  // namespace gslbd::io::dpdk
