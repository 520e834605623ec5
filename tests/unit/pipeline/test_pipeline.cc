#include <array>
#include <catch2/catch.hpp>
#include <thread>

#include "../gslb/fixture.hh"
#include "../gslb/publish_fixture.hh"
#include "pipeline/pipeline.hh"

using namespace gslbd;
using fixture::backend;
using fixture::ip;
using fixture::publish;
using fixture::rcu_reader;
using fixture::record;
using fixture::snapshot_of;
using testdns::Msg;

namespace {

/// Raw query bytes. Everything a test may want to vary is a field.
struct QueryBytes {
    std::string name = "www.example.com.";
    std::uint16_t qtype = dns::qtype::A;
    std::uint16_t id = 0xBEEF;
    std::uint16_t flags = dns::flag::RD;
    std::uint16_t qdcount = 1;
    bool edns = false;
    std::uint16_t udp_size = 1232;
    std::uint8_t version = 0;
    bool do_bit = false;
    bool ecs = false;
    std::uint16_t ecs_family = 1;
    std::uint8_t ecs_source = 24;
    std::vector<std::uint8_t> ecs_addr;  ///< exactly ceil(source/8) bytes
    std::vector<std::uint8_t> trailing;

    std::vector<std::uint8_t> build() const {
        std::vector<std::uint8_t> p;
        auto u16 = [&p](unsigned v) {
            p.push_back(static_cast<std::uint8_t>(v >> 8));
            p.push_back(static_cast<std::uint8_t>(v));
        };
        u16(id);
        u16(flags);
        u16(qdcount);
        u16(0);
        u16(0);
        u16(edns ? 1 : 0);
        auto n = testdns::encode_name(name);
        p.insert(p.end(), n.begin(), n.end());
        u16(qtype);
        u16(dns::kClassIN);
        if (edns) {
            p.push_back(0);  // root owner
            u16(dns::qtype::OPT);
            u16(udp_size);
            p.push_back(0);  // extended rcode
            p.push_back(version);
            u16(do_bit ? 0x8000 : 0);
            std::vector<std::uint8_t> rdata;
            if (ecs) {
                auto r16 = [&rdata](unsigned v) {
                    rdata.push_back(static_cast<std::uint8_t>(v >> 8));
                    rdata.push_back(static_cast<std::uint8_t>(v));
                };
                r16(dns::kOptionEcs);
                r16(4 + ecs_addr.size());
                r16(ecs_family);
                rdata.push_back(ecs_source);
                rdata.push_back(0);
                rdata.insert(rdata.end(), ecs_addr.begin(), ecs_addr.end());
            }
            u16(rdata.size());
            p.insert(p.end(), rdata.begin(), rdata.end());
        }
        p.insert(p.end(), trailing.begin(), trailing.end());
        return p;
    }
};

std::shared_ptr<config::Config> make_config() {
    auto cfg = std::make_shared<config::Config>();
    auto z = fixture::zone("example.com.");
    z.ns.push_back({"ns1.example.com.", {ip("192.0.2.53")}});
    z.records.push_back(
        record("www.example.com.", kTestAll, {backend("192.0.2.10"), backend("2001:db8::10")}));
    // priority = the client's first address byte the test policy matches on
    z.records.push_back(
        record("client.example.com.", kTestByClient,
               {backend("192.0.2.10", 10), backend("192.0.2.16", 16), backend("192.0.2.127", 127),
                backend("192.0.2.32", 32), backend("2001:db8::20", 32),
                backend("2001:db8::7f", 127), backend("192.0.2.99", 99)}));
    std::vector<config::Backend> many4, many6;
    for (int i = 0; i < 40; ++i) {
        many4.push_back(backend(("198.18.0." + std::to_string(i + 1)).c_str()));
    }
    for (int i = 0; i < 64; ++i) {
        many6.push_back(backend(("2001:db8::" + std::to_string(i + 1)).c_str()));
    }
    z.records.push_back(record("many.example.com.", kTestAll, many4));
    z.records.push_back(record("many6.example.com.", kTestAll, many6));
    auto sf = record("sf.example.com.", kTestAll, {backend("192.0.2.60")});
    sf.fallback.mode = config::FallbackMode::Rcode;
    z.records.push_back(sf);
    cfg->zones.push_back(z);
    return cfg;
}

struct Env {
    gslb::SnapshotHolder holder;
    pipeline::Pipeline pipe{holder, 7};
    util::IpAddr source = ip("127.0.0.1");
    std::vector<std::uint8_t> out = std::vector<std::uint8_t>(65535);
    std::size_t len = 0;

    explicit Env(std::shared_ptr<config::Config> cfg = make_config()) {
        if (cfg) publish(holder, snapshot_of(std::move(cfg), 1));
    }
    std::size_t raw(const std::vector<std::uint8_t>& q, bool tcp = false) {
        len = pipe.handle(q, source, out, tcp);
        gslb::RcuThread::quiescent();
        return len;
    }
    Msg ask(const QueryBytes& qb, bool tcp = false) {
        REQUIRE(raw(qb.build(), tcp) > 0);
        Msg m = testdns::decode({out.data(), len});
        CHECK(m.id == qb.id);
        CHECK(m.qr());
        return m;
    }
    const pipeline::Counters& c() const { return pipe.counters(); }
};

std::vector<std::string> addrs(const Msg& m) {
    std::vector<std::string> v;
    for (const auto& r : m.answer) v.push_back(r.addr);
    return v;
}

}  // namespace

TEST_CASE("a plain query is answered with the client's letter case") {
    Env env;
    QueryBytes qb;
    qb.name = "WWW.example.COM.";
    Msg m = env.ask(qb);
    CHECK(m.rcode() == 0);
    CHECK(m.aa());
    CHECK(m.rd());
    CHECK(m.qname == "WWW.example.COM.");
    CHECK(addrs(m) == std::vector<std::string>{"192.0.2.10"});
    CHECK(m.answer[0].name == "WWW.example.COM.");
    CHECK_FALSE(m.opt.present);  // no EDNS in, none out
    CHECK(env.c().queries == 1);
    CHECK(env.c().responses == 1);
    CHECK(env.c().noerror == 1);

    qb.name = "nope.example.com.";
    CHECK(env.ask(qb).rcode() == 3);
    CHECK(env.c().nxdomain == 1);
    qb.name = "www.example.org.";
    CHECK(env.ask(qb).rcode() == 5);
    CHECK(env.c().refused == 1);
    qb.name = "www.example.com.";
    qb.qtype = 15;  // MX (HTTPS is answered at GSLB records since issue 15)
    m = env.ask(qb);
    CHECK(m.rcode() == 0);
    CHECK(m.answer.empty());
    CHECK(env.c().nodata == 1);
    qb.name = "sf.example.com.";
    qb.qtype = dns::qtype::A;
    env.ask(qb);  // all up: answered normally
    CHECK(env.c().servfail == 0);
    CHECK(env.c().queries == 5);
    CHECK(env.c().responses == 5);
}

TEST_CASE("malformed, unsupported and foreign messages") {
    Env env;
    SECTION("drop responses and runts") {
        QueryBytes qb;
        qb.flags |= dns::flag::QR;
        CHECK(env.raw(qb.build()) == 0);
        CHECK(env.raw({0x12, 0x34, 0x01}) == 0);
        CHECK(env.c().dropped == 2);
        CHECK(env.c().responses == 0);
    }
    SECTION("FORMERR with the question echoed when it parsed") {
        QueryBytes qb;
        qb.trailing = {0xde, 0xad};
        Msg m = env.ask(qb);
        CHECK(m.rcode() == 1);
        CHECK(m.qdcount == 1);
        CHECK(m.qname == "www.example.com.");
        CHECK(m.answer.empty());
        CHECK(env.c().formerr == 1);
    }
    SECTION("FORMERR header only when the question is broken") {
        auto bytes = QueryBytes{}.build();
        bytes.resize(dns::kHeaderSize + 5);  // name cut short
        REQUIRE(env.raw(bytes) > 0);
        Msg m = testdns::decode({env.out.data(), env.len});
        CHECK(m.id == 0xBEEF);
        CHECK(m.rcode() == 1);
        CHECK(m.qdcount == 0);
        CHECK(env.c().formerr == 1);
    }
    SECTION("NOTIMP for other opcodes") {
        QueryBytes qb;
        qb.flags = static_cast<std::uint16_t>(2u << 11);  // STATUS
        Msg m = env.ask(qb);
        CHECK(m.rcode() == 4);
        CHECK(m.answer.empty());
        CHECK(env.c().notimp == 1);
    }
    SECTION("BADVERS with OPT for EDNS version 1") {
        QueryBytes qb;
        qb.edns = true;
        qb.version = 1;
        Msg m = env.ask(qb);
        REQUIRE(m.opt.present);
        CHECK(m.rcode() == 16);
        CHECK(m.opt.version == 0);
        CHECK(m.answer.empty());
        CHECK(env.c().badvers == 1);
    }
    SECTION("output buffer too small") {
        std::vector<std::uint8_t> small(300);
        CHECK(env.pipe.handle(QueryBytes{}.build(), env.source, small, false) == 0);
        std::vector<std::uint8_t> udp_only(4096);
        CHECK(env.pipe.handle(QueryBytes{}.build(), env.source, udp_only, true) == 0);
        CHECK(env.pipe.handle(QueryBytes{}.build(), env.source, udp_only, false) > 0);
    }
}

TEST_CASE("SERVFAIL before any snapshot is published") {
    Env env(nullptr);
    rcu_reader();
    Msg m = env.ask(QueryBytes{});
    CHECK(m.rcode() == 2);
    CHECK(env.c().servfail == 1);
}

TEST_CASE("EDNS: OPT echoed with our size and DO") {
    Env env;
    QueryBytes qb;
    qb.edns = true;
    qb.udp_size = 4096;
    qb.do_bit = true;
    Msg m = env.ask(qb);
    REQUIRE(m.opt.present);
    CHECK(m.opt.udp_size == 1232);
    CHECK(m.opt.do_bit);
    CHECK_FALSE(m.opt.ecs);
    CHECK(addrs(m) == std::vector<std::string>{"192.0.2.10"});
}

TEST_CASE("ECS: used, clamped, ignored, untrusted, source prefix 0") {
    auto cfg = make_config();
    QueryBytes qb;
    qb.name = "client.example.com.";
    qb.edns = true;
    qb.ecs = true;

    SECTION("trusted ECS decides; scope is the policy's, clamped to the source") {
        Env env(cfg);
        qb.ecs_source = 24;
        qb.ecs_addr = {10, 1, 2};
        Msg m = env.ask(qb);
        CHECK(addrs(m) == std::vector<std::string>{"192.0.2.10"});
        REQUIRE(m.opt.ecs);
        CHECK(m.opt.ecs_family == 1);
        CHECK(m.opt.ecs_source == 24);
        CHECK(m.opt.ecs_scope == 8);
        CHECK(m.opt.ecs_addr == std::vector<std::uint8_t>{10, 1, 2});
        CHECK(env.c().ecs_used == 1);

        qb.ecs_source = 4;
        qb.ecs_addr = {16};
        m = env.ask(qb);
        CHECK(addrs(m) == std::vector<std::string>{"192.0.2.16"});
        CHECK(m.opt.ecs_scope == 4);

        qb.qtype = dns::qtype::AAAA;
        qb.ecs_family = 2;
        qb.ecs_source = 32;
        qb.ecs_addr = {0x20, 0x01, 0x0d, 0xb8};
        m = env.ask(qb);
        CHECK(addrs(m) == std::vector<std::string>{"2001:db8::20"});
        CHECK(m.opt.ecs_family == 2);
        CHECK(m.opt.ecs_scope == 8);
        CHECK(env.c().ecs_used == 3);
        CHECK(env.c().ecs_ignored == 0);
    }
    SECTION("source prefix 0: the packet source decides, scope 0") {
        Env env(cfg);
        qb.ecs_source = 0;
        qb.ecs_addr = {};
        Msg m = env.ask(qb);
        CHECK(addrs(m) == std::vector<std::string>{"192.0.2.127"});
        REQUIRE(m.opt.ecs);
        CHECK(m.opt.ecs_source == 0);
        CHECK(m.opt.ecs_scope == 0);
        CHECK(env.c().ecs_used == 0);
    }
    SECTION("untrusted source: ECS ignored, scope 0") {
        cfg->ecs_trust = {*util::IpPrefix::parse("192.0.2.0/24")};
        Env env(cfg);
        qb.ecs_addr = {10, 1, 2};
        Msg m = env.ask(qb);
        CHECK(addrs(m) == std::vector<std::string>{"192.0.2.127"});
        REQUIRE(m.opt.ecs);
        CHECK(m.opt.ecs_scope == 0);
        CHECK(env.c().ecs_ignored == 1);
        CHECK(env.c().ecs_used == 0);
        // The same query from a trusted resolver is decided on the ECS address.
        env.source = ip("192.0.2.200");
        m = env.ask(qb);
        CHECK(addrs(m) == std::vector<std::string>{"192.0.2.10"});
        CHECK(m.opt.ecs_scope == 8);
        CHECK(env.c().ecs_used == 1);
    }
    SECTION("ECS disabled") {
        cfg->ecs_enabled = false;
        Env env(cfg);
        env.source = ip("::1");  // first byte 0 matches no backend: the last one answers
        qb.ecs_addr = {10, 1, 2};
        Msg m = env.ask(qb);
        CHECK(addrs(m) == std::vector<std::string>{"192.0.2.99"});
        CHECK(m.opt.ecs_scope == 0);
        CHECK(env.c().ecs_ignored == 1);
    }
}

TEST_CASE("truncation follows the UDP size; TCP never truncates") {
    Env env;
    QueryBytes qb;
    qb.name = "many.example.com.";  // 40 A records: 16 bytes each, beyond 512

    Msg m = env.ask(qb);
    CHECK(m.tc());
    CHECK(m.answer.empty());
    CHECK(m.qname == "many.example.com.");
    CHECK(env.len <= 512);
    CHECK(env.c().truncated == 1);

    qb.edns = true;
    qb.udp_size = 1232;
    m = env.ask(qb);
    CHECK_FALSE(m.tc());
    CHECK(m.answer.size() == 40);
    REQUIRE(m.opt.present);

    qb.udp_size = 512;  // the client's size binds
    m = env.ask(qb);
    CHECK(m.tc());
    CHECK(m.opt.present);  // OPT survives truncation

    qb.name = "many6.example.com.";  // 64 AAAA: beyond our own 1232 limit
    qb.qtype = dns::qtype::AAAA;
    qb.udp_size = 4096;
    m = env.ask(qb);
    CHECK(m.tc());
    CHECK(env.len <= 1232);

    m = env.ask(qb, true);
    CHECK_FALSE(m.tc());
    CHECK(m.answer.size() == 64);
    CHECK(env.len > 1232);
    CHECK(env.c().truncated == 3);
}

TEST_CASE("a newly published snapshot is used, health included") {
    Env env;
    QueryBytes qb;
    qb.name = "sf.example.com.";
    CHECK(addrs(env.ask(qb)) == std::vector<std::string>{"192.0.2.60"});

    auto cfg = make_config();
    auto topo = gslb::build_topology(cfg, nullptr);
    gslb::Health h;
    h.up.assign(topo->backend_count, 1);
    for (const auto& r : topo->records) {
        if (r.cfg->name == "sf.example.com.") h.up.at(r.v4[0].id) = 0;
    }
    publish(env.holder, snapshot_of(cfg, 2, &h));
    Msg m = env.ask(qb);
    CHECK(m.rcode() == 2);  // fallback: SERVFAIL
    CHECK(env.c().servfail == 1);
    CHECK(env.c().fallback == 1);

    auto next = std::make_shared<config::Config>(*cfg);  // published configs stay immutable
    next->zones[0].records[0].backends[0] = backend("192.0.2.111");
    publish(env.holder, snapshot_of(next, 3));
    qb.name = "www.example.com.";
    CHECK(addrs(env.ask(qb)) == std::vector<std::string>{"192.0.2.111"});
}
