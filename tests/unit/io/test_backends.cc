#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <thread>

#include "../gslb/fixture.hh"
#include "io/backends.hh"

using namespace gslbd;

namespace {

// A port free on 127.0.0.1 for both UDP and TCP a moment ago (the kernel picks it).
std::uint16_t free_port() {
    for (int attempt = 0; attempt < 20; ++attempt) {
        const int u = ::socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof sa;
        ::bind(u, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
        ::getsockname(u, reinterpret_cast<sockaddr*>(&sa), &len);
        const int t = ::socket(AF_INET, SOCK_STREAM, 0);
        const bool tcp_free = ::bind(t, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
        ::close(t);
        ::close(u);
        if (tcp_free) return ntohs(sa.sin_port);
    }
    FAIL("no free port");
    return 0;
}

std::vector<std::uint8_t> query_aaaa() {
    std::vector<std::uint8_t> p = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
    const auto n = testdns::encode_name("www.example.com.");
    p.insert(p.end(), n.begin(), n.end());
    p.insert(p.end(), {0, 28, 0, 1});
    return p;
}

config::Config socket_config(std::uint16_t port) {
    config::Config cfg;
    cfg.file = "gslbd.yml";
    cfg.udp = {{fixture::ip("127.0.0.1"), port}};
    cfg.tcp = cfg.udp;
    cfg.workers = 2;
    auto z = fixture::zone("example.com.");
    z.ns.push_back({"ns1.example.com.", {fixture::ip("192.0.2.53")}});
    z.records.push_back(
        fixture::record("www.example.com.", kTestAll,
                        {fixture::backend("192.0.2.10"), fixture::backend("2001:db8::10")}));
    cfg.zones.push_back(z);
    return cfg;
}

std::size_t udp_ask(std::uint16_t port, const std::vector<std::uint8_t>& q) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(port);
    ::sendto(fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    pollfd p{fd, POLLIN, 0};
    std::uint8_t buf[1500];
    ssize_t n = 0;
    if (::poll(&p, 1, 3000) == 1) n = ::recv(fd, buf, sizeof buf, 0);
    ::close(fd);
    return n > 0 ? static_cast<std::size_t>(n) : 0;
}

std::size_t tcp_ask(std::uint16_t port, const std::vector<std::uint8_t>& q) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(port);
    std::size_t got = 0;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
        std::vector<std::uint8_t> framed = {static_cast<std::uint8_t>(q.size() >> 8),
                                            static_cast<std::uint8_t>(q.size())};
        framed.insert(framed.end(), q.begin(), q.end());
        ::send(fd, framed.data(), framed.size(), MSG_NOSIGNAL);
        pollfd p{fd, POLLIN, 0};
        std::uint8_t buf[1500];
        if (::poll(&p, 1, 3000) == 1) {
            const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n > 2) got = static_cast<std::size_t>(n) - 2;
        }
    }
    ::close(fd);
    return got;
}

io::Stats collect(const std::vector<std::unique_ptr<io::Backend>>& backends) {
    io::Stats s;
    for (const auto& b : backends) b->collect(s);
    return s;
}

}  // namespace

TEST_CASE("the socket backends answer and report through one Stats") {
    const std::uint16_t port = free_port();
    const std::string where = "127.0.0.1:" + std::to_string(port);
    auto cfg = std::make_shared<config::Config>(socket_config(port));
    gslb::SnapshotHolder holder;
    auto snap = std::make_unique<gslb::Snapshot>();
    snap->generation = 1;
    snap->topo = gslb::build_topology(cfg, nullptr);
    snap->health = gslb::all_up(*snap->topo);
    holder.publish(std::move(snap));  // no reader yet: nothing to wait for

    auto backends = io::make_backends(holder, *cfg);
    REQUIRE(backends.size() == 2);
    CHECK(backends[0]->describe() == "UDP: " + where + " (2 workers)");
    CHECK(backends[1]->describe() == "TCP: " + where);
    for (const auto& b : backends) b->start();

    const auto q = query_aaaa();
    CHECK(udp_ask(port, q) > q.size());
    CHECK(udp_ask(port, q) > q.size());
    CHECK(tcp_ask(port, q) > q.size());

    // The TCP server counts the connection when its thread gets to it.
    io::Stats s;
    for (int i = 0; i < 100; ++i) {
        s = collect(backends);
        if (s.tcp.responses == 1) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(s.udp.queries == 2);
    CHECK(s.udp.responses == 2);
    CHECK(s.udp.by_qtype[pipeline::qtype_slot(28)] == 2);
    CHECK(s.udp_rx == 2);
    CHECK(s.udp_tx == 2);
    CHECK(s.tcp.queries == 1);
    CHECK(s.tcp.by_qtype[pipeline::qtype_slot(28)] == 1);
    CHECK(s.tcp_accepted == 1);
    // one miss per worker or connection that saw the name, every other query a hit
    CHECK(s.cache.hits + s.cache.misses == 3);
    CHECK(s.cache.inserts == s.cache.misses);
    REQUIRE(s.drops.size() == 2);
    CHECK(s.drops[0] == std::pair<std::string, std::uint64_t>{"udp_send_error", 0});
    CHECK(s.drops[1] == std::pair<std::string, std::uint64_t>{"udp_oversize", 0});
    CHECK(s.workers.empty());

    for (const auto& b : backends) b->stop();
    CHECK(backends[0]->summary() == "UDP: 2 received, 2 sent, 0 send errors");
    CHECK(backends[1]->summary() == "TCP: 1 connections, 0 rejected, 0 timed out, 1 queries");
}

TEST_CASE("a bind failure names the address") {
    const std::uint16_t port = free_port();
    auto cfg = socket_config(port);
    gslb::SnapshotHolder holder;
    auto first = io::make_backends(holder, cfg);
    CHECK_THROWS_WITH(
        io::make_backends(holder, cfg),
        Catch::Contains("127.0.0.1:" + std::to_string(port)) && Catch::Contains("bind"));
}

TEST_CASE("io: dpdk in a build without DPDK is a clear error") {
    if (io::have_dpdk()) return;  // tests/dpdk covers the DPDK backend
    auto cfg = socket_config(free_port());
    cfg.io = config::IoMode::Dpdk;
    gslb::SnapshotHolder holder;
    CHECK_THROWS_WITH(
        io::make_backends(holder, cfg),
        Catch::Contains("gslbd.yml: io: dpdk, but this gslbd was built without DPDK"));
}
