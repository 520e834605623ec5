#pragma once
/// RCU publication of snapshots (liburcu QSBR flavour).
///
/// Readers (workers) must be registered RCU threads (RcuThread) and must report a
/// quiescent state between bursts (RcuThread::quiescent) or go offline while they block.
/// The control side publishes a new snapshot and frees the old one after a grace period.
#include <atomic>
#include <memory>

#include "gslb/snapshot.hh"

namespace gslbd::gslb {

class SnapshotHolder {
public:
    SnapshotHolder() = default;
    ~SnapshotHolder();
    SnapshotHolder(const SnapshotHolder&) = delete;
    SnapshotHolder& operator=(const SnapshotHolder&) = delete;

    /// Worker side, inside an online RCU section: the current snapshot (never null after
    /// the first publish). Valid until the caller's next quiescent state.
    const Snapshot* current() const noexcept;
    /// Control side: installs `next`, waits for a grace period, frees the previous one.
    /// Must not be called from a registered, online reader thread.
    void publish(std::unique_ptr<const Snapshot> next);
    /// Control side: the current snapshot without RCU (only the publisher thread may do this).
    const Snapshot* current_for_writer() const noexcept;

private:
    std::atomic<const Snapshot*> ptr_{nullptr};
};

/// RAII registration of the calling thread as an RCU reader (online after construction).
class RcuThread {
public:
    RcuThread();
    ~RcuThread();
    RcuThread(const RcuThread&) = delete;
    RcuThread& operator=(const RcuThread&) = delete;
    /// Announce that no snapshot pointer is held any more (once per loop iteration).
    static void quiescent() noexcept;
    /// Around blocking calls: a thread offline does not hold back grace periods.
    static void offline() noexcept;
    static void online() noexcept;
};

}  // namespace gslbd::gslb
