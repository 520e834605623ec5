#pragma once
/// Snapshots from a config built in code, published the way the daemon does it: for the tests
/// that run queries through a Pipeline (tests/unit/pipeline, tests/unit/cache).
#include <memory>
#include <thread>
#include <utility>

#include "config/model.hh"
#include "geo/geo.hh"
#include "gslb/publish.hh"
#include "gslb/snapshot.hh"

namespace fixture {

using namespace gslbd;

/// This (the test) thread's RCU reader registration, made once.
inline gslb::RcuThread& rcu_reader() {
    static gslb::RcuThread t;
    return t;
}

/// Generation `gen` of `cfg` (geo databases loaded as the config names them), every backend up
/// unless `health` is given.
inline std::unique_ptr<const gslb::Snapshot> snapshot_of(std::shared_ptr<config::Config> cfg,
                                                         std::uint64_t gen,
                                                         const gslb::Health* health = nullptr) {
    auto s = std::make_unique<gslb::Snapshot>();
    s->generation = gen;
    auto geo = geo::load_geo(*cfg);
    s->topo = gslb::build_topology(std::move(cfg), std::move(geo));
    s->health = health ? std::make_shared<gslb::Health>(*health) : gslb::all_up(*s->topo);
    return s;
}

/// Publishes from a separate control thread, as the daemon does; this reader goes offline
/// meanwhile so the grace period can complete.
inline void publish(gslb::SnapshotHolder& holder, std::unique_ptr<const gslb::Snapshot> s) {
    rcu_reader();
    gslb::RcuThread::offline();
    std::thread([&] { holder.publish(std::move(s)); }).join();
    gslb::RcuThread::online();
}

}  // namespace fixture
