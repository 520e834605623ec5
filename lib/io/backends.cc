#include "io/backends.hh"

#include "io/socket/tcp.hh"
#include "io/socket/udp.hh"

namespace gslbd::io {

std::vector<std::unique_ptr<Backend>> make_backends(const gslb::SnapshotHolder& holder,
                                                    const config::Config& cfg) {
    std::vector<std::unique_ptr<Backend>> b;
    // DPDK first: its exception devices must hold their kernel addresses before the TCP
    // listeners bind to them.
    if (cfg.io == config::IoMode::Dpdk)
        b.push_back(make_dpdk_backend(holder, cfg));
    else
        b.push_back(std::make_unique<UdpServer>(holder, cfg.udp, cfg.workers));
    b.push_back(std::make_unique<TcpServer>(
        holder, cfg.tcp, TcpOptions{cfg.tcp_idle_timeout, cfg.tcp_max_connections}));
    return b;
}

}  // namespace gslbd::io
