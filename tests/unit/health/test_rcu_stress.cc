// Publishing health snapshots rapidly while worker-like readers use them. Run under ASan/UBSan
// (build-health-asan) to catch use-after-free; the content checks catch torn reads.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <thread>

#include "gslb/publish.hh"
#include "health/monitor.hh"
#include "helpers.hh"

using namespace gslbd;

TEST_CASE("rcu stress: readers never see a freed or torn health snapshot") {
    constexpr std::size_t kBackends = 257;
    auto topo = std::make_shared<const gslb::Topology>();
    gslb::SnapshotHolder holder;
    auto make = [&](std::uint64_t gen) {
        auto s = std::make_unique<gslb::Snapshot>();
        s->generation = gen;
        s->topo = topo;
        // every byte derived from the generation: a mix of two snapshots is detectable
        std::vector<std::uint8_t> up(kBackends);
        for (std::size_t i = 0; i < kBackends; ++i)
            up[i] = static_cast<std::uint8_t>((gen + i) & 1);
        s->health = std::make_shared<const gslb::Health>(gslb::Health{std::move(up)});
        return std::unique_ptr<const gslb::Snapshot>(std::move(s));
    };
    holder.publish(make(1));

    std::atomic<bool> done{false};
    std::atomic<std::uint64_t> reads{0}, bad{0}, backwards{0};
    std::vector<std::thread> readers;
    for (int r = 0; r < 4; ++r) {
        readers.emplace_back([&] {
            gslb::RcuThread rcu;
            std::uint64_t last = 0;
            while (!done.load(std::memory_order_relaxed)) {
                const gslb::Snapshot* s = holder.current();
                const auto& up = s->health->up;
                std::uint64_t gen = s->generation;
                if (up.size() != kBackends) ++bad;
                for (std::size_t i = 0; i < up.size(); ++i) {
                    if (up[i] != ((gen + i) & 1)) {
                        ++bad;
                        break;
                    }
                }
                if (gen < last) ++backwards;
                last = gen;
                ++reads;
                gslb::RcuThread::quiescent();
            }
            gslb::RcuThread::offline();
        });
    }
    std::uint64_t gen = 1;
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
    while (std::chrono::steady_clock::now() < end) holder.publish(make(++gen));
    done = true;
    for (auto& t : readers) t.join();
    CHECK(gen > 20);  // each publish waits for a grace period
    CHECK(reads.load() > 1000);
    CHECK(bad.load() == 0);
    CHECK(backwards.load() == 0);
}

TEST_CASE("rcu stress: monitor publishes through SnapshotHolder while readers read") {
    // The monitor's PublishFn wired the way the daemon does it; reloads and readers race.
    testh::TopoBuilder tb;
    auto& r = tb.record("www.example.com.", 50, 40);
    for (int i = 0; i < 50; ++i)
        tb.backend(r, fmt::format("127.0.3.{}", i + 1), {testh::check("tcp", 9)});
    auto topo1 = tb.build();
    tb.backend(r, "127.0.3.200");
    auto topo2 = tb.build();

    gslb::SnapshotHolder holder;
    std::atomic<std::uint64_t> generation{0};
    health::Options o;
    o.default_fall = 1;
    std::mutex publish_mu;  // the monitor thread and set_topology's caller both publish
    auto publish = [&](auto t, auto h) {
        std::lock_guard lk(publish_mu);
        auto s = std::make_unique<gslb::Snapshot>();
        s->generation = ++generation;
        s->topo = std::move(t);
        s->health = std::move(h);
        holder.publish(std::move(s));
    };
    health::Monitor mon(o, publish);
    publish(topo1, mon.set_topology(topo1));
    mon.start();
    std::atomic<bool> done{false};
    std::atomic<std::uint64_t> bad{0}, reads{0};
    std::vector<std::thread> readers;
    for (int i = 0; i < 3; ++i) {
        readers.emplace_back([&] {
            gslb::RcuThread rcu;
            while (!done.load(std::memory_order_relaxed)) {
                const gslb::Snapshot* s = holder.current();
                if (s->health->up.size() != s->topo->backend_count) ++bad;
                for (const auto& rec : s->topo->records) {
                    for (const auto& b : rec.v4) (void)s->backend_up(b);
                }
                ++reads;
                gslb::RcuThread::quiescent();
            }
            gslb::RcuThread::offline();
        });
    }
    for (int i = 0; i < 100; ++i) {
        const auto& t = i % 2 ? topo1 : topo2;
        publish(t, mon.set_topology(t));
        std::this_thread::sleep_for(std::chrono::milliseconds(3));
    }
    publish(topo2, mon.set_topology(topo2));
    // port 9 on 127.0.3.x is closed: every probed backend goes down (fall 1); only the
    // unchecked one stays up
    CHECK(testh::wait_for([&] { return mon.counters().backends_up == 1; }));
    done = true;
    for (auto& t : readers) t.join();
    mon.stop();
    CHECK(bad.load() == 0);
    CHECK(reads.load() > 0);
    CHECK(generation.load() >= 102);
    const gslb::Snapshot* last = holder.current_for_writer();
    CHECK(last->topo == topo2);  // the newest state won: nothing older was published after it
    CHECK(last->health->up.size() == 51);
}
