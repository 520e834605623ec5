#pragma once
/// Which I/O backends this build has, and the ones a configuration asks for. The build
/// decides what exists (meson compiles the DPDK backend, or a stand-in that refuses, into
/// gslbd_io_backends); the configuration's `io` picks one.
#include <memory>
#include <vector>

#include "config/model.hh"
#include "gslb/publish.hh"
#include "io/backend.hh"

namespace gslbd::io {

/// The backends `cfg` asks for, constructed (sockets bound, ports started, not yet serving)
/// in the order they must come up: the UDP data plane (kernel sockets, or DPDK for `io:
/// dpdk`, whose exception devices get their kernel addresses first), then the TCP server.
/// `holder` must outlive them. Throws std::runtime_error: bind failures, DPDK set-up, or
/// "FILE: io: dpdk, but this gslbd was built without DPDK ..." in a build without it.
std::vector<std::unique_ptr<Backend>> make_backends(const gslb::SnapshotHolder& holder,
                                                    const config::Config& cfg);

/// The DPDK backend for `cfg` (lib/io/dpdk), or the error above when the build has none.
std::unique_ptr<Backend> make_dpdk_backend(const gslb::SnapshotHolder& holder,
                                           const config::Config& cfg);

/// True when this build has the DPDK backend.
bool have_dpdk() noexcept;

}  // namespace gslbd::io
