// ctl::Control on its own (no API, no workers): what a reload publishes.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include "ctl/control.hh"
#include "gslb/publish.hh"
#include "health/monitor.hh"

namespace {

using namespace gslbd;
using namespace std::chrono_literals;

/// A main file and a zone file in a fresh temporary directory, removed at the end.
struct ConfigDir {
    std::filesystem::path dir;
    ConfigDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "gslbd-ctl-XXXXXX").string();
        REQUIRE(mkdtemp(tmpl.data()) != nullptr);
        dir = tmpl;
        std::ofstream(dir / "gslbd.yml") << "listen:\n  - 127.0.0.1\n"
                                            "zones:\n  - name: test.\n    policy: zone.yml\n"
                                            "    ns:\n      - name: ns1.test.\n"
                                            "        addresses: [127.0.0.1]\n";
    }
    ~ConfigDir() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
    std::string main() const { return (dir / "gslbd.yml").string(); }
    /// www.test. with a probed backend on a closed port and `extra` more unprobed ones.
    void zone(int extra) const {
        std::ofstream z(dir / "zone.yml");
        z << "records:\n  www.test.:\n    mode: failover\n    scrape_interval: 100ms\n"
             "    scrape_timeout: 50ms\n    backends:\n"
             "      - address: \"127.0.4.1\"\n        healthchecks:\n"
             "          - type: tcp\n            params:\n              port: 9\n";
        for (int i = 0; i < extra; ++i) z << "      - address: \"192.0.2." << i + 1 << "\"\n";
    }
};

bool wait_for(const std::function<bool()>& pred) {
    const auto end = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(10ms);
    }
    return pred();
}

}  // namespace

TEST_CASE(
    "control: without a monitor a reload publishes every backend up, as the next "
    "generation") {
    ConfigDir d;
    d.zone(1);
    gslb::SnapshotHolder holder;
    ctl::Control c(d.main(), holder, "");
    CHECK(c.current().generation == 0);
    CHECK(c.current().topo == nullptr);
    REQUIRE(c.reload("test").ok);
    const gslb::Snapshot first = c.current();
    CHECK(first.generation == 1);
    CHECK(first.health->up == std::vector<std::uint8_t>{1, 1});
    CHECK(holder.current()->generation == 1);

    d.zone(2);
    const ctl::ReloadResult r = c.reload("test");
    REQUIRE(r.ok);
    CHECK(r.generation == 2);
    CHECK(c.current().topo != first.topo);
    CHECK(c.current().health->up == std::vector<std::uint8_t>{1, 1, 1});
    CHECK(c.reload_counters().ok == 2);
}

TEST_CASE("control: a reload publishes the monitor's verdicts for the new topology") {
    ConfigDir d;
    d.zone(1);
    gslb::SnapshotHolder holder;
    ctl::Control c(d.main(), holder, "");
    health::Options o;
    o.default_fall = 1;
    health::Monitor m(o, [&c](auto t, auto h) { c.publish(std::move(t), std::move(h)); });
    c.attach(m);
    REQUIRE(c.reload("start").ok);
    CHECK(c.current().generation == 1);
    CHECK(c.current().health->up == std::vector<std::uint8_t>{1, 1});  // assumed healthy
    m.start();
    // port 9 on 127.0.4.1 is closed: down after one failed round, published by the monitor
    REQUIRE(wait_for([&] { return c.current().health->up[0] == 0; }));
    const std::uint64_t before = c.current().generation;
    CHECK(before >= 2);

    d.zone(2);
    const ctl::ReloadResult r = c.reload("test");
    REQUIRE(r.ok);
    const gslb::Snapshot now = c.current();
    CHECK(r.generation > before);
    CHECK(now.generation >= r.generation);
    CHECK(now.topo->backend_count == 3);
    // the verdict carried over: no fresh start-up period for a backend that still exists
    CHECK(now.health->up == std::vector<std::uint8_t>{0, 1, 1});
    m.stop();  // no more publishes: the holder is safe to read from this (non-RCU) thread
    CHECK(holder.current()->generation == c.current().generation);
}
