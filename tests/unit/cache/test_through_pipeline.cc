// The cache inside the pipeline, with the real modes: every policy promise measured
// through it, ECS echo and scope per mode, qname case and TC on hits, generations, expiry,
// and byte-for-byte agreement with the pipeline without a cache.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

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

struct Q {
    std::string name = "fo.example.com.";
    std::uint16_t qtype = dns::qtype::A;
    std::uint16_t id = 0x4242;
    bool edns = false;
    std::uint16_t udp_size = 4096;
    bool do_bit = false;
    bool ecs = false;
    std::uint16_t ecs_family = 1;
    std::uint8_t ecs_source = 24;
    std::vector<std::uint8_t> ecs_addr;

    std::vector<std::uint8_t> build() const {
        std::vector<std::uint8_t> p;
        auto u16 = [&p](unsigned v) {
            p.push_back(static_cast<std::uint8_t>(v >> 8));
            p.push_back(static_cast<std::uint8_t>(v));
        };
        u16(id);
        u16(dns::flag::RD);
        u16(1);
        u16(0);
        u16(0);
        u16(edns ? 1 : 0);
        auto n = testdns::encode_name(name);
        p.insert(p.end(), n.begin(), n.end());
        u16(qtype);
        u16(dns::kClassIN);
        if (edns) {
            p.push_back(0);
            u16(dns::qtype::OPT);
            u16(udp_size);
            p.push_back(0);
            p.push_back(0);
            u16(do_bit ? 0x8000 : 0);
            if (ecs) {
                u16(4 + 4 + ecs_addr.size());
                u16(dns::kOptionEcs);
                u16(4 + ecs_addr.size());
                u16(ecs_family);
                p.push_back(ecs_source);
                p.push_back(0);
                p.insert(p.end(), ecs_addr.begin(), ecs_addr.end());
            } else {
                u16(0);
            }
        }
        return p;
    }
};

config::Backend located(const char* addr, const char* location, int priority = 0) {
    auto b = backend(addr, priority);
    b.locations = {location};
    return b;
}

config::Backend weighted(const char* addr, int weight) {
    auto b = backend(addr);
    b.weight = weight;
    return b;
}

std::shared_ptr<config::Config> make_config() {
    auto cfg = std::make_shared<config::Config>();
    cfg->location_map = "in-memory";  // load_geo builds the map from `locations`
    auto loc = [&](const char* prefix, const char* name) {
        cfg->locations.push_back({*util::IpPrefix::parse(prefix), name, {"map.yml", 1, 1}});
    };
    loc("10.0.0.0/8", "eu");
    loc("10.1.0.0/16", "eu");
    loc("20.0.0.0/8", "us");
    loc("2001:db8:1::/48", "us");

    auto z = fixture::zone("example.com.");
    z.ns.push_back({"ns1.example.com.", {ip("192.0.2.53")}});
    z.records.push_back(record("fo.example.com.", "failover",
                               {backend("192.0.2.1", 1), backend("192.0.2.2", 0),
                                backend("192.0.2.3", 0), backend("2001:db8::1", 0)}));
    z.records.push_back(
        record("rr.example.com.", "roundrobin",
               {backend("192.0.2.11"), backend("192.0.2.12"), backend("192.0.2.13")}));
    std::vector<config::Backend> five;
    for (int i = 0; i < 5; ++i)
        five.push_back(backend(("192.0.2." + std::to_string(21 + i)).c_str()));
    z.records.push_back(record("rnd.example.com.", "random", five));
    z.records.push_back(record("wt.example.com.", "weighted",
                               {weighted("192.0.2.31", 8), weighted("192.0.2.32", 2)}));
    z.records.push_back(record(
        "geo.example.com.", "geoip",
        {located("192.0.2.41", "eu"), located("192.0.2.42", "us"), backend("192.0.2.49", 5)}));
    std::vector<config::Backend> forty;
    for (int i = 0; i < 40; ++i)
        forty.push_back(backend(("198.18.0." + std::to_string(i + 1)).c_str()));
    z.records.push_back(record("big.example.com.", "failover", forty));
    z.records.push_back(record("by.example.com.", kTestByClient,
                               {backend("192.0.2.60", 10), backend("192.0.2.61", 20)}));
    z.records.push_back(record("picky.example.com.", kTestPicky, {backend("192.0.2.70")}));
    cfg->zones.push_back(z);
    return cfg;
}

struct Env {
    gslb::SnapshotHolder holder;
    std::shared_ptr<config::Config> cfg;
    std::unique_ptr<pipeline::Pipeline> pipe;
    util::IpAddr source = ip("127.0.0.1");
    std::vector<std::uint8_t> out = std::vector<std::uint8_t>(65535);
    std::size_t len = 0;

    /// `entries` 0: no cache.
    explicit Env(std::size_t entries = 4096, std::size_t entry_bytes = 1024) : cfg(make_config()) {
        publish(holder, snapshot_of(cfg, 1));
        pipe = std::make_unique<pipeline::Pipeline>(holder, 7, entries, entry_bytes);
        pipe->tick(1000);
    }
    std::vector<std::uint8_t> raw(const Q& q, bool tcp = false) {
        len = pipe->handle(q.build(), source, out, tcp);
        gslb::RcuThread::quiescent();
        REQUIRE(len > 0);
        return {out.begin(), out.begin() + static_cast<long>(len)};
    }
    Msg ask(const Q& q, bool tcp = false) {
        auto bytes = raw(q, tcp);
        Msg m = testdns::decode(bytes);
        CHECK(m.id == q.id);
        return m;
    }
    const cache::Counters& cc() const { return pipe->cache_counters(); }
};

std::vector<std::string> addrs(const Msg& m) {
    std::vector<std::string> v;
    for (const auto& r : m.answer) v.push_back(r.addr);
    return v;
}

std::string one(const Msg& m) {
    REQUIRE(m.answer.size() == 1);
    return m.answer[0].addr;
}

}  // namespace

TEST_CASE("the config sizes the cache; the default is on", "[pipeline-cache]") {
    gslb::SnapshotHolder holder;
    auto cfg = make_config();
    cfg->cache_entries = 1000;
    cfg->cache_bytes = 1000 * 300;
    publish(holder, snapshot_of(cfg, 1));
    pipeline::Pipeline p(holder, 1);
    CHECK(p.response_cache().entries() == 1000);
    CHECK(p.response_cache().entry_bytes() == 256);  // 300 rounded down to 64

    gslb::SnapshotHolder empty;  // nothing published yet: the model's defaults
    pipeline::Pipeline d(empty, 1);
    CHECK(d.response_cache().entries() == config::Config{}.cache_entries);
    CHECK(d.response_cache().enabled());

    auto off = make_config();
    off->cache_entries = 0;
    gslb::SnapshotHolder h2;
    publish(h2, snapshot_of(off, 1));
    pipeline::Pipeline p2(h2, 1);
    CHECK_FALSE(p2.response_cache().enabled());
}

TEST_CASE("roundrobin rotates per query through the cache", "[pipeline-cache]") {
    Env env;
    Q q;
    q.name = "rr.example.com.";
    std::vector<std::string> seq;
    for (int i = 0; i < 30; ++i) seq.push_back(one(env.ask(q)));
    const std::vector<std::string> order{"192.0.2.11", "192.0.2.12", "192.0.2.13"};
    for (std::size_t i = 1; i < seq.size(); ++i) {
        auto pos = std::find(order.begin(), order.end(), seq[i - 1]) - order.begin();
        REQUIRE(pos < 3);
        CHECK(seq[i] == order[(pos + 1) % 3]);
    }
    std::map<std::string, int> counts;
    for (const auto& s : seq) ++counts[s];
    CHECK(counts == std::map<std::string, int>{{order[0], 10}, {order[1], 10}, {order[2], 10}});
    // one entry per variant: three misses, the rest hits
    CHECK(env.cc().inserts == 3);
    CHECK(env.cc().hits == 27);
}

TEST_CASE("random stays uniform through the cache", "[pipeline-cache]") {
    Env env;
    Q q;
    q.name = "rnd.example.com.";
    constexpr int kPicks = 100000;
    std::map<std::string, int> counts;
    for (int i = 0; i < kPicks; ++i) ++counts[one(env.ask(q))];
    REQUIRE(counts.size() == 5);
    double chi2 = 0;
    for (const auto& [addr, n] : counts) {
        const double d = n - kPicks / 5.0;
        chi2 += d * d / (kPicks / 5.0);
    }
    // the same tolerance as the policy test: chi-square, 4 d.o.f., 99.9% = 18.467
    INFO("chi-square = " << chi2);
    CHECK(chi2 < 18.467);
    CHECK(env.cc().inserts == 5);
    CHECK(env.cc().hits == kPicks - 5);
}

TEST_CASE("weighted follows its weights through the cache", "[pipeline-cache]") {
    Env env;
    Q q;
    q.name = "wt.example.com.";
    constexpr int kPicks = 100000;
    std::map<std::string, int> counts;
    for (int i = 0; i < kPicks; ++i) ++counts[one(env.ask(q))];
    // the same tolerance as the policy test: +-1 percentage point
    CHECK(100.0 * counts["192.0.2.31"] / kPicks == Approx(80.0).margin(1.0));
    CHECK(100.0 * counts["192.0.2.32"] / kPicks == Approx(20.0).margin(1.0));
    CHECK(env.cc().inserts == 2);
    CHECK(env.cc().hits == kPicks - 2);
}

TEST_CASE("failover is one entry for everyone", "[pipeline-cache]") {
    Env env;
    Q q;
    for (int i = 0; i < 10; ++i) {
        CHECK(addrs(env.ask(q)) == std::vector<std::string>{"192.0.2.2", "192.0.2.3"});
    }
    CHECK(env.cc().inserts == 1);
    CHECK(env.cc().hits == 9);
}

TEST_CASE("ECS: echoed on hits, scope /0 for client-independent modes", "[pipeline-cache]") {
    Env env;
    Q q;
    q.edns = true;
    q.ecs = true;
    q.ecs_source = 24;
    for (const char* name : {"fo.example.com.", "rr.example.com.", "rnd.example.com.",
                             "wt.example.com.", "big.example.com."}) {
        q.name = name;
        for (int i = 0; i < 4; ++i) {
            // a different client /24 each time: the entry is shared, the echo is not
            q.ecs_addr = {198, 51, static_cast<std::uint8_t>(i)};
            Msg m = env.ask(q);
            REQUIRE(m.opt.ecs);
            CHECK(m.opt.ecs_family == 1);
            CHECK(m.opt.ecs_source == 24);
            CHECK(m.opt.ecs_scope == 0);
            CHECK(m.opt.ecs_addr == q.ecs_addr);
        }
    }
    CHECK(env.cc().hits > 0);
}

TEST_CASE("ECS: geoip shares entries per location, scope per client", "[pipeline-cache]") {
    Env env;
    Q q;
    q.name = "geo.example.com.";
    q.edns = true;
    q.ecs = true;
    const geo::LocationMap& map = *env.holder.current()->topo->geo->locations;

    auto expect_scope = [&](const char* addr, std::uint8_t source) {
        return std::min<std::uint8_t>(map.lookup(ip(addr)).prefix, source);
    };

    q.ecs_source = 24;
    q.ecs_addr = {10, 1, 2};  // 10.1.0.0/16 -> eu
    Msg m = env.ask(q);
    CHECK(one(m) == "192.0.2.41");
    CHECK(m.opt.ecs_scope == expect_scope("10.1.2.0", 24));
    CHECK(m.opt.ecs_scope == 16);
    CHECK(env.cc().inserts == 1);

    q.ecs_addr = {10, 2, 3};  // 10.0.0.0/8 (not 10.1/16) -> eu as well: the same entry
    m = env.ask(q);
    CHECK(one(m) == "192.0.2.41");
    CHECK(env.cc().hits == 1);
    // its own scope, not the one of the client that filled the entry
    CHECK(m.opt.ecs_scope == expect_scope("10.2.3.0", 24));
    CHECK(m.opt.ecs_scope != 16);
    CHECK(m.opt.ecs_addr == std::vector<std::uint8_t>{10, 2, 3});

    q.ecs_addr = {20, 9, 9};  // us: another class, another entry
    m = env.ask(q);
    CHECK(one(m) == "192.0.2.42");
    CHECK(env.cc().inserts == 2);

    q.ecs_addr = {30, 0, 0};  // no location: failover among all, its own class
    m = env.ask(q);
    CHECK(addrs(m) == std::vector<std::string>{"192.0.2.41", "192.0.2.42"});
    CHECK(m.opt.ecs_scope == expect_scope("30.0.0.0", 24));

    // the scope never exceeds the source prefix
    q.ecs_source = 12;
    q.ecs_addr = {10, 16};  // 10.16.0.0/12
    m = env.ask(q);
    CHECK(one(m) == "192.0.2.41");
    CHECK(m.opt.ecs_scope <= 12);
    CHECK(m.opt.ecs_scope == expect_scope("10.16.0.0", 12));

    // IPv6 ECS
    q.ecs_family = 2;
    q.ecs_source = 56;
    q.ecs_addr = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00};
    m = env.ask(q);
    CHECK(one(m) == "192.0.2.42");
    CHECK(m.opt.ecs_family == 2);
    CHECK(m.opt.ecs_scope == 48);

    // source prefix 0: the packet source decides, the answer says /0 (RFC 7871 7.1.2)
    q.ecs_family = 1;
    q.ecs_source = 0;
    q.ecs_addr = {};
    env.source = ip("20.1.1.1");
    m = env.ask(q);
    CHECK(one(m) == "192.0.2.42");
    REQUIRE(m.opt.ecs);
    CHECK(m.opt.ecs_source == 0);
    CHECK(m.opt.ecs_scope == 0);
}

TEST_CASE("the client's qname case is restored on a hit", "[pipeline-cache]") {
    Env env;
    Q q;
    q.name = "fo.example.com.";
    env.ask(q);
    q.name = "Fo.ExAmPle.COM.";
    q.id = 0x1111;
    Msg m = env.ask(q);
    CHECK(env.cc().hits == 1);
    CHECK(m.qname == "Fo.ExAmPle.COM.");
    REQUIRE(m.answer.size() == 2);
    CHECK(m.answer[0].name == "Fo.ExAmPle.COM.");
    CHECK(m.id == 0x1111);
    CHECK(m.rd());
    CHECK(m.aa());
}

TEST_CASE("TC follows this client's size on a hit", "[pipeline-cache]") {
    Env env;  // 1 KiB entries: the 40-record answer (about 700 bytes) is cached
    Q q;
    q.name = "big.example.com.";
    q.edns = true;
    q.udp_size = 4096;
    Msg m = env.ask(q);
    CHECK_FALSE(m.tc());
    CHECK(m.answer.size() == 40);
    CHECK(env.cc().inserts == 1);

    q.udp_size = 512;
    m = env.ask(q);
    CHECK(env.cc().hits == 1);
    CHECK(m.tc());
    CHECK(m.answer.empty());
    CHECK(m.opt.present);
    CHECK(env.len <= 512);

    q.edns = false;  // plain DNS: 512
    m = env.ask(q);
    CHECK(m.tc());
    CHECK_FALSE(m.opt.present);

    q.edns = true;
    q.udp_size = 4096;
    m = env.ask(q);
    CHECK_FALSE(m.tc());
    CHECK(m.answer.size() == 40);
    m = env.ask(q, true);  // TCP
    CHECK(m.answer.size() == 40);
    CHECK(env.cc().hits == 4);
    CHECK(env.pipe->counters().truncated == 2);
}

TEST_CASE("a new snapshot is seen by the very next query", "[pipeline-cache]") {
    Env env;
    Q q;
    CHECK(addrs(env.ask(q)) == std::vector<std::string>{"192.0.2.2", "192.0.2.3"});
    CHECK(addrs(env.ask(q)) == std::vector<std::string>{"192.0.2.2", "192.0.2.3"});
    CHECK(env.cc().hits == 1);

    // 192.0.2.2 goes down
    auto topo = env.holder.current()->topo;
    gslb::Health h;
    h.up.assign(topo->backend_count, 1);
    for (const auto& r : topo->records)
        if (r.cfg->name == "fo.example.com.") h.up.at(r.v4[1].id) = 0;
    publish(env.holder, snapshot_of(env.cfg, 2, &h));
    CHECK(addrs(env.ask(q)) == std::vector<std::string>{"192.0.2.3"});
    CHECK(env.cc().generation_misses == 1);

    // a publisher that forgets to bump the generation is caught too (new snapshot object)
    publish(env.holder, snapshot_of(env.cfg, 2));
    CHECK(addrs(env.ask(q)) == std::vector<std::string>{"192.0.2.2", "192.0.2.3"});
    CHECK(env.cc().generation_misses == 2);
}

TEST_CASE("entries expire after the record TTL", "[pipeline-cache]") {
    Env env;  // clock at 1000; record TTL 30
    Q q;
    env.ask(q);
    env.pipe->tick(1029);
    Msg m = env.ask(q);
    CHECK(m.answer.at(0).ttl == 30);  // authoritative data does not age
    CHECK(env.cc().hits == 1);
    env.pipe->tick(1030);
    env.ask(q);
    CHECK(env.cc().expired == 1);
    CHECK(env.cc().inserts == 2);
}

TEST_CASE("cached and uncached pipelines give the same bytes", "[pipeline-cache]") {
    Env cached, plain(0);
    std::vector<Q> qs;
    auto add = [&](const char* name, std::uint16_t qtype, bool edns, bool ecs = false) {
        Q q;
        q.name = name;
        q.qtype = qtype;
        q.edns = edns;
        q.ecs = ecs;
        q.ecs_addr = {10, 1, 7};
        q.do_bit = edns;
        qs.push_back(q);
    };
    add("fo.example.com.", dns::qtype::A, false);
    add("FO.example.com.", dns::qtype::A, true);
    add("fo.example.com.", dns::qtype::AAAA, true, true);
    add("geo.example.com.", dns::qtype::A, true, true);
    add("nope.example.com.", dns::qtype::A, true);  // NXDOMAIN + SOA
    add("fo.example.com.", dns::qtype::TXT, true);  // NODATA + SOA (MX = 15)
    qs.back().qtype = 15;
    add("example.com.", dns::qtype::SOA, false);
    add("example.com.", dns::qtype::NS, true);
    add("ns1.example.com.", dns::qtype::A, false);
    add("www.example.org.", dns::qtype::A, true);       // REFUSED
    add("big.example.com.", dns::qtype::A, false);      // truncated
    add("by.example.com.", dns::qtype::A, true, true);  // a test mode with classes
    add("picky.example.com.", dns::qtype::A, true);     // a mode that is not cacheable
    for (int round = 0; round < 2; ++round) {
        for (const auto& q : qs) {
            INFO("round " << round << ": " << q.name << " type " << q.qtype);
            CHECK(cached.raw(q) == plain.raw(q));
        }
    }
    CHECK(cached.cc().hits == qs.size() - 1);  // picky is never cached
    CHECK(cached.cc().uncacheable == 2);
    CHECK(plain.cc().hits == 0);
    CHECK(cached.pipe->counters().nxdomain == plain.pipe->counters().nxdomain);
    CHECK(cached.pipe->counters().nodata == plain.pipe->counters().nodata);
    CHECK(cached.pipe->counters().refused == plain.pipe->counters().refused);
    CHECK(cached.pipe->counters().truncated == plain.pipe->counters().truncated);
    CHECK(cached.pipe->counters().noerror == plain.pipe->counters().noerror);
}

TEST_CASE("a client's remembered geoip plan follows a new snapshot", "[pipeline-cache]") {
    // The worker's decision memo keeps a client's plan while the snapshot stays; the same
    // client asking right after a health change must get the new answer, with and without
    // the response cache.
    for (const std::size_t entries : {std::size_t{4096}, std::size_t{0}}) {
        Env env(entries);
        Q q;
        q.name = "geo.example.com.";
        q.edns = true;
        q.ecs = true;
        q.ecs_source = 24;
        q.ecs_addr = {10, 1, 2};  // eu
        CHECK(one(env.ask(q)) == "192.0.2.41");
        CHECK(one(env.ask(q)) == "192.0.2.41");
        // the eu backend goes down: the same client moves at once
        auto topo = env.holder.current()->topo;
        gslb::Health h;
        h.up.assign(topo->backend_count, 1);
        for (const auto& r : topo->records)
            if (r.cfg->name == "geo.example.com.") h.up.at(r.v4[0].id) = 0;
        publish(env.holder, snapshot_of(env.cfg, 2, &h));
        const Msg m = env.ask(q);
        CHECK(addrs(m) != std::vector<std::string>{"192.0.2.41"});
        CHECK(!addrs(m).empty());
        // another client of another location in between does not disturb either plan
        Q us = q;
        us.ecs_addr = {20, 9, 9};
        CHECK(one(env.ask(us)) == "192.0.2.42");
        CHECK(addrs(env.ask(q)) == addrs(m));
        // back up: back to eu
        publish(env.holder, snapshot_of(env.cfg, 3));
        CHECK(one(env.ask(q)) == "192.0.2.41");
    }
}

TEST_CASE("a shift's client split: one side per client, cached or not, monotone, scope /24",
          "[pipeline-cache]") {
    // Health::split (docs/gradual.md "Traffic shifts"): the clients whose bucket lies below
    // the moved percent treat the split backends as unavailable. geoip's eu backend and
    // failover's best priority are split here.
    Env cached, plain(0);
    auto topo = cached.holder.current()->topo;
    std::vector<std::uint32_t> split_ids;
    for (const auto& r : topo->records) {
        if (r.cfg->name == "geo.example.com.") split_ids.push_back(r.v4[0].id);  // .41, eu
        if (r.cfg->name == "fo.example.com.")
            for (const auto& b : r.v4)
                if (b.priority == 0) split_ids.push_back(b.id);  // .2 and .3
    }
    REQUIRE(split_ids.size() == 3);
    auto ecs_client = [](int x, int y) {
        gslb::ClientInfo c;
        c.addr = ip(("10." + std::to_string(x) + "." + std::to_string(y) + ".0").c_str());
        c.source_prefix = 24;
        c.from_ecs = true;
        return c;
    };
    std::set<int> moved_before;
    std::uint64_t gen = 2;
    for (const std::uint8_t m : {20, 50, 80}) {
        gslb::Health h;
        h.up.assign(topo->backend_count, 1);
        h.split.assign(topo->backend_count, 0);
        for (auto id : split_ids) h.split[id] = m;
        publish(cached.holder, snapshot_of(cached.cfg, gen, &h));
        publish(plain.holder, snapshot_of(plain.cfg, gen, &h));
        ++gen;
        std::set<int> moved;
        for (int i = 0; i < 300; ++i) {
            const int x = 2 + i / 100, y = i % 100;  // 10.2-4.y.0/24: eu (10.0.0.0/8)
            Q q;
            q.name = "geo.example.com.";
            q.edns = true;
            q.ecs = true;
            q.ecs_addr = {10, static_cast<std::uint8_t>(x), static_cast<std::uint8_t>(y)};
            const bool out = gslb::split_bucket(ecs_client(x, y)) < m;
            INFO("m " << int{m} << " client 10." << x << "." << y);
            for (int again = 0; again < 2; ++again) {
                const Msg a = cached.ask(q), b = plain.ask(q);
                CHECK(addrs(a) == addrs(b));
                CHECK(one(a) == (out ? "192.0.2.42" : "192.0.2.41"));
                // the answer depends on the client's /24 now (the map's block is /8)
                CHECK(a.opt.ecs_scope == 24);
                CHECK(b.opt.ecs_scope == 24);
            }
            if (out) moved.insert(i);
            // failover by packet source: the /24 of the source decides
            Q f;
            f.name = "fo.example.com.";
            cached.source = plain.source =
                ip(("127." + std::to_string(x) + "." + std::to_string(y) + ".9").c_str());
            gslb::ClientInfo src;
            src.addr = cached.source;
            src.source_prefix = 32;
            const bool fo_out = gslb::split_bucket(src) < m;
            const Msg fa = cached.ask(f), fb = plain.ask(f);
            CHECK(addrs(fa) == addrs(fb));
            CHECK(addrs(fa) == (fo_out ? std::vector<std::string>{"192.0.2.1"}
                                       : std::vector<std::string>{"192.0.2.2", "192.0.2.3"}));
        }
        // a larger share only adds clients; about m % of them move
        CHECK(std::includes(moved.begin(), moved.end(), moved_before.begin(), moved_before.end()));
        CHECK(std::abs(static_cast<double>(moved.size()) / 300.0 - m / 100.0) < 0.1);
        moved_before = moved;
    }
    CHECK(cached.cc().hits > 0);
    // every usable backend split: nowhere to move to, every client keeps them
    gslb::Health h;
    h.up.assign(topo->backend_count, 1);
    h.split.assign(topo->backend_count, 0);
    for (const auto& r : topo->records)
        if (r.cfg->name == "fo.example.com.")
            for (const auto& b : r.v4) h.split[b.id] = 99;
    publish(cached.holder, snapshot_of(cached.cfg, gen, &h));
    for (int i = 0; i < 50; ++i) {
        cached.source = ip(("127.9." + std::to_string(i) + ".1").c_str());
        Q f;
        f.name = "fo.example.com.";
        CHECK(addrs(cached.ask(f)) == std::vector<std::string>{"192.0.2.2", "192.0.2.3"});
    }
}
