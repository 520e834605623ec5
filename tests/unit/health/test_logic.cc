// Pure logic of lib/health: rise/fall, plan building (dedup, precedence, validation), start-up
// state, stagger, DNS wire helpers. Nothing here opens a socket to a backend.
#include <atomic>
#include <catch2/catch.hpp>

#include <algorithm>

#include "health/dnsprobe.hh"
#include "health/monitor.hh"
#include "health/plan.hh"
#include "health/state.hh"
#include "helpers.hh"

using namespace gslbd;
using namespace gslbd::health;
using testh::check;
using testh::TopoBuilder;

TEST_CASE("rise/fall: down after fall failures, up after rise successes") {
    RiseFall rf(Verdict::Up, 2, 3);
    CHECK_FALSE(rf.feed(false));
    CHECK_FALSE(rf.feed(false));
    CHECK(rf.verdict() == Verdict::Up);
    CHECK(rf.feed(false));
    CHECK(rf.verdict() == Verdict::Down);
    CHECK_FALSE(rf.feed(false));
    CHECK_FALSE(rf.feed(true));
    CHECK(rf.verdict() == Verdict::Down);
    CHECK(rf.feed(true));
    CHECK(rf.verdict() == Verdict::Up);
}

TEST_CASE("rise/fall: a flapping backend does not flap") {
    RiseFall rf(Verdict::Up, 2, 3);
    for (int i = 0; i < 100; ++i) CHECK_FALSE(rf.feed(i % 2 == 0));
    CHECK(rf.verdict() == Verdict::Up);
    // two failures, one success, two failures: never three in a row
    RiseFall rf2(Verdict::Up, 2, 3);
    for (int i = 0; i < 30; ++i) CHECK_FALSE(rf2.feed(i % 3 == 2));
    CHECK(rf2.verdict() == Verdict::Up);
    RiseFall down(Verdict::Down, 2, 3);
    for (int i = 0; i < 100; ++i) CHECK_FALSE(down.feed(i % 2 == 0));
    CHECK(down.verdict() == Verdict::Down);
}

TEST_CASE("rise/fall: unknown is decided by the first result") {
    RiseFall a(Verdict::Unknown, 5, 5), b(Verdict::Unknown, 5, 5);
    CHECK(a.feed(true));
    CHECK(a.verdict() == Verdict::Up);
    CHECK(b.feed(false));
    CHECK(b.verdict() == Verdict::Down);
}

TEST_CASE("combine: all checks must pass") {
    auto id = [](Verdict v) { return v; };
    std::vector<Verdict> v = {Verdict::Up, Verdict::Up};
    CHECK(combine(v.begin(), v.end(), id) == Verdict::Up);
    v.push_back(Verdict::Unknown);
    CHECK(combine(v.begin(), v.end(), id) == Verdict::Unknown);
    v.push_back(Verdict::Down);
    CHECK(combine(v.begin(), v.end(), id) == Verdict::Down);
    v.clear();
    CHECK(combine(v.begin(), v.end(), id) == Verdict::Up);
}

TEST_CASE("plan: identical (address, check) pairs are probed once") {
    TopoBuilder tb;
    auto http = check("http", 8080);
    for (int i = 0; i < 5; ++i) {
        auto& r = tb.record("r" + std::to_string(i) + ".example.com.", 1000 + i * 100, 700, i);
        tb.backend(r, "127.0.0.2", {http});
        tb.backend(r, "127.0.0.3", {http, check("tcp", 22)});
    }
    auto& other = tb.record("other.example.com.");
    auto http2 = http;
    http2.uri = "/other";
    tb.backend(other, "127.0.0.2", {http2});
    auto topo = tb.build();
    Plan p = build_plan(*topo, 2, 3);
    REQUIRE(p.backends.size() == 11);
    REQUIRE(p.targets.size() == 4);  // .2 http, .3 http, .3 tcp, .2 http /other
    std::size_t shared = p.backends[0].checks[0].target;
    CHECK(p.targets[shared].users == 5);
    // smallest interval, smallest timeout, largest retries among the sharing records
    CHECK(p.targets[shared].interval == Millis(1000));
    CHECK(p.targets[shared].timeout == Millis(700));
    CHECK(p.targets[shared].retries == 4);
    CHECK(p.backends[2].checks[0].target == shared);
    CHECK(p.backends[1].checks[0].target != shared);
    CHECK(p.backends[10].checks[0].target != shared);
    // the fleet's name of a target (made on demand, docs/fleet.md): address | the check's key,
    // as nodes of earlier versions spell it
    CHECK(p.targets[shared].key() == "127.0.0.2|" + p.targets[shared].spec->key);
    CHECK(p.targets[shared].spec->key.rfind("http\x1f"
                                            "8080\x1f"
                                            "/",
                                            0) == 0);
    const std::size_t tcp = p.backends[1].checks[1].target;
    CHECK(p.targets[tcp].key() ==
          "127.0.0.3|tcp\x1f"
          "22");
}

TEST_CASE("plan: timeout is the smaller of check timeout, scrape_timeout and interval") {
    TopoBuilder tb;
    auto hc = check("tcp", 80);
    hc.timeout = Millis(300);
    tb.backend(tb.record("a.example.com.", 1000, 800), "127.0.0.2", {hc});
    hc.port = 81;
    hc.timeout = Millis(5000);
    tb.backend(tb.record("b.example.com.", 1000, 800), "127.0.0.2", {hc});
    tb.backend(tb.record("c.example.com.", 100, 800), "127.0.0.3", {hc});
    Plan p = build_plan(*tb.build(), 2, 3);
    REQUIRE(p.targets.size() == 3);
    CHECK(p.targets[0].timeout == Millis(300));
    CHECK(p.targets[1].timeout == Millis(800));
    CHECK(p.targets[2].timeout == Millis(100));
}

TEST_CASE("plan: rise/fall precedence backend > record > check > default") {
    TopoBuilder tb;
    auto hc = check("tcp", 80);
    hc.rise = 4;
    hc.fall = 5;
    auto& r1 = tb.record("a.example.com.");
    tb.backend(r1, "127.0.0.2", {hc});  // check
    auto& r2 = tb.record("b.example.com.");
    r2.rise = 6;
    tb.backend(r2, "127.0.0.3", {hc});  // record rise, check fall
    auto& b = tb.backend(r2, "127.0.0.4", {hc});
    b.rise = 7;
    b.fall = 8;                                       // backend
    tb.backend(r1, "127.0.0.5", {check("tcp", 80)});  // defaults
    auto topo = tb.build();                           // the plan points into it
    Plan p = build_plan(*topo, 9, 10);
    REQUIRE(p.backends.size() == 4);
    auto of = [&](const std::string& addr) {
        for (const auto& b : p.backends) {
            if (b.rt->addr.to_string() == addr) return b.checks.at(0);
        }
        FAIL("no backend " << addr);
        return CheckPlan{};
    };
    CHECK(of("127.0.0.2").rise == 4);
    CHECK(of("127.0.0.2").fall == 5);
    CHECK(of("127.0.0.3").rise == 6);
    CHECK(of("127.0.0.3").fall == 5);
    CHECK(of("127.0.0.4").rise == 7);
    CHECK(of("127.0.0.4").fall == 8);
    CHECK(of("127.0.0.5").rise == 9);
    CHECK(of("127.0.0.5").fall == 10);
}

TEST_CASE("plan: unsupported check types are refused with place and advice") {
    for (std::string type : {"custom", "snmp", "exec"}) {
        TopoBuilder tb;
        auto hc = check(type, 80);
        hc.supported = false;
        hc.pos = {"zones/app.yml", 42, 9};
        tb.backend(tb.record("www.example.com."), "127.0.0.7", {check("tcp", 80), hc});
        auto topo = tb.build();
        Monitor m({}, {});
        try {
            m.set_topology(topo);
            FAIL("no error for " << type);
        } catch (const config::ConfigError& e) {
            std::string w = e.what();
            CHECK(w.find("zones/app.yml:42:9") == 0);
            CHECK(w.find("www.example.com.") != std::string::npos);
            CHECK(w.find("127.0.0.7") != std::string::npos);
            CHECK(w.find("'" + type + "'") != std::string::npos);
            CHECK(w.find("remove") != std::string::npos);
            // every registered kind (probes/), sorted
            CHECK(w.find("dns, grpc, http, https, icmp, lua, mysql, tcp") != std::string::npos);
        }
        CHECK(m.counters().targets == 0);  // nothing was installed
    }
}

TEST_CASE("plan: bad check values are refused") {
    auto refuses = [](config::HealthCheck hc, const std::string& field) {
        TopoBuilder tb;
        tb.backend(tb.record("www.example.com."), "127.0.0.7", {hc});
        try {
            build_plan(*tb.build(), 2, 3);
        } catch (const config::ConfigError& e) {
            return e.field() == field;
        }
        return false;
    };
    CHECK(refuses(check("tcp"), "port"));  // tcp without a port
    auto body = check("http");
    body.expected_body = "([unclosed";
    CHECK(refuses(body, "expected_body"));
    auto dns = check("dns");
    dns.query_name = std::string(70, 'a') + ".example.";
    CHECK(refuses(dns, "query_name"));
    auto mtls = check("https");
    mtls.tls_cert = "/etc/cert.pem";
    CHECK(refuses(mtls, "tls_cert"));
}

TEST_CASE("monitor: start-up state and backends that are never probed") {
    TopoBuilder tb;
    auto& r = tb.record("www.example.com.");
    tb.backend(r, "127.0.0.2", {check("tcp", 80)});  // probed
    tb.backend(r, "127.0.0.3");                      // no checks
    tb.backend(r, "127.0.0.4", {check("tcp", 80)}).enable = false;
    auto& assumed = tb.backend(r, "127.0.0.5", {check("tcp", 80)});
    assumed.assume_healthy = true;
    auto topo = tb.build();
    {
        Monitor m({}, {});
        auto h = m.set_topology(topo);
        CHECK(h->up == std::vector<std::uint8_t>{1, 1, 0, 1});
        CHECK(m.counters().targets == 2);  // the disabled backend is not probed
        CHECK(m.counters().backends_probed == 2);
    }
    {
        Options o;
        o.assume_healthy_at_start = false;
        Monitor m(o, {});
        auto h = m.set_topology(topo);
        CHECK(h->up == std::vector<std::uint8_t>{0, 1, 0, 1});
        auto st = m.status();
        REQUIRE(st.size() == 4);
        CHECK(st[0].verdict == Verdict::Unknown);
        CHECK_FALSE(st[1].probed);
        CHECK(st[2].verdict == Verdict::Down);
        CHECK_FALSE(st[2].probed);
    }
}

TEST_CASE("carry_ids: the same record (shared, moved, or changed) and address, no strings") {
    TopoBuilder tb;
    auto& a = tb.record("a.example.com.");
    tb.backend(a, "192.0.2.1");
    tb.backend(a, "192.0.2.2");
    tb.backend(a, "2001:db8::1");
    auto& b = tb.record("b.example.com.");
    tb.backend(b, "192.0.2.3");
    auto first = tb.build();
    // the same config again: every backend where it was
    auto again = tb.build();
    CHECK(carry_ids(*first, *again) == std::vector<std::uint32_t>{0, 1, 2, 3});

    // a changed file: a new record in front (ids and indexes move), a.example.com. with a
    // backend removed and the order changed (a new config::Record: found by name),
    // b.example.com. renamed (new), and a new backend
    TopoBuilder tb2;
    tb2.backend(tb2.record("new.example.com."), "192.0.2.9");
    auto& a2 = tb2.record("a.example.com.");
    tb2.backend(a2, "2001:db8::1");
    tb2.backend(a2, "192.0.2.2");
    tb2.backend(a2, "192.0.2.7");
    tb2.backend(tb2.record("c.example.com."), "192.0.2.3");
    auto second = tb2.build();
    REQUIRE(second->backend_count == 5);
    // ids in the order added: new .9 = 0, a2: ::1 = 1, .2 = 2, .7 = 3, c .3 = 4
    CHECK(carry_ids(*first, *second) ==
          std::vector<std::uint32_t>{kNoBackend, 2, 1, kNoBackend, kNoBackend});

    // shared records at other indexes: found by their config pointer
    auto shifted = std::make_shared<gslb::Topology>(*first);
    std::swap(shifted->records[0], shifted->records[1]);
    CHECK(carry_ids(*first, *shifted) == std::vector<std::uint32_t>{0, 1, 2, 3});
}

TEST_CASE("monitor: backends without checks keep no state, but their status and since") {
    TopoBuilder tb;
    auto& r = tb.record("www.example.com.");
    for (int i = 0; i < 100; ++i) tb.backend(r, fmt::format("192.0.2.{}", i + 1));
    tb.backend(r, "198.18.0.1").enable = false;
    tb.backend(r, "127.0.0.2", {check("tcp", 80)});
    auto topo = tb.build();
    Monitor m({}, {});
    auto h = m.set_topology(topo);
    REQUIRE(h->up.size() == 102);
    CHECK(h->up[100] == 0);  // enable: false
    CHECK(h->up[99] == 1);
    const auto c = m.counters();
    CHECK(c.backends == 102);
    CHECK(c.backends_probed == 1);
    CHECK(c.backends_up == 101);
    auto st = m.status();
    REQUIRE(st.size() == 102);
    CHECK(st[5].address == "192.0.2.6");
    CHECK(st[5].record == "www.example.com.");
    CHECK(st[5].reason == "no health checks");
    CHECK_FALSE(st[5].probed);
    CHECK(st[100].reason == "enable: false");
    CHECK(st[100].verdict == Verdict::Down);
    CHECK(st[101].probed);
    CHECK(st[101].address == "127.0.0.2");
    const auto since = st[5].since;

    // a reload that moves every id (a record in front) keeps since; a backend that got a
    // check and one that lost enable: false start again
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    TopoBuilder tb2;
    tb2.backend(tb2.record("front.example.com."), "192.0.2.200");
    auto& r2 = tb2.record("www.example.com.");
    for (int i = 0; i < 100; ++i) tb2.backend(r2, fmt::format("192.0.2.{}", i + 1));
    tb2.backend(r2, "198.18.0.1");
    tb2.backend(r2, "127.0.0.2", {check("tcp", 80)});
    h = m.set_topology(tb2.build());
    REQUIRE(h->up.size() == 103);
    CHECK(h->up[101] == 1);  // enabled now
    st = m.status();
    REQUIRE(st.size() == 103);
    CHECK(st[6].address == "192.0.2.6");
    CHECK(st[6].since == since);   // carried over
    CHECK(st[0].since > since);    // new
    CHECK(st[101].since > since);  // was disabled: a new verdict
    CHECK(st[101].reason == "no health checks");
    CHECK(st[102].probed);
}

TEST_CASE("monitor: set_topology returns the health of its topology for the caller to publish") {
    TopoBuilder tb;
    tb.backend(tb.record("www.example.com."), "127.0.0.2", {check("tcp", 80)});
    auto topo = tb.build();
    std::shared_ptr<const gslb::Topology> seen_topo;
    std::shared_ptr<const gslb::Health> seen_health;
    int calls = 0;
    Monitor m({}, [&](auto t, auto h) {
        ++calls;
        seen_topo = t;
        seen_health = h;
    });
    auto h = m.set_topology(topo);
    CHECK(calls == 0);  // the PublishFn carries later changes only
    CHECK(seen_topo == nullptr);
    CHECK(seen_health == nullptr);
    CHECK(h->up.size() == topo->backend_count);
}

TEST_CASE("monitor: first probes are staggered over the first interval") {
    TopoBuilder tb;
    auto& r = tb.record("www.example.com.", 1000, 500);
    for (int i = 0; i < 2000; ++i) {
        tb.backend(r, fmt::format("127.0.{}.{}", i / 200 + 1, i % 200 + 1), {check("tcp", 80)});
    }
    Options o;
    o.seed = 12345;
    Monitor m(o, {});
    auto before = std::chrono::steady_clock::now();
    m.set_topology(tb.build());
    auto after = std::chrono::steady_clock::now();
    auto ts = m.targets();
    REQUIRE(ts.size() == 2000);
    // The monitor draws the offsets from its own `now`, taken somewhere between before and
    // after (after building the probe plan, which is slow under the sanitizers): the earliest
    // due time of 2000 uniform draws is within a millisecond or so of it.
    auto base = ts.front().next_due;
    for (const auto& t : ts) base = std::min(base, t.next_due);
    std::array<int, 10> buckets{};
    for (const auto& t : ts) {
        REQUIRE(t.next_due >= before);
        REQUIRE(t.next_due < after + std::chrono::milliseconds(1000));
        auto off = std::chrono::duration_cast<std::chrono::milliseconds>(t.next_due - base);
        ++buckets[static_cast<std::size_t>(std::min<std::int64_t>(9, off.count() / 100))];
    }
    // uniform: 200 expected per 100 ms slice; a burst would put most of them in one
    for (int b : buckets) {
        CHECK(b > 120);
        CHECK(b < 280);
    }
}

TEST_CASE("dns probe wire: query and reply checks") {
    auto qn = encode_qname("WWW.Example.com.", {});
    CHECK(qn == std::vector<std::uint8_t>{3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3,
                                          'c', 'o', 'm', 0});
    CHECK(encode_qname("www.example.com", {}) == qn);
    auto q = build_dns_query(0xBEEF, qn, 1);
    REQUIRE(q.size() == 12 + qn.size() + 4);
    CHECK(q[0] == 0xBE);
    CHECK(q[1] == 0xEF);
    CHECK(q[5] == 1);

    // reply: header + question + one A answer with a compressed owner name
    auto reply = [&](std::uint16_t id, int rcode, std::vector<std::uint8_t> a) {
        std::vector<std::uint8_t> m = q;
        m[0] = static_cast<std::uint8_t>(id >> 8);
        m[1] = static_cast<std::uint8_t>(id);
        m[2] = 0x84;
        m[3] = static_cast<std::uint8_t>(rcode);
        if (!a.empty()) {
            m[7] = 1;
            std::vector<std::uint8_t> rr = {0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4};
            rr.insert(rr.end(), a.begin(), a.end());
            m.insert(m.end(), rr.begin(), rr.end());
        }
        return m;
    };
    auto want = util::IpAddr::parse("127.0.0.9");
    int rc = -1;
    CHECK(check_dns_reply(reply(0xBEEF, 0, {127, 0, 0, 9}), 0xBEEF, qn, 1, 0, want, rc) ==
          DnsReply::Ok);
    CHECK(check_dns_reply(reply(0xBEEF, 0, {127, 0, 0, 8}), 0xBEEF, qn, 1, 0, want, rc) ==
          DnsReply::NoAddress);
    CHECK(check_dns_reply(reply(0xBEEF, 0, {}), 0xBEEF, qn, 1, 0, std::nullopt, rc) ==
          DnsReply::Ok);
    CHECK(check_dns_reply(reply(0xBEEF, 2, {}), 0xBEEF, qn, 1, 0, std::nullopt, rc) ==
          DnsReply::Rcode);
    CHECK(rc == 2);
    CHECK(check_dns_reply(reply(0xBEEF, 3, {}), 0xBEEF, qn, 1, 3, std::nullopt, rc) ==
          DnsReply::Ok);
    CHECK(check_dns_reply(reply(0x1234, 0, {}), 0xBEEF, qn, 1, 0, std::nullopt, rc) ==
          DnsReply::NotOurs);
    CHECK(check_dns_reply(q, 0xBEEF, qn, 1, 0, std::nullopt, rc) == DnsReply::NotOurs);  // QR=0
    // every truncation of a good reply is handled without reading out of bounds
    auto good = reply(0xBEEF, 0, {127, 0, 0, 9});
    for (std::size_t n = 0; n < good.size(); ++n) {
        std::vector<std::uint8_t> cut(good.begin(), good.begin() + static_cast<long>(n));
        CHECK(check_dns_reply(cut, 0xBEEF, qn, 1, 0, want, rc) != DnsReply::Ok);
    }
    // a compression loop in the answer terminates
    auto loop = reply(0xBEEF, 0, {127, 0, 0, 8});
    loop[q.size() + 1] = static_cast<std::uint8_t>(q.size());
    CHECK(check_dns_reply(loop, 0xBEEF, qn, 1, 0, want, rc) != DnsReply::Ok);
}

TEST_CASE("body regex: POSIX extended, bounded body, NUL bytes") {
    BodyRegex re("\"status\":\\s*\"(ok|up)\"", {});
    CHECK(re.search(R"({"status": "up"})"));
    CHECK_FALSE(re.search(R"({"status": "down"})"));
    std::string big(kMaxBody - 20, 'x');
    big += "\"status\":\"ok\"";
    CHECK(re.search(big));  // no stack overflow on a 64 KiB body (std::regex would crash)
    std::string nul = std::string("abc\0", 4) + "\"status\":\"ok\"";
    CHECK(re.search(nul));
}

TEST_CASE("monitor: fleet inputs name every target once and no vote before a round") {
    TopoBuilder tb;
    auto& r = tb.record("www.example.com.");
    tb.backend(r, "127.0.0.2", {check("tcp", 80)});
    tb.backend(r, "127.0.0.3");                                     // never probed
    tb.backend(r, "127.0.0.4", {check("tcp", 80)}).enable = false;  // never probed
    tb.backend(r, "127.0.0.5", {check("tcp", 80), check("tcp", 81)});
    auto& r2 = tb.record("api.example.com.");
    tb.backend(r2, "127.0.0.2", {check("tcp", 80)});  // shares the first backend's target
    auto topo = tb.build();
    Monitor m({}, {});
    m.set_topology(topo);
    const FleetInputs in = m.fleet_inputs();
    const FleetLayout& l = *in.layout;
    REQUIRE(l.keys.size() == 3);  // 127.0.0.2:80, 127.0.0.5:80, 127.0.0.5:81
    REQUIRE(in.verdicts.size() == 3);
    for (const auto v : in.verdicts) CHECK(v == Verdict::Unknown);  // no round yet
    REQUIRE(l.backend_targets.size() >= 5);
    CHECK(l.backend_targets[0].size() == 1);
    CHECK(l.backend_targets[1].empty());
    CHECK(l.backend_targets[2].empty());
    CHECK(l.backend_targets[3].size() == 2);
    CHECK(l.backend_targets[4] == l.backend_targets[0]);  // same target, deduplicated
    CHECK(l.keys[l.backend_targets[0][0]].find("127.0.0.2") != std::string::npos);
    // the layout is shared until the topology changes
    CHECK(m.fleet_inputs().layout == in.layout);
    m.set_topology(tb.build());
    CHECK(m.fleet_inputs().layout != in.layout);

    // probe sharing: each target's answer is asked once per filter epoch, then kept
    struct Filter final : Monitor::ProbeFilter {
        mutable std::atomic<int> asked{0};
        std::atomic<std::uint64_t> era{1};
        std::atomic<bool> answer{false};
        std::uint64_t epoch() const override { return era.load(); }
        bool assigned(const std::string&) const override {
            ++asked;
            return answer.load();
        }
    };
    auto f = std::make_shared<Filter>();
    m.set_probe_filter(f);
    for (const auto& t : m.targets()) CHECK_FALSE(t.assigned);
    CHECK(f->asked.load() == 3);
    (void)m.fleet_inputs();  // same epoch: answers kept
    for (const auto& t : m.targets()) CHECK_FALSE(t.assigned);
    CHECK(f->asked.load() == 3);
    f->answer = true;  // the answer changes only when the epoch says so
    for (const auto& t : m.targets()) CHECK_FALSE(t.assigned);
    f->era = 2;
    for (const auto& t : m.targets()) CHECK(t.assigned);
    CHECK(f->asked.load() == 6);
    m.set_probe_filter(nullptr);
    for (const auto& t : m.targets()) CHECK(t.assigned);
    // a new filter is asked afresh, whatever its epoch
    auto g = std::make_shared<Filter>();
    g->era = 2;
    m.set_probe_filter(g);
    for (const auto& t : m.targets()) CHECK_FALSE(t.assigned);
    CHECK(g->asked.load() == 3);
}
