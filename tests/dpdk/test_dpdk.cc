// The DPDK data plane through kernel-free ring ports (net_ring via rte_eth_from_rings):
// frames in on the port -> frames out on the port or on the exception device, byte for
// byte against frames built independently (frames.hh) around answers from a reference
// Pipeline.
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <thread>

#include "../unit/gslb/fixture.hh"
#include "frames.hh"
#include "io/dpdk/dataplane.hh"
#include "io/dpdk/packet.hh"
#include "io/dpdk/worker.hh"
#include "pipeline/pipeline.hh"

using namespace gslbd;
using namespace frames;
using io::dpdk::DropReason;
using io::dpdk::Worker;
using io::dpdk::WorkerStats;
using testdns::Msg;

namespace {

const V4 kOur4 = {198, 18, 0, 1}, kClient4 = {198, 18, 0, 2}, kOther4 = {198, 18, 0, 9};
const V6 kOur6 = {0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
const V6 kClient6 = {0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
const Mac kClientMac = {0x02, 0, 0, 0, 0, 0x02};

std::shared_ptr<config::Config> make_config() {
    using fixture::backend;
    using fixture::record;
    auto cfg = std::make_shared<config::Config>();
    auto z = fixture::zone("example.com.");
    z.ns.push_back({"ns1.example.com.", {fixture::ip("192.0.2.53")}});
    z.records.push_back(
        record("www.example.com.", kTestAll, {backend("192.0.2.10"), backend("2001:db8::10")}));
    z.records.push_back(record(
        "client.example.com.", kTestByClient,
        {backend("192.0.2.32", 32), backend("192.0.2.198", 198), backend("192.0.2.99", 99)}));
    std::vector<config::Backend> many;
    for (int i = 0; i < 40; ++i)
        many.push_back(backend(("192.0.2." + std::to_string(i + 1)).c_str()));
    z.records.push_back(record("many.example.com.", kTestAll, many));
    cfg->zones.push_back(z);
    return cfg;
}

gslb::RcuThread& rcu_reader() {
    static gslb::RcuThread t;
    return t;
}

Bytes query(const std::string& name, std::uint16_t qtype, std::uint16_t id = 0x4242,
            bool edns = false, const Bytes& ecs_addr = {}, std::uint8_t ecs_source = 0) {
    Bytes p;
    put16(p, id);
    put16(p, 0x0100);
    put16(p, 1);
    put16(p, 0);
    put16(p, 0);
    put16(p, edns ? 1 : 0);
    append(p, testdns::encode_name(name));
    put16(p, qtype);
    put16(p, 1);
    if (edns) {
        p.push_back(0);
        put16(p, 41);
        put16(p, 1232);
        put16(p, 0);
        put16(p, 0);
        Bytes rd;
        if (ecs_source) {
            put16(rd, 8);
            put16(rd, static_cast<unsigned>(4 + ecs_addr.size()));
            put16(rd, 1);
            rd.push_back(ecs_source);
            rd.push_back(0);
            append(rd, ecs_addr);
        }
        put16(p, static_cast<unsigned>(rd.size()));
        append(p, rd);
    }
    return p;
}

/// Process-wide: the EAL, an mbuf pool, a ring port and a ring "exception" port.
struct Env {
    rte_mempool* pool = nullptr;
    rte_ring *rx = nullptr, *tx = nullptr, *erx = nullptr, *etx = nullptr;
    io::dpdk::PortSetup ps, es;
    Mac mac = {0x02, 0x00, 0x5e, 0x10, 0x00, 0x01};
    config::DpdkPort port_cfg;
    io::dpdk::PortAddresses addrs;
    gslb::SnapshotHolder holder;
    std::unique_ptr<pipeline::Pipeline> ref;

    Env() {
        // No hugepages, no shared config and a per-process prefix: runs never collide.
        // (--in-memory would do too, but the EAL refuses it together with --no-huge.)
        io::dpdk::init_eal({"--no-huge", "--no-shconf", "--no-pci", "--no-telemetry", "-l", "0",
                            "-m", "128", "--log-level=lib.eal:error",
                            "--file-prefix=gslbd-unit-" + std::to_string(::getpid())});
        pool = rte_pktmbuf_pool_create("unit_pool", 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
        REQUIRE(pool != nullptr);
        auto ring = [](const char* name) {
            rte_ring* r = rte_ring_create(name, 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
            REQUIRE(r != nullptr);
            return r;
        };
        rx = ring("port_rx");
        tx = ring("port_tx");
        erx = ring("exc_rx");
        etx = ring("exc_tx");
        int port = rte_eth_from_rings("net_ring_port", &rx, 1, &tx, 1, 0);
        int eport = rte_eth_from_rings("net_ring_exc", &erx, 1, &etx, 1, 0);
        REQUIRE(port >= 0);
        REQUIRE(eport >= 0);
        ps = io::dpdk::setup_port(static_cast<std::uint16_t>(port), 1, pool, true, "ring port");
        es = io::dpdk::setup_port(static_cast<std::uint16_t>(eport), 1, pool, false, "ring exc");
        // Ring ports have an all-zero MAC and cannot change it: the workers get a real one.
        port_cfg.device = "net_ring_port";
        port_cfg.addresses = {{fixture::ip("198.18.0.1"), 24}, {fixture::ip("2001:2::1"), 64}};
        addrs = io::dpdk::PortAddresses::from_config(port_cfg, 53, mac);

        rcu_reader();
        auto snap = std::make_unique<gslb::Snapshot>();
        snap->generation = 1;
        snap->topo = gslb::build_topology(make_config(), nullptr);
        snap->health = gslb::all_up(*snap->topo);
        gslb::RcuThread::offline();
        std::thread([&] { holder.publish(std::move(snap)); }).join();
        gslb::RcuThread::online();
        ref = std::make_unique<pipeline::Pipeline>(holder, 1);
    }

    io::dpdk::QueueBinding binding(bool with_exception = true) const {
        io::dpdk::QueueBinding b;
        b.port = ps.port;
        b.exc_port = with_exception ? es.port : io::dpdk::kNoPort;
        b.mtu = ps.mtu;
        return b;
    }

    /// What the data plane must put after the headers: the reference pipeline's answer.
    Bytes answer(const Bytes& q, const util::IpAddr& src) {
        Bytes out(1472);
        std::size_t n = ref->handle(q, src, out, false);
        gslb::RcuThread::quiescent();
        out.resize(n);
        return out;
    }
};

Env& env() {
    static Env e;
    return e;
}

struct Out {
    std::vector<Bytes> port, kernel;
};

std::vector<Bytes> drain(rte_ring* r) {
    std::vector<Bytes> v;
    void* p = nullptr;
    while (rte_ring_dequeue(r, &p) == 0) {
        auto* m = static_cast<rte_mbuf*>(p);
        REQUIRE(m->nb_segs == 1);
        REQUIRE(m->pkt_len == m->data_len);
        auto* d = rte_pktmbuf_mtod(m, const std::uint8_t*);
        v.emplace_back(d, d + m->data_len);
        rte_pktmbuf_free(m);
    }
    return v;
}

void inject(rte_ring* r, const Bytes& frame) {
    rte_mbuf* m = rte_pktmbuf_alloc(env().pool);
    REQUIRE(m != nullptr);
    char* d = rte_pktmbuf_append(m, static_cast<std::uint16_t>(frame.size()));
    REQUIRE(d != nullptr);
    std::memcpy(d, frame.data(), frame.size());
    REQUIRE(rte_ring_enqueue(r, m) == 0);
}

Out run(Worker& w, const std::vector<Bytes>& in, const std::vector<Bytes>& from_kernel = {}) {
    for (const auto& f : in) inject(env().rx, f);
    for (const auto& f : from_kernel) inject(env().erx, f);
    for (int i = 0; i < 100 && w.poll() > 0; ++i) gslb::RcuThread::quiescent();
    gslb::RcuThread::quiescent();
    return Out{drain(env().tx), drain(env().etx)};
}

Eth to_us(int vlan = -1) {
    return Eth{env().mac, kClientMac, vlan};
}
Eth to_client(int vlan = -1) {
    return Eth{kClientMac, env().mac, vlan};
}

Bytes udp4_frame(const Bytes& dns, const Eth& e, const Ip4& ip, const Udp& u = {}) {
    return cat(eth(e, 0x0800), ip4(ip, udp4(ip, u, dns)));
}
Bytes udp6_frame(const Bytes& dns, const Eth& e, const Ip6& ip, const Udp& u = {}) {
    return cat(eth(e, 0x86DD), ip6(ip, udp6(ip, u, dns)));
}
Ip4 q4() {
    Ip4 h;
    h.src = kClient4;
    h.dst = kOur4;
    h.id = 0x1234;
    h.frag = 0;
    return h;
}
Ip4 r4() {
    Ip4 h;
    h.src = kOur4;
    h.dst = kClient4;
    return h;  // id 0, DF, TTL 64
}
Udp reply_udp(const Udp& q = {}) {
    Udp u;
    u.sport = q.dport;
    u.dport = q.sport;
    return u;
}
util::IpAddr client4() {
    return fixture::ip("198.18.0.2");
}
util::IpAddr client6() {
    return fixture::ip("2001:2::2");
}

std::uint64_t drops(const WorkerStats& s, DropReason r) {
    return s.drops[static_cast<std::size_t>(r)];
}

std::vector<std::string> addrs_of(const Msg& m) {
    std::vector<std::string> v;
    for (const auto& r : m.answer) v.push_back(r.addr);
    return v;
}

/// The DNS payload of a reply frame (IPv4 without options, or IPv6), decoded.
Msg dns_of(const Bytes& f, std::size_t l2 = 14, bool v6 = false) {
    std::size_t off = l2 + (v6 ? 40 : 20) + 8;
    REQUIRE(f.size() >= off);
    return testdns::decode({f.data() + off, f.size() - off});
}

}  // namespace

TEST_CASE("UDP DNS over IPv4: A, NXDOMAIN, NODATA answered byte for byte", "[dpdk]") {
    Env& e = env();
    Worker w(e.holder, e.addrs, e.binding(), 7);
    struct Case {
        std::string name;
        std::uint16_t qtype;
        unsigned rcode;
        std::size_t answers;
    };
    for (const auto& c : {Case{"www.example.com.", 1, 0, 1}, Case{"nope.example.com.", 1, 3, 0},
                          Case{"www.example.com.", 16, 0, 0}}) {
        INFO(c.name << " type " << c.qtype);
        Bytes q = query(c.name, c.qtype);
        Udp u;
        u.sport = 51000;
        Out out = run(w, {udp4_frame(q, to_us(), q4(), u)});
        REQUIRE(out.port.size() == 1);
        CHECK(out.kernel.empty());
        Bytes dns = e.answer(q, client4());
        REQUIRE(!dns.empty());
        CHECK(out.port[0] == udp4_frame(dns, to_client(), r4(), reply_udp(u)));
        Msg m = dns_of(out.port[0]);
        CHECK(m.id == 0x4242);
        CHECK(m.rcode() == c.rcode);
        CHECK(m.answer.size() == c.answers);
        if (c.answers) CHECK(addrs_of(m) == std::vector<std::string>{"192.0.2.10"});
    }
    WorkerStats s = w.stats();
    CHECK(s.rx == 3);
    CHECK(s.tx == 3);
    CHECK(s.dns == 3);
    CHECK(s.dns_replies == 3);
    CHECK(s.dropped() == 0);
    CHECK(s.pipeline.nxdomain == 1);
    CHECK(s.pipeline.nodata == 1);
}

TEST_CASE("UDP DNS over IPv6: AAAA answered byte for byte", "[dpdk]") {
    Env& e = env();
    Worker w(e.holder, e.addrs, e.binding(), 7);
    Bytes q = query("www.example.com.", 28, 0x0606, true);
    Ip6 h{kClient6, kOur6};
    Out out = run(w, {udp6_frame(q, to_us(), h)});
    REQUIRE(out.port.size() == 1);
    Bytes dns = e.answer(q, client6());
    CHECK(out.port[0] == udp6_frame(dns, to_client(), Ip6{kOur6, kClient6}, reply_udp()));
    Msg m = dns_of(out.port[0], 14, true);
    CHECK(addrs_of(m) == std::vector<std::string>{"2001:db8::10"});
    CHECK(m.opt.present);
}

TEST_CASE("ECS decides and is echoed; TC when the answer does not fit 512 bytes", "[dpdk]") {
    Env& e = env();
    Worker w(e.holder, e.addrs, e.binding(), 7);
    SECTION("ECS") {
        // The source address starts with 198, the ECS address with 32: ECS must win.
        Bytes q = query("client.example.com.", 1, 1, true, {32, 1, 2}, 24);
        Out out = run(w, {udp4_frame(q, to_us(), q4())});
        REQUIRE(out.port.size() == 1);
        CHECK(out.port[0] == udp4_frame(e.answer(q, client4()), to_client(), r4(), reply_udp()));
        Msg m = dns_of(out.port[0]);
        CHECK(addrs_of(m) == std::vector<std::string>{"192.0.2.32"});
        REQUIRE(m.opt.ecs);
        CHECK(m.opt.ecs_scope == 8);
        CHECK(w.stats().pipeline.ecs_used == 1);
        // without ECS the source address decides
        q = query("client.example.com.", 1, 2, true);
        out = run(w, {udp4_frame(q, to_us(), q4())});
        REQUIRE(out.port.size() == 1);
        CHECK(addrs_of(dns_of(out.port[0])) == std::vector<std::string>{"192.0.2.198"});
    }
    SECTION("TC") {
        Bytes q = query("many.example.com.", 1);
        Out out = run(w, {udp4_frame(q, to_us(), q4())});
        REQUIRE(out.port.size() == 1);
        CHECK(out.port[0] == udp4_frame(e.answer(q, client4()), to_client(), r4(), reply_udp()));
        Msg m = dns_of(out.port[0]);
        CHECK(m.tc());
        CHECK(out.port[0].size() - 42 <= 512);
        CHECK(w.stats().pipeline.truncated == 1);
    }
}

TEST_CASE("VLAN-tagged queries and IPv4 options", "[dpdk]") {
    Env& e = env();
    Worker w(e.holder, e.addrs, e.binding(), 7);
    Bytes q = query("www.example.com.", 1);
    SECTION("the 802.1Q tag is kept on the reply") {
        Out out = run(w, {udp4_frame(q, to_us(0x0064), q4())});
        REQUIRE(out.port.size() == 1);
        CHECK(out.port[0] ==
              udp4_frame(e.answer(q, client4()), to_client(0x0064), r4(), reply_udp()));
        Msg m = dns_of(out.port[0], 18);
        CHECK(addrs_of(m) == std::vector<std::string>{"192.0.2.10"});
    }
    SECTION("a query with IPv4 options is answered without them") {
        Ip4 h = q4();
        h.options = {0x94, 0x04, 0x00, 0x00};  // router alert
        Out out = run(w, {udp4_frame(q, to_us(), h)});
        REQUIRE(out.port.size() == 1);
        CHECK(out.port[0] == udp4_frame(e.answer(q, client4()), to_client(), r4(), reply_udp()));
        CHECK(w.stats().ipv4_options == 1);
    }
    SECTION("a burst larger than one rx burst is answered completely") {
        std::vector<Bytes> in;
        for (int i = 0; i < 70; ++i) {
            Udp u;
            u.sport = static_cast<std::uint16_t>(30000 + i);
            in.push_back(udp4_frame(query("www.example.com.", 1, static_cast<std::uint16_t>(i)),
                                    to_us(), q4(), u));
        }
        Out out = run(w, in);
        REQUIRE(out.port.size() == 70);
        for (int i = 0; i < 70; ++i) CHECK(dns_of(out.port[i]).id == static_cast<unsigned>(i));
        CHECK(w.stats().tx == 70);
    }
}

TEST_CASE("ARP, neighbour discovery and echo are answered", "[dpdk]") {
    Env& e = env();
    Worker w(e.holder, e.addrs, e.binding(), 7);
    const Mac bcast = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    const Mac zero{};
    SECTION("ARP request for our address") {
        Bytes req =
            cat(eth({bcast, kClientMac}, 0x0806), arp(1, kClientMac, kClient4, zero, kOur4));
        req.resize(60, 0);  // minimum frame with padding, as on the wire
        Out out = run(w, {req});
        REQUIRE(out.port.size() == 1);
        Bytes want = cat(eth(to_client(), 0x0806), arp(2, e.mac, kOur4, kClientMac, kClient4));
        want.resize(60, 0);
        CHECK(out.port[0] == want);
        CHECK(w.stats().arp_replies == 1);
    }
    SECTION("ARP for another address and ARP replies go to the kernel") {
        Bytes other =
            cat(eth({bcast, kClientMac}, 0x0806), arp(1, kClientMac, kClient4, zero, kOther4));
        Bytes reply = cat(eth(to_us(), 0x0806), arp(2, kClientMac, kClient4, e.mac, kOur4));
        Out out = run(w, {other, reply});
        CHECK(out.port.empty());
        REQUIRE(out.kernel.size() == 2);
        CHECK(out.kernel[0] == other);
        CHECK(out.kernel[1] == reply);
    }
    SECTION("neighbour solicitation for our address -> advertisement") {
        const V6 snm = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 1};
        Ip6 h{kClient6, snm, 58, 255};
        Bytes ns = {135, 0, 0, 0, 0, 0, 0, 0};
        append(ns, kOur6);
        ns.insert(ns.end(), {1, 1});
        append(ns, kClientMac);
        Bytes frame =
            cat(eth({{0x33, 0x33, 0xff, 0, 0, 1}, kClientMac}, 0x86DD), ip6(h, icmp6(h, ns)));
        Out out = run(w, {frame});
        REQUIRE(out.port.size() == 1);
        Ip6 rh{kOur6, kClient6, 58, 255};
        Bytes na = {136, 0, 0, 0, 0x60, 0, 0, 0};
        append(na, kOur6);
        na.insert(na.end(), {2, 1});
        append(na, e.mac);
        CHECK(out.port[0] == cat(eth(to_client(), 0x86DD), ip6(rh, icmp6(rh, na))));
        CHECK(w.stats().nd_replies == 1);
    }
    SECTION("duplicate address detection probe -> advertisement to all nodes") {
        const V6 snm = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 1};
        Ip6 h{V6{}, snm, 58, 255};
        Bytes ns = {135, 0, 0, 0, 0, 0, 0, 0};
        append(ns, kOur6);
        Out out = run(
            w, {cat(eth({{0x33, 0x33, 0xff, 0, 0, 1}, kClientMac}, 0x86DD), ip6(h, icmp6(h, ns)))});
        REQUIRE(out.port.size() == 1);
        const V6 all = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        Ip6 rh{kOur6, all, 58, 255};
        Bytes na = {136, 0, 0, 0, 0x20, 0, 0, 0};
        append(na, kOur6);
        na.insert(na.end(), {2, 1});
        append(na, e.mac);
        CHECK(out.port[0] ==
              cat(eth({{0x33, 0x33, 0, 0, 0, 1}, e.mac}, 0x86DD), ip6(rh, icmp6(rh, na))));
    }
    SECTION("solicitation for another target goes to the kernel") {
        const V6 snm = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 9};
        Ip6 h{kClient6, snm, 58, 255};
        Bytes ns = {135, 0, 0, 0, 0, 0, 0, 0};
        append(ns, kClient6);
        Bytes frame =
            cat(eth({{0x33, 0x33, 0xff, 0, 0, 9}, kClientMac}, 0x86DD), ip6(h, icmp6(h, ns)));
        Out out = run(w, {frame});
        CHECK(out.port.empty());
        REQUIRE(out.kernel.size() == 1);
        CHECK(out.kernel[0] == frame);
    }
    SECTION("ICMP echo over IPv4") {
        Ip4 h = q4();
        h.proto = 1;
        Bytes data = {'p', 'i', 'n', 'g', 0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
        Out out = run(w, {cat(eth(to_us(), 0x0800), ip4(h, icmp4(8, 0x77, 3, data)))});
        REQUIRE(out.port.size() == 1);
        Ip4 rh = q4();  // the header is kept: id and flags as sent, addresses swapped
        rh.proto = 1;
        rh.src = kOur4;
        rh.dst = kClient4;
        CHECK(out.port[0] == cat(eth(to_client(), 0x0800), ip4(rh, icmp4(0, 0x77, 3, data))));
        CHECK(w.stats().echo_replies == 1);
    }
    SECTION("ICMPv6 echo") {
        Ip6 h{kClient6, kOur6, 58, 60};
        Bytes req = {128, 0, 0, 0, 0, 9, 0, 1, 'x', 'y', 'z'};
        Out out = run(w, {cat(eth(to_us(), 0x86DD), ip6(h, icmp6(h, req)))});
        REQUIRE(out.port.size() == 1);
        Ip6 rh{kOur6, kClient6, 58, 64};
        Bytes rep = {129, 0, 0, 0, 0, 9, 0, 1, 'x', 'y', 'z'};
        CHECK(out.port[0] == cat(eth(to_client(), 0x86DD), ip6(rh, icmp6(rh, rep))));
    }
}

TEST_CASE("malformed frames are dropped and counted by reason", "[dpdk]") {
    Env& e = env();
    Worker w(e.holder, e.addrs, e.binding(), 7);
    Bytes q = query("www.example.com.", 1);
    Bytes good = udp4_frame(q, to_us(), q4());
    std::vector<Bytes> in;
    std::vector<std::pair<DropReason, std::uint64_t>> want;

    in.push_back(Bytes(good.begin(), good.begin() + 10));  // not even an Ethernet header
    in.push_back(Bytes(good.begin(), good.begin() + 30));  // IPv4 header cut
    Bytes vlan_cut = eth(to_us(0x10), 0x0800);
    vlan_cut.resize(16);  // VLAN tag cut
    in.push_back(vlan_cut);
    {
        Ip4 h = q4();
        h.total_delta = 10;  // claims more than the frame holds
        in.push_back(udp4_frame(q, to_us(), h));
        want.push_back({DropReason::Short, 4});  // with the three above
    }
    {
        Ip4 h = q4();
        h.bad_cksum = 1;
        in.push_back(udp4_frame(q, to_us(), h));
        want.push_back({DropReason::Ipv4Checksum, 1});
    }
    {
        Udp u;
        u.bad_cksum = 1;
        in.push_back(udp4_frame(q, to_us(0x20), q4(), u));  // VLAN-tagged
        Ip6 h{kClient6, kOur6};
        Udp z;
        z.zero_cksum = true;  // forbidden over IPv6
        in.push_back(udp6_frame(q, to_us(), h, z));
        want.push_back({DropReason::L4Checksum, 2});
    }
    {
        Bytes f = good;
        f[14] = 0x44;  // IHL 4
        in.push_back(f);
        Ip4 h = q4();
        Udp u;
        u.len_delta = 20;  // UDP length beyond the IP payload
        u.zero_cksum = true;
        in.push_back(udp4_frame(q, to_us(), h, u));
        want.push_back({DropReason::Malformed, 2});
    }
    {
        Ip4 h = q4();
        h.frag = 0x2000;  // more fragments
        in.push_back(udp4_frame(q, to_us(), h));
        h.frag = 0x0010;  // a later fragment
        in.push_back(udp4_frame(q, to_us(), h));
        Ip6 h6{kClient6, kOur6, 44};
        in.push_back(cat(eth(to_us(), 0x86DD), ip6(h6, Bytes{17, 0, 0, 1, 0, 0, 0, 1})));
        want.push_back({DropReason::Fragment, 3});
    }
    {
        Bytes resp = q;
        resp[2] |= 0x80;  // a response: the pipeline stays silent
        in.push_back(udp4_frame(resp, to_us(), q4()));
        want.push_back({DropReason::NoAnswer, 1});
    }
    Out out = run(w, in);
    CHECK(out.port.empty());
    CHECK(out.kernel.empty());
    WorkerStats s = w.stats();
    CHECK(s.rx == in.size());
    for (auto [reason, n] : want) {
        INFO(io::dpdk::drop_reason_name(reason));
        CHECK(drops(s, reason) == n);
    }
    CHECK(s.dropped() == in.size());
    // and a good one still works afterwards
    out = run(w, {good});
    CHECK(out.port.size() == 1);
}

TEST_CASE("everything else goes to the kernel and back", "[dpdk]") {
    Env& e = env();
    Worker w(e.holder, e.addrs, e.binding(), 7);
    Bytes q = query("www.example.com.", 1);
    Ip4 tcp = q4();
    tcp.proto = 6;
    Bytes tcp_frame =
        cat(eth(to_us(), 0x0800), ip4(tcp, Bytes{0xc3, 0x50, 0,    53,   0,    0,    0, 1, 0, 0,
                                                 0,    0,    0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0}));
    Ip4 other = q4();
    other.dst = kOther4;
    Udp port5353;
    port5353.dport = 5353;
    std::vector<Bytes> in = {
        tcp_frame,                                        // DNS over TCP
        udp4_frame(q, to_us(), other),                    // another address
        udp4_frame(q, to_us(), q4(), port5353),           // another port
        cat(eth(to_us(), 0x88cc), Bytes(46, 0xab)),       // LLDP
        udp6_frame(q, to_us(), Ip6{kClient6, kClient6}),  // IPv6, not ours
    };
    Bytes kernel_reply = cat(eth(to_client(), 0x0800), ip4(r4(), Bytes(20, 0x11)));
    Out out = run(w, in, {kernel_reply});
    REQUIRE(out.kernel.size() == in.size());
    for (std::size_t i = 0; i < in.size(); ++i) CHECK(out.kernel[i] == in[i]);
    REQUIRE(out.port.size() == 1);
    CHECK(out.port[0] == kernel_reply);
    WorkerStats s = w.stats();
    CHECK(s.to_kernel == in.size());
    CHECK(s.from_kernel == 1);
    CHECK(s.tx == 1);
    CHECK(s.dropped() == 0);

    SECTION("without an exception path they are dropped and counted") {
        Worker lone(e.holder, e.addrs, e.binding(false), 7);
        out = run(lone, in);
        CHECK(out.port.empty());
        CHECK(out.kernel.empty());
        CHECK(drops(lone.stats(), DropReason::NoException) == in.size());
    }
}

TEST_CASE("checksum offload leaves the pseudo-header sum for the NIC", "[dpdk]") {
    Env& e = env();
    io::dpdk::WorkerCounters c;
    pipeline::Pipeline pipe(e.holder, 3);
    auto proc = std::make_unique<io::dpdk::FrameProcessor>(pipe, e.addrs, c, 1500, true);
    Bytes q = query("www.example.com.", 1);
    Bytes f = udp4_frame(q, to_us(), q4());
    const auto len = static_cast<std::uint32_t>(f.size());
    f.resize(2048);
    io::dpdk::Result r = proc->process(f.data(), len, 2048);
    gslb::RcuThread::quiescent();
    REQUIRE(r.verdict == io::dpdk::Verdict::Reply);
    CHECK(r.offload_ipv4);
    CHECK(r.l2_len == 14);
    CHECK(r.l3_len == 20);
    f.resize(r.len);
    CHECK(f[24] == 0);  // IPv4 header checksum left to the NIC
    CHECK(f[25] == 0);
    Bytes expect = udp4_frame(e.answer(q, client4()), to_client(), r4(), reply_udp());
    // pseudo header: src, dst, proto, UDP length -- not complemented
    Bytes ph;
    append(ph, kOur4);
    append(ph, kClient4);
    ph.push_back(0);
    ph.push_back(17);
    put16(ph, static_cast<unsigned>(expect.size() - 34));
    std::uint16_t sum = static_cast<std::uint16_t>(~cksum({ph}));
    CHECK(f[40] == (sum >> 8));
    CHECK(f[41] == (sum & 0xff));
    // everything else as in software mode
    expect[24] = expect[25] = expect[40] = expect[41] = 0;
    f[40] = f[41] = 0;
    CHECK(f == expect);
}

TEST_CASE("EAL arguments from the config", "[dpdk]") {
    env();  // the EAL is up
    config::DpdkConfig dc;
    dc.eal_args = {"-l", "0,1"};
    config::DpdkPort a;
    a.device = "0000:03:00.0";
    config::DpdkPort b;
    b.device = "net_af_packet0,iface=veth-gslb";
    b.exception = "net_tap0,iface=gslbd0";
    dc.ports = {a, b};
    CHECK(io::dpdk::eal_arguments(dc) ==
          std::vector<std::string>{"-l", "0,1", "-a", "0000:03:00.0",
                                   "--vdev=net_af_packet0,iface=veth-gslb",
                                   "--vdev=net_tap0,iface=gslbd0"});
    CHECK(io::dpdk::is_pci_address("03:00.1"));
    CHECK_FALSE(io::dpdk::is_pci_address("net_ring0"));
    CHECK_FALSE(io::dpdk::is_pci_address("0000:03:00.9"));
    CHECK_THROWS_WITH(io::dpdk::find_port("net_nothere0,x=1"),
                      Catch::Contains("'net_nothere0,x=1'") && Catch::Contains("not probed"));
    CHECK_THROWS_WITH(io::dpdk::init_eal({}), Catch::Contains("already initialised"));
}
