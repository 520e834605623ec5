// The DPDK backend as the factory (lib/io/backends.hh) sees it; a build without libdpdk
// compiles lib/io/no_dpdk.cc instead.
#include "io/backends.hh"
#include "io/dpdk/dataplane.hh"

namespace gslbd::io {

std::unique_ptr<Backend> make_dpdk_backend(const gslb::SnapshotHolder& holder,
                                           const config::Config& cfg) {
    return std::make_unique<dpdk::DpdkServer>(holder, cfg);
}

bool have_dpdk() noexcept {
    return true;
}

}  // namespace gslbd::io
