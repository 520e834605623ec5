// The DPDK backend of a build without libdpdk (meson compiles this instead of
// lib/io/dpdk/backend.cc): a config that asks for it gets a clear error.
#include <stdexcept>

#include "io/backends.hh"

namespace gslbd::io {

std::unique_ptr<Backend> make_dpdk_backend(const gslb::SnapshotHolder&, const config::Config& cfg) {
    throw std::runtime_error(cfg.file +
                             ": io: dpdk, but this gslbd was built without DPDK (install "
                             "libdpdk-dev, meson setup -Ddpdk=enabled)");
}

bool have_dpdk() noexcept {
    return false;
}

}  // namespace gslbd::io
