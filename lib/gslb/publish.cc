#include "gslb/publish.hh"

#include <urcu-qsbr.h>

namespace gslbd::gslb {

SnapshotHolder::~SnapshotHolder() { delete ptr_.load(std::memory_order_acquire); }

const Snapshot* SnapshotHolder::current() const noexcept {
    // rcu_dereference on a std::atomic: a consume-ordered load is exactly that.
    return ptr_.load(std::memory_order_acquire);
}

const Snapshot* SnapshotHolder::current_for_writer() const noexcept {
    return ptr_.load(std::memory_order_acquire);
}

void SnapshotHolder::publish(std::unique_ptr<const Snapshot> next) {
    const Snapshot* old = ptr_.exchange(next.release(), std::memory_order_acq_rel);
    if (old != nullptr) {
        // Every reader that could hold `old` passes a quiescent state (or is offline)
        // before this returns; then nobody can see it any more.
        synchronize_rcu();
        delete old;
    }
}

RcuThread::RcuThread() { rcu_register_thread(); }
RcuThread::~RcuThread() { rcu_unregister_thread(); }
void RcuThread::quiescent() noexcept { rcu_quiescent_state(); }
void RcuThread::offline() noexcept { rcu_thread_offline(); }
void RcuThread::online() noexcept { rcu_thread_online(); }

}  // namespace gslbd::gslb
