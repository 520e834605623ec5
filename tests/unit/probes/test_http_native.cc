// The native HTTP/1.1 client of the http probe (probes/http_native.cc, http1.cc): its
// response parser, which checks it takes over from libcurl, and a differential test that
// runs the same checks against the same scripted responses through both clients (the
// GSLBD_HTTP_CLIENT=curl switch) and wants the same requests on the wire and the same
// verdicts.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "health/plan.hh"
#include "health/probe_kind.hh"
#include "health/prober.hh"
#include "http1.hh"
#include "http_native.hh"

using namespace gslbd;
using namespace gslbd::health;
using namespace std::chrono_literals;
using probes::NativeRequest;
using probes::http1::Event;
using probes::http1::Fault;
using probes::http1::ResponseParser;

namespace {

struct Parsed {
    Event last = Event::Need;
    int status = 0;
    std::string body;
    bool keep_alive = false;
    Fault fault = Fault::None;
};

Parsed parse(std::string_view in, bool head = false, bool eof = true) {
    ResponseParser p;
    p.reset(head);
    Parsed r;
    const char* cur = in.data();
    const char* end = cur + in.size();
    for (;;) {
        std::string_view body;
        const Event e = p.next(cur, end, body);
        if (e == Event::Body) {
            r.body.append(body);
            continue;
        }
        r.last = e;
        break;
    }
    if (r.last == Event::Need && eof) r.last = p.eof();
    r.status = p.status();
    r.keep_alive = p.keep_alive();
    r.fault = p.fault();
    return r;
}

config::HealthCheck http_check(int port) {
    config::HealthCheck hc;
    hc.type = "http";
    hc.supported = true;
    hc.port = port;
    hc.uri = "/health";
    hc.pos = config::SourcePos{};
    return hc;
}

ProbeSpec resolve(const config::HealthCheck& hc) {
    config::Record rec;
    rec.name = "www.example.";
    config::Backend b;
    b.address_text = "127.0.0.1";
    b.priority = 1;
    return resolve_check(hc, rec, b);
}

/// A one-thread TCP server on 127.0.0.1: for each request it reads up to the blank line,
/// records it and the connection it came on, and answers with the next scripted bytes
/// ("" = close without an answer); `keep`: the connection stays open after an answer.
class Scripted {
  public:
    Scripted(std::vector<std::string> answers, bool keep)
        : answers_(std::move(answers)), keep_(keep) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int one = 1;
        setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        socklen_t l = sizeof a;
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &l);
        port_ = ntohs(a.sin_port);
        REQUIRE(::listen(fd_, 16) == 0);
        thread_ = std::thread([this] { serve(); });
    }
    ~Scripted() {
        stop_ = true;
        ::shutdown(fd_, SHUT_RDWR);
        thread_.join();
        ::close(fd_);
    }
    int port() const { return port_; }
    std::vector<std::string> requests() {
        std::lock_guard<std::mutex> g(mu_);
        return requests_;
    }
    std::vector<int> connections() {
        std::lock_guard<std::mutex> g(mu_);
        return conns_;
    }

  private:
    void serve() {
        std::size_t next = 0;
        int conn_no = 0;
        while (!stop_) {
            const int c = ::accept(fd_, nullptr, nullptr);
            if (c < 0) return;
            ++conn_no;
            for (;;) {
                std::string req;
                char buf[4096];
                while (req.find("\r\n\r\n") == std::string::npos) {
                    const ssize_t n = ::recv(c, buf, sizeof buf, 0);
                    if (n <= 0) break;
                    req.append(buf, static_cast<std::size_t>(n));
                }
                if (req.find("\r\n\r\n") == std::string::npos) break;
                std::string answer;
                {
                    std::lock_guard<std::mutex> g(mu_);
                    requests_.push_back(req);
                    conns_.push_back(conn_no);
                    answer = next < answers_.size() ? answers_[next] : answers_.back();
                    ++next;
                }
                if (answer.empty()) break;
                ::send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
                if (!keep_) break;
            }
            ::close(c);
        }
    }

    std::vector<std::string> answers_;
    bool keep_;
    int fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
    std::mutex mu_;
    std::vector<std::string> requests_;
    std::vector<int> conns_;
};

/// `req` with the port of its Host header replaced by "PORT" (the two servers differ in it).
std::string without_port(std::string req, int port) {
    const std::string p = ":" + std::to_string(port) + "\r\n";
    if (auto at = req.find(p); at != std::string::npos) req.replace(at, p.size(), ":PORT\r\n");
    return req;
}

/// `n` probes of `hc` one after the other through a Prober whose http runner is the native
/// client or libcurl.
std::vector<ProbeResult> run(const config::HealthCheck& hc, bool curl, int n = 1) {
    if (curl) {
        ::setenv("GSLBD_HTTP_CLIENT", "curl", 1);
    } else {
        ::unsetenv("GSLBD_HTTP_CLIENT");
    }
    Prober p;  // its http runner reads the switch when it is created (first probe)
    auto spec = std::make_shared<const ProbeSpec>(resolve(hc));
    std::vector<ProbeResult> all;
    for (int i = 0; i < n; ++i) {
        p.start(static_cast<std::uint64_t>(i + 1), spec, *util::IpAddr::parse("127.0.0.1"), 1000ms);
        std::vector<ProbeResult> out;
        const auto until = SteadyClock::now() + 5s;
        while (out.empty() && SteadyClock::now() < until) {
            p.wait(20ms);
            p.process(out);
        }
        REQUIRE(out.size() == 1);
        all.push_back(out[0]);
    }
    ::unsetenv("GSLBD_HTTP_CLIENT");
    return all;
}

}  // namespace

TEST_CASE("http1: framing by Content-Length, chunks and close", "[probes][http1]") {
    auto r = parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    CHECK(r.last == Event::Done);
    CHECK(r.status == 200);
    CHECK(r.body == "ok");
    CHECK(r.keep_alive);
    r = parse(
        "HTTP/1.1 200 OK\r\ntransfer-encoding: "
        "Chunked\r\n\r\n4;x=y\r\nWiki\r\n5\r\npedia\r\n0\r\nT: 1\r\n\r\n");
    CHECK(r.last == Event::Done);
    CHECK(r.body == "Wikipedia");
    CHECK(r.keep_alive);
    r = parse("HTTP/1.0 200 OK\r\n\r\nuntil close");
    CHECK(r.last == Event::Done);
    CHECK(r.body == "until close");
    CHECK_FALSE(r.keep_alive);
    r = parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n");
    CHECK(r.keep_alive);
    r = parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    CHECK_FALSE(r.keep_alive);
    r = parse("HTTP/1.1 503 Busy\nContent-Length: 4\n\nbusy");  // bare LF
    CHECK(r.status == 503);
    CHECK(r.body == "busy");
    r = parse("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", true);  // HEAD
    CHECK(r.last == Event::Done);
    CHECK(r.body.empty());
    r = parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n");
    CHECK(r.last == Event::Done);
    CHECK(r.status == 204);
    // a response to a request that was not sent: not part of this message
    r = parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200", false, false);
    CHECK(r.last == Event::Done);
    CHECK(r.body == "x");
}

TEST_CASE("http1: what is not a good response", "[probes][http1]") {
    CHECK(parse("").fault == Fault::BadReply);
    CHECK(parse("SSH-2.0-OpenSSH\r\n").fault == Fault::BadReply);
    CHECK(parse("HTTP/2 200\r\n\r\n").fault == Fault::BadReply);
    CHECK(parse("HTTP/1.1 20\r\n\r\n").fault == Fault::BadReply);
    CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n").fault == Fault::BadReply);
    CHECK(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").fault ==
          Fault::BadReply);
    CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort").fault == Fault::Partial);
    CHECK(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab").fault ==
          Fault::Partial);
    CHECK(parse("HTTP/1.1 200 OK\r\nContent-Le").fault == Fault::BadReply);
    // an endless header is cut off, not buffered
    std::string huge = "HTTP/1.1 200 OK\r\nX: " + std::string(200 * 1024, 'a');
    CHECK(parse(huge).fault == Fault::BadReply);
}

TEST_CASE("http: which checks the native client takes", "[probes][http1]") {
    auto hc = http_check(8080);
    auto r = NativeRequest::build(hc, 8080, false);
    REQUIRE(r);
    CHECK(r->line == "GET /health HTTP/1.1\r\n");
    CHECK(r->host_from_addr);
    CHECK(r->rest == "User-Agent: gslbd-health/0.1\r\nAccept: */*\r\n\r\n");
    hc.host = "www.example.com";
    hc.headers = {{"X-Probe", "1"}, {"user-agent", "mine"}};
    r = NativeRequest::build(hc, 80, false);
    REQUIRE(r);
    CHECK(r->host == "Host: www.example.com\r\n");
    CHECK(r->rest == "Accept: */*\r\nX-Probe: 1\r\nuser-agent: mine\r\n\r\n");
    CHECK_FALSE(NativeRequest::build(hc, 443, true));  // https: curl
    auto odd = http_check(80);
    odd.uri = "/a/../b";
    CHECK_FALSE(NativeRequest::build(odd, 80, false));
    odd.uri = "/a b";
    CHECK_FALSE(NativeRequest::build(odd, 80, false));
    odd = http_check(80);
    odd.headers = {{"Accept", ""}};  // curl: removes its own Accept
    CHECK_FALSE(NativeRequest::build(odd, 80, false));
    odd = http_check(80);
    odd.host = "evil\r\nX: y";
    CHECK_FALSE(NativeRequest::build(odd, 80, false));
    odd = http_check(80);
    odd.method = "CONNECT";
    CHECK_FALSE(NativeRequest::build(odd, 80, false));
}

TEST_CASE("http: the native client and libcurl send the same request and agree on the verdict",
          "[probes][http1]") {
    struct Case {
        const char* what;
        std::string answer;
        std::string body_regex;
        std::string method = "GET";
    };
    const std::vector<Case> cases = {
        {"200 with a body", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", ""},
        {"503", "HTTP/1.1 503 Unavailable\r\nContent-Length: 0\r\n\r\n", ""},
        {"chunked body matches",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
         "chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n",
         "^Wikipedia$"},
        {"chunked body does not match",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
         "^Wikipedia$"},
        {"HTTP/1.0 until close", "HTTP/1.0 200 OK\r\n\r\nstatus: up", "up$"},
        {"not HTTP", "SSH-2.0-OpenSSH_9.2\r\n", ""},
        {"nothing", "", ""},
        {"short body", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nok", "ok"},
        {"100 continue",
         "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ""},
        {"redirect not followed", "HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n",
         ""},
        {"HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", "", "HEAD"},
        {"POST", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "ok", "POST"},
    };
    for (const Case& c : cases) {
        SECTION(c.what) {
            auto hc = http_check(0);
            hc.expected_body = c.body_regex;
            hc.method = c.method;
            std::vector<std::string> sent[2];
            ErrorKind kinds[2];
            std::string details[2];
            for (int curl = 0; curl < 2; ++curl) {
                Scripted srv({c.answer}, false);
                hc.port = srv.port();
                const auto res = run(hc, curl == 1);
                kinds[curl] = res[0].kind;
                for (const auto& r : srv.requests())
                    sent[curl].push_back(without_port(r, srv.port()));
                details[curl] = res[0].detail;
                CHECK(res[0].token == 1);
            }
            INFO(c.what << ": native '" << details[0] << "', curl '" << details[1] << "'");
            CHECK(kinds[0] == kinds[1]);
            REQUIRE(sent[0].size() == 1);
            REQUIRE(sent[1].size() == 1);
            CHECK(sent[0][0] == sent[1][0]);  // the same bytes on the wire
        }
    }
}

TEST_CASE("http: custom headers and Host go out as curl sends them", "[probes][http1]") {
    auto hc = http_check(0);
    hc.host = "www.example.com";
    hc.headers = {{"X-Probe", "abc"}, {"Accept", "text/plain"}};
    std::string sent[2];
    for (int curl = 0; curl < 2; ++curl) {
        Scripted srv({"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}, false);
        hc.port = srv.port();
        CHECK(run(hc, curl == 1)[0].ok());
        REQUIRE(srv.requests().size() == 1);
        sent[curl] = without_port(srv.requests()[0], srv.port());
    }
    CHECK_THAT(sent[0], Catch::Contains("Host: www.example.com:PORT\r\n") &&
                            Catch::Contains("X-Probe: abc"));
    CHECK(sent[0] == sent[1]);
}

TEST_CASE("http: keepalive reuses one connection, replaces one the backend closed",
          "[probes][http1]") {
    auto hc = http_check(0);
    hc.keepalive = true;
    const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    {
        Scripted srv({ok}, true);
        hc.port = srv.port();
        for (const auto& r : run(hc, false, 4)) CHECK(r.ok());
        CHECK(srv.connections() == std::vector<int>{1, 1, 1, 1});
    }
    {
        // the server closes after every answer: each probe finds its kept connection dead
        // and goes out again on a new one, without a failure
        Scripted srv({ok}, false);
        hc.port = srv.port();
        for (const auto& r : run(hc, false, 3)) CHECK(r.ok());
        CHECK(srv.connections() == std::vector<int>{1, 2, 3});
    }
    {
        // Connection: close from the server: not kept
        Scripted srv({"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"}, true);
        hc.port = srv.port();
        for (const auto& r : run(hc, false, 2)) CHECK(r.ok());
        CHECK(srv.connections() == std::vector<int>{1, 2});
    }
}

TEST_CASE("http: a refused connect and a timeout on the native client", "[probes][http1]") {
    int port = 0;
    {
        Scripted gone({"x"}, false);
        port = gone.port();
    }
    auto hc = http_check(port);
    auto r = run(hc, false)[0];
    CHECK(r.kind == ErrorKind::Refused);
    // a server that accepts and never answers
    const int l = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    getsockname(l, reinterpret_cast<sockaddr*>(&a), &len);
    REQUIRE(::listen(l, 4) == 0);
    hc.port = ntohs(a.sin_port);
    r = run(hc, false)[0];
    CHECK(r.kind == ErrorKind::Timeout);
    CHECK_THAT(r.detail, Catch::Contains("timed out"));
    CHECK(r.latency >= 900ms);
    ::close(l);
}
