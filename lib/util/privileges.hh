#pragma once
/// Dropping root after start-up (docs/edge.md, "Least privilege"): once the sockets are
/// bound (and the DPDK EAL is up), the daemon runs as an unprivileged user and keeps only
/// the capabilities it still needs. Control side, start-up only.
#include <string>
#include <vector>

namespace gslbd::util {

/// Switches every thread of the process to `user` (and `group`, default: the user's primary
/// group; supplementary groups are cleared) and leaves the calling thread, and the threads
/// it starts afterwards, with exactly `keep` (CAP_* numbers) as permitted and effective
/// capabilities; every other capability leaves the bounding set too. Threads that already
/// run lose all capabilities (setuid does that to them). Throws std::runtime_error with the
/// reason when the user or group is unknown or the kernel refuses a step. A process that
/// is not root logs nothing and changes nothing when it already runs as `user`; otherwise
/// it throws.
void drop_privileges(const std::string& user, const std::string& group,
                     const std::vector<int>& keep);

}  // namespace gslbd::util
