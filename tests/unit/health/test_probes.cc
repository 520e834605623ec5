// Probes against real servers started by the test on loopback: python HTTP(S) and DNS
// backends (tests/data/health), TCP listeners and ICMP to 127.0.0.1 / ::1.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <map>
#include <mutex>

#include "health/monitor.hh"
#include "helpers.hh"
#include "util/log.hh"

using namespace gslbd;
using namespace gslbd::health;
using namespace std::chrono_literals;
using testh::check;
using testh::TopoBuilder;
using testh::wait_for;

namespace {

/// A monitor plus a log of what it published.
struct Harness {
    struct Pub {
        std::vector<std::uint8_t> up;
        std::vector<BackendStatus> status;  ///< taken inside the callback
        std::vector<TargetStatus> targets;
    };
    std::mutex mu;
    std::vector<Pub> pubs;
    Monitor mon;
    explicit Harness(Options o)
        : mon(o, [this](auto, auto h) {
              Pub p{h->up, mon.status(), mon.targets()};
              std::lock_guard lk(mu);
              pubs.push_back(std::move(p));
          }) {}
    /// Monitor::set_topology, its Health logged as a publish (as ctl::Control publishes it).
    std::shared_ptr<const gslb::Health> set_topology(std::shared_ptr<const gslb::Topology> t) {
        auto h = mon.set_topology(std::move(t));
        Pub p{h->up, mon.status(), mon.targets()};
        std::lock_guard lk(mu);
        pubs.push_back(std::move(p));
        return h;
    }
    std::size_t published() {
        std::lock_guard lk(mu);
        return pubs.size();
    }
    Pub last() {
        std::lock_guard lk(mu);
        return pubs.back();
    }
    BackendStatus st(std::size_t i) { return mon.status().at(i); }
    bool down_with(std::size_t i, ErrorKind k) {
        auto s = st(i);
        return !s.up && s.last_error == k && s.failures[static_cast<std::size_t>(k)] > 0;
    }
    bool up(std::size_t i) { return st(i).up; }
};

Options opts(bool assume, int rise, int fall) {
    Options o;
    o.assume_healthy_at_start = assume;
    o.default_rise = rise;
    o.default_fall = fall;
    return o;
}

/// A listening TCP socket on `addr`, ephemeral port.
struct Listener {
    int fd = -1;
    int port = 0;
    explicit Listener(const char* addr) {
        fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        inet_pton(AF_INET, addr, &sa.sin_addr);
        REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
        REQUIRE(listen(fd, 128) == 0);
        socklen_t l = sizeof sa;
        getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &l);
        port = ntohs(sa.sin_port);
    }
    void close() {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
    ~Listener() { close(); }
};

int count_lines(const std::string& text) {
    return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

}  // namespace

TEST_CASE("http: down after `fall` failed rounds, up after `rise` good ones, publish on change") {
    const testh::ScriptBackend srv(testh::ScriptBackend::Kind::Http, "127.0.0.11", "status=200\n");
    TopoBuilder tb;
    auto hc = check("http", srv.port());
    hc.uri = "/health";
    tb.backend(tb.record("www.example.com.", 100, 500), "127.0.0.11", {hc});
    tb.backend(tb.record("static.example.com."), "192.0.2.1");  // no checks: never probed
    Harness h(opts(true, 2, 3));
    auto health = h.set_topology(tb.build());
    CHECK(health->up == std::vector<std::uint8_t>{1, 1});
    h.mon.start();

    REQUIRE(wait_for([&] { return h.mon.targets().at(0).rounds >= 5; }));
    CHECK(h.published() == 1);  // only the one of set_topology: nothing changed
    CHECK(h.st(0).up);
    CHECK(h.st(0).last_ok);
    CHECK(h.st(0).probes >= 5);
    CHECK(h.mon.counters().probe_failures == 0);

    srv.set("status=503\n");
    REQUIRE(wait_for([&] { return h.published() == 2; }));
    auto down = h.last();
    CHECK(down.up == std::vector<std::uint8_t>{0, 1});
    // at the moment of the change exactly `fall` rounds had failed, all with a wrong status
    CHECK(down.status[0].checks[0].fail_run == 3);
    CHECK(down.targets[0].failures[static_cast<std::size_t>(ErrorKind::Status)] == 3);
    CHECK(down.status[0].last_error == ErrorKind::Status);
    CHECK(down.status[0].last_error_text.find("503") != std::string::npos);
    CHECK(down.status[0].verdict == Verdict::Down);
    CHECK(down.status[0].reason.find("status") != std::string::npos);

    srv.set("status=200\n");
    REQUIRE(wait_for([&] { return h.published() == 3; }));
    auto up = h.last();
    CHECK(up.up == std::vector<std::uint8_t>{1, 1});
    CHECK(up.status[0].checks[0].ok_run == 2);
    CHECK(up.status[0].verdict == Verdict::Up);
    std::this_thread::sleep_for(500ms);
    CHECK(h.published() == 3);
    CHECK(h.mon.counters().verdict_changes == 2);
    CHECK(h.st(1).probes == 0);
}

TEST_CASE("http: each error kind is reported") {
    testh::TempDir dir;
    auto s_body = dir.file("body"), s_slow = dir.file("slow"), s_dead = dir.file("dead"),
         s_good = dir.file("good");
    testh::write_file(s_body, "body=maintenance\n");
    testh::write_file(s_slow, "delay=2\n");
    testh::write_file(s_good, "status=202\nbody={\"status\": \"up\"}\n");
    auto body = testh::http_backend("127.0.0.12", s_body);
    auto slow = testh::http_backend("127.0.0.13", s_slow);
    auto dead = testh::http_backend("127.0.0.14", s_dead);
    auto good = testh::http_backend("127.0.0.15", s_good);
    const int dead_port = dead->port;
    dead->kill();

    TopoBuilder tb;
    auto& r = tb.record("www.example.com.", 150, 300);
    auto hc_body = check("http", body->port);
    hc_body.expected_body = "^ok$";
    tb.backend(r, "127.0.0.12", {hc_body});
    tb.backend(r, "127.0.0.13", {check("http", slow->port)});
    tb.backend(r, "127.0.0.14", {check("http", dead_port)});
    auto hc_good = check("http", good->port);
    hc_good.expected_codes = {{200, 202}};
    hc_good.expected_body = "\"status\":\\s*\"up\"";
    hc_good.method = "POST";
    tb.backend(r, "127.0.0.15", {hc_good});
    Harness h(opts(false, 1, 1));
    h.set_topology(tb.build());
    h.mon.start();
    CHECK(wait_for([&] { return h.down_with(0, ErrorKind::Body); }));
    CHECK(wait_for([&] { return h.down_with(1, ErrorKind::Timeout); }));
    CHECK(wait_for([&] { return h.down_with(2, ErrorKind::Refused); }));
    CHECK(wait_for([&] { return h.up(3); }));
    CHECK(h.st(3).last_error == ErrorKind::None);
    CHECK(h.st(1).last_error_text.find("imed out") != std::string::npos);
    // the slow backend was given up on after the timeout, not after its 2 s delay
    CHECK(h.st(1).last_latency < 1000ms);
    CHECK(h.st(1).last_latency >= 140ms);  // timeout = min(300 ms, interval 150 ms)
    CHECK(testh::read_file(s_good + ".log").find("POST / ") != std::string::npos);
}

TEST_CASE("https: verification, skip_tls_verify, CA file, Host header and SNI") {
    testh::TempDir dir;
    const auto cert = dir.file("cert.pem"), key = dir.file("key.pem"), state = dir.file("state");
    const std::string cmd =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=app.example.test "
        "-addext subjectAltName=DNS:app.example.test -keyout " +
        key + " -out " + cert + " 2>/dev/null";
    REQUIRE(std::system(cmd.c_str()) == 0);
    auto srv = testh::http_backend("127.0.0.16", state, cert, key);
    TopoBuilder tb;
    auto& r = tb.record("secure.example.com.", 150, 1000);
    auto insecure = check("https", srv->port);
    insecure.skip_tls_verify = true;
    auto strict = check("http", srv->port);
    strict.enable_tls = true;  // same as type https
    auto with_ca = check("https", srv->port);
    with_ca.tls_ca = cert;
    with_ca.host = "app.example.test";
    with_ca.headers = {{"X-Probe", "gslbd"}};
    with_ca.uri = "/ready";
    tb.backend(r, "127.0.0.16", {insecure});
    tb.backend(tb.record("b.example.com.", 150, 1000), "127.0.0.16", {strict});
    tb.backend(tb.record("c.example.com.", 150, 1000), "127.0.0.16", {with_ca});
    Harness h(opts(false, 1, 1));
    h.set_topology(tb.build());
    h.mon.start();
    CHECK(wait_for([&] { return h.up(0); }));
    CHECK(wait_for([&] { return h.down_with(1, ErrorKind::Tls); }));
    CHECK(wait_for([&] { return h.up(2); }));
    h.mon.stop();
    auto log = testh::read_file(state + ".log");
    CHECK(log.find("GET /ready host=app.example.test:" + std::to_string(srv->port) +
                   " sni=app.example.test x-probe=gslbd") != std::string::npos);
}

TEST_CASE("tcp: connect succeeds while listening, refused once closed") {
    Listener l("127.0.0.21");
    TopoBuilder tb;
    tb.backend(tb.record("tcp.example.com.", 100, 300), "127.0.0.21", {check("tcp", l.port)});
    Harness h(opts(false, 2, 2));
    h.set_topology(tb.build());
    CHECK_FALSE(h.up(0));  // waiting for the first verdict
    h.mon.start();
    CHECK(wait_for([&] { return h.up(0); }));
    l.close();
    CHECK(wait_for([&] { return h.down_with(0, ErrorKind::Refused); }));
    CHECK(h.st(0).checks[0].fail_run >= 2);
}

TEST_CASE("dns: rcode, expected address, no answer") {
    testh::ScriptBackend srv(testh::ScriptBackend::Kind::Dns, "127.0.0.31", "address=127.0.0.9\n");
    TopoBuilder tb;
    auto hc = check("dns", srv.port());
    hc.query_name = "probe.example.com";
    hc.expected_address = util::IpAddr::parse("127.0.0.9");
    tb.backend(tb.record("dns.example.com.", 100, 300), "127.0.0.31", {hc});
    Harness h(opts(false, 1, 1));
    h.set_topology(tb.build());
    h.mon.start();
    CHECK(wait_for([&] { return h.up(0); }));
    srv.set("address=127.0.0.8\n");
    CHECK(wait_for([&] { return h.down_with(0, ErrorKind::DnsAnswer); }));
    srv.set("address=127.0.0.9\n");
    CHECK(wait_for([&] { return h.up(0); }));
    srv.set("address=127.0.0.9\nrcode=2\n");
    CHECK(wait_for([&] { return h.down_with(0, ErrorKind::DnsRcode); }));
    srv.set("drop=1\n");
    CHECK(wait_for([&] { return h.st(0).last_error == ErrorKind::Timeout; }));
    srv.proc->kill();  // closed port: ICMP port unreachable on the connected UDP socket
    CHECK(wait_for([&] { return h.st(0).last_error == ErrorKind::Refused; }));
}

TEST_CASE("icmp: echo to 127.0.0.1 and ::1") {
    TopoBuilder tb;
    auto icmp = check("icmp");
    icmp.count = 2;
    auto& r = tb.record("ping.example.com.", 100, 500);
    tb.backend(r, "127.0.0.1", {icmp});
    tb.backend(r, "::1", {icmp});
    Harness h(opts(false, 2, 2));
    h.set_topology(tb.build());
    h.mon.start();
    CHECK(wait_for([&] { return h.up(0) && h.up(1); }));
    CHECK(wait_for([&] { return h.st(0).probes >= 3 && h.st(1).probes >= 3; }));
    CHECK(h.mon.counters().probe_failures == 0);
    CHECK(h.st(0).last_latency < 500ms);
}

TEST_CASE("several checks on one backend: up only while all pass") {
    Listener a("127.0.0.22"), b("127.0.0.22");
    TopoBuilder tb;
    tb.backend(tb.record("multi.example.com.", 100, 300), "127.0.0.22",
               {check("tcp", a.port), check("tcp", b.port)});
    Harness h(opts(false, 1, 1));
    h.set_topology(tb.build());
    h.mon.start();
    CHECK(wait_for([&] { return h.up(0); }));
    b.close();
    CHECK(wait_for([&] { return h.down_with(0, ErrorKind::Refused); }));
    auto s = h.st(0);
    REQUIRE(s.checks.size() == 2);
    CHECK(s.checks[0].verdict == Verdict::Up);
    CHECK(s.checks[1].verdict == Verdict::Down);
}

TEST_CASE("a target shared by several records is probed once per round") {
    const testh::ScriptBackend srv(testh::ScriptBackend::Kind::Http, "127.0.0.17", "");
    TopoBuilder tb;
    for (int i = 0; i < 4; ++i) {
        tb.backend(tb.record(fmt::format("r{}.example.com.", i), 100, 300), "127.0.0.17",
                   {check("http", srv.port())});
    }
    Harness h(opts(true, 2, 3));
    h.set_topology(tb.build());
    REQUIRE(h.mon.targets().size() == 1);
    CHECK(h.mon.targets()[0].users == 4);
    h.mon.start();
    REQUIRE(wait_for([&] { return h.mon.targets()[0].probes >= 5; }));
    h.mon.stop();
    auto t = h.mon.targets()[0];
    // every probe is one request at the server: four records did not make four probes
    CHECK(count_lines(testh::read_file(srv.state + ".log")) == static_cast<int>(t.probes));
    for (std::size_t i = 0; i < 4; ++i) CHECK(h.st(i).probes == t.probes);
}

TEST_CASE("scrape_retries: a failed round makes 1 + retries attempts") {
    Listener l("127.0.0.23");
    const int port = l.port;
    l.close();
    TopoBuilder tb;
    tb.backend(tb.record("retry.example.com.", 100, 300, 2), "127.0.0.23", {check("tcp", port)});
    Harness h(opts(true, 2, 2));
    h.set_topology(tb.build());
    h.mon.start();
    REQUIRE(wait_for([&] { return !h.up(0); }));
    h.mon.stop();
    auto t = h.mon.targets()[0];
    CHECK(t.rounds >= 2);
    CHECK(t.probes == 3 * t.rounds);
}

TEST_CASE("set_topology keeps the state of backends that still exist") {
    Listener l("127.0.0.24");
    const int closed = l.port;
    l.close();
    TopoBuilder tb;
    tb.backend(tb.record("keep.example.com.", 100, 300), "127.0.0.24", {check("tcp", closed)});
    Harness h(opts(true, 2, 1));
    h.set_topology(tb.build());
    h.mon.start();
    REQUIRE(wait_for([&] { return !h.up(0); }));
    const auto since = h.st(0).since;
    const auto probes = h.st(0).probes;

    // reload: a new record in front shifts every backend id; the dead one keeps its verdict
    TopoBuilder tb2;
    tb2.backend(tb2.record("new.example.com.", 100, 300), "127.0.0.25");
    tb2.backend(tb2.record("keep.example.com.", 100, 300), "127.0.0.24", {check("tcp", closed)});
    auto other = check("tcp", closed);
    other.port = closed == 65535 ? 1 : closed + 1;  // a different check: fresh state
    tb2.backend(tb2.record("changed.example.com.", 100, 300), "127.0.0.26", {other});
    auto health = h.set_topology(tb2.build());
    CHECK(health->up == std::vector<std::uint8_t>{1, 0, 1});
    auto s = h.mon.status();
    REQUIRE(s.size() == 3);
    CHECK(s[1].id == 1);
    CHECK(s[1].verdict == Verdict::Down);
    CHECK(s[1].since == since);
    CHECK(s[1].probes >= probes);  // counters carried over too
    CHECK(s[2].verdict == Verdict::Up);
    CHECK(s[2].reason == "assumed healthy at start");
    CHECK(h.mon.counters().targets == 2);
}

namespace {

struct BatchRun {
    std::uint64_t wakeups = 0, rounds = 0;
    std::size_t on_schedule = 0, targets = 0;
};

/// 200 targets (a refused TCP port on 127.0.26.x) at 500 ms for 2.2 s with `window`:
/// the probe thread's wake-ups, the rounds, and how many targets kept their schedule exactly
/// (their next round due one interval later for each round done since the start).
BatchRun batch_run(std::chrono::milliseconds window, int port) {
    TopoBuilder tb;
    tb.cfg->probe_batch_window = window;
    auto& r = tb.record("batch.example.com.", 500, 300);
    for (int i = 1; i <= 200; ++i)
        tb.backend(r, fmt::format("127.0.26.{}", i), {check("tcp", port)});
    Options o;
    o.seed = 7;
    Monitor m(o, {});
    m.set_topology(tb.build());
    m.start();  // draws the first due times afresh
    // next_due is the planned start of the round under way or next; rounds, those finished
    std::map<std::string, std::pair<SteadyClock::time_point, std::uint64_t>> first;
    for (const auto& t : m.targets()) first[t.address] = {t.next_due, t.rounds};
    std::this_thread::sleep_for(2200ms);
    m.stop();
    BatchRun out;
    out.wakeups = m.counters().wakeups;
    for (const auto& t : m.targets()) {
        ++out.targets;
        out.rounds += t.rounds;
        // a round in flight at stop is not counted and has not moved next_due either
        const auto& [due0, rounds0] = first.at(t.address);
        if (!t.in_flight &&
            t.next_due - due0 == static_cast<std::int64_t>(t.rounds - rounds0) * t.interval)
            ++out.on_schedule;
    }
    return out;
}

}  // namespace

TEST_CASE("batch_window: probes due together share a wake-up, rounds keep their interval") {
    Listener l("127.0.0.26");
    const int refused = l.port;
    l.close();
    const BatchRun each = batch_run(0ms, refused);
    const BatchRun batched = batch_run(100ms, refused);  // capped at a tenth of 500 ms
    WARN("wake-ups " << each.wakeups << " (window 0) against " << batched.wakeups
                     << " (100 ms); rounds " << each.rounds << " / " << batched.rounds
                     << "; on schedule " << each.on_schedule << " / " << batched.on_schedule);
    // 200 targets at 500 ms for 2.2 s: 4 or 5 rounds each (the first within the first interval)
    CHECK(each.rounds >= 200 * 4);
    CHECK(each.rounds <= 200 * 5);
    CHECK(batched.rounds >= 200 * 4);
    CHECK(batched.rounds <= 200 * 5);
    // 400 probes a second spread evenly: batched, one wake-up serves many
    CHECK(batched.wakeups * 3 < each.wakeups);
    CHECK(batched.wakeups * 5 < batched.rounds);
    // early starts (batched) and the thread's own delays do not move a target's schedule; a
    // round started more than 50 ms late counts from then, so allow a few stragglers
    CHECK(each.on_schedule * 100 >= each.targets * 95);
    CHECK(batched.on_schedule * 100 >= batched.targets * 95);
}
