#pragma once
/// The DPDK I/O backend: EAL start-up from the config, port and exception-device set-up,
/// one worker lcore per RX/TX queue pair, per-lcore counters, DPDK telemetry.
///
/// Control side only (everything here may throw std::runtime_error with a message an
/// operator can act on); the per-packet work is in worker.hh / packet.hh.
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/model.hh"
#include "gslb/publish.hh"
#include "io/backend.hh"
#include "io/dpdk/packet.hh"
#include "io/dpdk/worker.hh"

struct rte_mempool;

namespace gslbd::io::dpdk {

/// Starts the EAL once per process with `args` (without argv[0]). Throws when it fails or
/// when the EAL is already running.
void init_eal(const std::vector<std::string>& args);

/// The EAL arguments for `cfg`: its eal_args, then `-a PCI` or `--vdev=STRING` for every
/// port and `--vdev=STRING` for every exception device.
std::vector<std::string> eal_arguments(const config::DpdkConfig& cfg);

/// True for "0000:03:00.0" and "03:00.0" (a PCI address rather than a vdev string).
bool is_pci_address(const std::string& device);

/// The ethdev port of a device string as given in the config (PCI or vdev). Throws when
/// the EAL knows no such port.
std::uint16_t find_port(const std::string& device);

/// What set-up made of a port.
struct PortSetup {
    std::uint16_t port = 0;
    unsigned queues = 1;  ///< queue pairs actually configured
    bool rss = false;     ///< RSS on IP/UDP across the queues
    bool cksum_offload = false;
    std::uint16_t mtu = 1500;
    std::array<std::uint8_t, 6> mac{};
};

/// Configures `port` with `queues` RX/TX queue pairs (fewer when the device has fewer;
/// RSS over IP/UDP when more than one and the device can), mbufs from `pool`, TX
/// checksum offload when `want_offload` and the device has it, and starts it.
/// `what` names the port in errors.
PortSetup setup_port(std::uint16_t port, unsigned queues, rte_mempool* pool, bool want_offload,
                     const std::string& what);

/// Gives the kernel interface of an exception device our addresses (with their prefix
/// lengths), brings it up and turns off IPv6 duplicate address detection on it (the
/// addresses are ours by configuration). Throws naming the interface and address.
void configure_kernel_interface(const std::string& ifname,
                                const std::vector<config::DpdkAddress>& addrs);

/// The running backend (an io::Backend). One per process (the EAL is process-global).
class DpdkServer final : public Backend {
  public:
    /// Starts the EAL, sets up every port and its exception device, builds the workers
    /// (not yet running), each on its own lcore: its pipeline, cache and counters are
    /// allocated and first touched there, so they live on that lcore's NUMA node (as
    /// l3fwd's per-lcore state does). `holder` must outlive the server. Throws
    /// std::runtime_error.
    DpdkServer(const gslb::SnapshotHolder& holder, const config::Config& cfg);
    ~DpdkServer() override;  ///< stops the workers, stops and closes the ports, ends the EAL
    DpdkServer(const DpdkServer&) = delete;
    DpdkServer& operator=(const DpdkServer&) = delete;

    /// Launches one worker per queue pair on the EAL worker lcores and registers the
    /// telemetry commands /gslbd/stats and /gslbd/lcores.
    void start() override;
    /// Idempotent; returns when every worker lcore has finished.
    void stop() override;
    /// "DPDK: port 0 DEVICE mac ..., N queue(s) ..." (one part per port).
    std::string describe() const override;
    /// udp counters and udp_rx/udp_tx (DNS datagrams in, answers out), cache counters,
    /// drops "dpdk_REASON", one worker sample per lcore with its busy/idle cycles.
    void collect(Stats& into) const override;
    /// "DPDK: N received, N sent, N DNS answered, ..."
    std::string summary() const override;

    /// Per-lcore counters (racy but tear-free reads), and their sum.
    std::vector<WorkerStats> worker_stats() const;
    WorkerStats totals() const;
    /// Kernel interfaces of the exception devices (for the TCP listeners, logging).
    const std::vector<std::string>& kernel_interfaces() const noexcept { return kernel_ifs_; }

  private:
    struct Port {
        PortSetup setup;
        std::uint16_t exc_port = kNoPort;
        std::string device, exception;
        PortAddresses addrs;
        rte_mempool* pool = nullptr;
    };
    struct Lane {
        unsigned lcore = 0;
        std::unique_ptr<Worker> worker;
    };
    static int lcore_main(void* arg);

    const gslb::SnapshotHolder& holder_;
    std::vector<std::unique_ptr<Port>> ports_;
    std::vector<Lane> lanes_;
    std::vector<std::string> kernel_ifs_;
    std::atomic<bool> stop_{false};
    bool started_ = false;
};

}  // namespace gslbd::io::dpdk
