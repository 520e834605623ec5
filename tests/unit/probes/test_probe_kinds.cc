#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "health/plan.hh"
#include "health/probe_kind.hh"
#include "health/prober.hh"

using namespace gslbd;
using namespace gslbd::health;
using namespace std::chrono_literals;

namespace {

config::HealthCheck check(std::string type,
                          std::vector<std::pair<std::string, std::string>> params) {
    config::HealthCheck hc;
    hc.type = std::move(type);
    hc.supported = false;
    hc.pos = config::SourcePos{};
    for (auto& [k, v] : params) {
        config::HealthCheck::RawParam p;
        p.key = k;
        p.value = v;
        if (k == "port") hc.port = std::stoi(v);
        hc.raw_params.push_back(std::move(p));
    }
    return hc;
}

ProbeSpec resolve(const config::HealthCheck& hc, int priority = 1) {
    config::Record rec;
    rec.name = "www.example.";
    config::Backend b;
    b.address_text = "127.0.0.1";
    b.priority = priority;
    return resolve_check(hc, rec, b);
}

std::string resolve_error(const config::HealthCheck& hc) {
    try {
        resolve(hc);
    } catch (const config::ConfigError& e) {
        return e.what();
    }
    return "(no error)";
}

/// One attempt through the real Prober (the kind's runner, its threads, the deadline).
ProbeResult probe(const config::HealthCheck& hc, std::chrono::milliseconds timeout = 2000ms) {
    Prober p;
    auto spec = std::make_shared<const ProbeSpec>(resolve(hc, 3));
    p.start(7, spec, *util::IpAddr::parse("127.0.0.1"), timeout);
    std::vector<ProbeResult> out;
    const auto until = SteadyClock::now() + timeout + 5s;
    while (out.empty() && SteadyClock::now() < until) {
        p.wait(50ms);
        p.process(out);
    }
    REQUIRE(out.size() == 1);
    CHECK(out[0].token == 7);
    return out[0];
}

ProbeResult lua(const std::string& script, std::chrono::milliseconds timeout = 2000ms) {
    return probe(check("lua", {{"script", script}}), timeout);
}

}  // namespace

TEST_CASE("the plug-in kinds are registered", "[probes]") {
    // the built-in kinds too: every kind is a plug-in of probes/
    for (const char* k : {"grpc", "mysql", "lua", "http", "https", "tcp", "dns", "icmp"})
        CHECK(find_probe_kind(k) != nullptr);
    CHECK(find_probe_kind("custom") == nullptr);
    const std::string e = resolve_error(check("custom", {}));
    CHECK_THAT(e, Catch::Contains("not supported") &&
                      Catch::Contains("dns, grpc, http, https, icmp, lua, mysql, tcp"));
}

TEST_CASE("params are validated at load", "[probes]") {
    CHECK_THAT(resolve_error(check("grpc", {{"port", "50051"}, {"servce", "x"}})),
               Catch::Contains("unknown param 'servce' for a grpc check"));
    CHECK_THAT(resolve_error(check("grpc", {{"service", "x"}})),
               Catch::Contains("a grpc check needs params.port"));
    CHECK_THAT(resolve_error(check("grpc", {{"port", "1"}, {"enable_tls", "maybe"}})),
               Catch::Contains("must be true or false"));
    CHECK_THAT(resolve_error(check("mysql", {{"host", "db.example"}})),
               Catch::Contains("must be an IP address"));
    CHECK_THAT(resolve_error(check("lua", {})), Catch::Contains("needs params.script"));
    CHECK_THAT(resolve_error(check("lua", {{"script", "return ("}})),
               Catch::Contains("does not compile"));
    CHECK_THAT(resolve_error(check("lua", {{"script", "return ssh_exec('h','u','p','ls') ~= ''"}})),
               Catch::Contains("ssh_exec is not available"));
}

TEST_CASE("check identity: equal params share a key, different ones do not", "[probes]") {
    auto a = resolve(check("grpc", {{"port", "50051"}, {"service", "a"}}));
    auto b = resolve(check("grpc", {{"port", "50051"}, {"service", "a"}}));
    auto c = resolve(check("grpc", {{"port", "50051"}, {"service", "b"}}));
    CHECK(a.key == b.key);
    CHECK(a.key != c.key);
    CHECK(a.type_name() == "grpc");
    CHECK(a.port == 50051);
    auto m1 = resolve(check("mysql", {{"password", "one"}}));
    auto m2 = resolve(check("mysql", {{"password", "two"}}));
    CHECK(m1.key != m2.key);
    CHECK(m1.key.find("one") == std::string::npos);  // never the password itself
    CHECK(m1.port == 3306);
}

TEST_CASE("lua: the script's verdict and the backend table", "[probes]") {
    CHECK(lua("return backend.address == '127.0.0.1' and backend.priority == 3").ok());
    auto r = lua("return false");
    CHECK(r.kind == ErrorKind::Status);
    CHECK(r.detail == "script returned false");
    r = lua("return 'yes'");
    CHECK(r.kind == ErrorKind::BadReply);
    CHECK_THAT(r.detail, Catch::Contains("returned string"));
    r = lua("error('broken on purpose')");
    CHECK_THAT(r.detail, Catch::Contains("script error: script:1: broken on purpose"));
}

TEST_CASE("lua: json_decode decodes nested JSON, nil for bad input", "[probes]") {
    CHECK(lua(R"(local t = json_decode('{"a": {"b": [1, 2.5, {"c": true}]}, "s": "x"}')
                 return t.a.b[1] == 1 and t.a.b[2] == 2.5 and t.a.b[3].c == true and t.s == "x")")
              .ok());
    CHECK(lua("return json_decode('nope') == nil and json_decode('{') == nil").ok());
    CHECK(lua("return json_decode(string.rep('[', 100) .. string.rep(']', 100)) == nil").ok());
}

TEST_CASE("lua: http_get and metric_get fail softly", "[probes]") {
    // port 1 on loopback: nothing listens there
    CHECK(lua("return http_get('http://127.0.0.1:1/', 1) == ''").ok());
    CHECK(lua("return metric_get('http://127.0.0.1:1/metrics', 'x', 1) == nil").ok());
    CHECK(lua("return http_get('file:///etc/passwd') == ''").ok());  // http(s) only
}

TEST_CASE("lua: the sandbox", "[probes]") {
    for (const char* s : {"os.execute('true') return true", "io.open('/etc/passwd') return true",
                          "require('os') return true", "return load('return true')()",
                          "return dofile('/etc/passwd')", "return debug ~= nil",
                          "return string.dump(function() end) ~= nil", "return coroutine ~= nil",
                          "return package ~= nil"}) {
        INFO(s);
        auto r = lua(s);
        CHECK_FALSE(r.ok());
    }
}

TEST_CASE("lua: limits stop a script, pcall cannot swallow them", "[probes]") {
    auto r = lua("local i = 0 while true do i = i + 1 end", 20000ms);
    CHECK(r.kind == ErrorKind::Internal);
    CHECK(r.detail == "script stopped: instruction limit reached");
    r = lua("local t = {} while true do t[#t + 1] = string.rep('x', 65536) .. #t end", 20000ms);
    CHECK(r.detail == "script stopped: memory limit of 16 MiB reached");
    r = lua("while true do pcall(function() while true do end end) end", 20000ms);
    CHECK_THAT(r.detail, Catch::StartsWith("script stopped: "));
    const auto t0 = SteadyClock::now();
    // Few instructions, much time each (a megabyte per string.rep, collected at once): the
    // check's timeout stops it, not the instruction limit (an empty loop on a fast idle
    // machine reaches that limit first).
    r = lua("while true do local s = string.rep('x', 1000000) end", 300ms);
    CHECK(r.kind == ErrorKind::Timeout);
    CHECK(SteadyClock::now() - t0 < 1500ms);
}

// The plug-in promise for probe kinds: a kind defined and registered in this file alone is
// resolved, keyed and run through the real Prober like the ones in probes/ (nothing else in
// the tree names it).
namespace {

struct VerdictParams : KindParams {
    bool up = true;
};

class VerdictRunner final : public ProbeRunner {
  public:
    void start(std::uint64_t token, std::shared_ptr<const ProbeSpec> spec,
               const util::IpAddr& /*addr*/, std::chrono::milliseconds /*timeout*/) override {
        const bool up = kind_params<VerdictParams>(*spec).up;
        done_.push_back(ProbeResult{
            token, up ? ErrorKind::None : ErrorKind::Status, up ? "" : "told to be down", {}});
    }
    void process(SteadyClock::time_point, std::vector<ProbeResult>& out) override {
        for (auto& r : done_) out.push_back(std::move(r));
        done_.clear();
    }
    std::optional<SteadyClock::time_point> deadline() const override {
        if (done_.empty()) return std::nullopt;
        return SteadyClock::time_point::min();
    }
    void cancel_all() override { done_.clear(); }
    std::size_t in_flight() const override { return done_.size(); }

  private:
    std::vector<ProbeResult> done_;
};

std::string resolve_verdict(const config::HealthCheck& hc, const CheckSite& site, ProbeSpec& spec) {
    check_known_params(hc, site, {"up"});
    auto p = std::make_shared<VerdictParams>();
    const auto* raw = raw_param(hc, "up");
    p->up = raw == nullptr || raw->value != "false";
    const std::string key = p->up ? "up" : "down";
    spec.params = std::move(p);
    return key;
}

}  // namespace

GSLBD_REGISTER_PROBE_KIND(test_verdict, "test_verdict", resolve_verdict,
                          [](const RunnerContext&) -> std::unique_ptr<ProbeRunner> {
                              return std::make_unique<VerdictRunner>();
                          })

TEST_CASE("a probe kind registered in one file alone is resolved and run", "[probes]") {
    REQUIRE(find_probe_kind("test_verdict") != nullptr);
    const ProbeSpec s = resolve(check("test_verdict", {{"up", "false"}}));
    CHECK(s.type_name() == "test_verdict");
    CHECK(s.key.find("test_verdict") == 0);
    CHECK(probe(check("test_verdict", {})).ok());
    const ProbeResult r = probe(check("test_verdict", {{"up", "false"}}));
    CHECK(r.kind == ErrorKind::Status);
    CHECK(r.detail == "told to be down");
    CHECK_THAT(resolve_error(check("test_verdict", {{"upp", "1"}})),
               Catch::Contains("unknown param 'upp' for a test_verdict check"));
}

TEST_CASE("target keys of the built-in kinds are unchanged by the move to probes/", "[probes]") {
    // the fleet votes on these keys: nodes before and after the move must agree
    config::HealthCheck tcp;
    tcp.type = "tcp";
    tcp.port = 8080;
    CHECK(resolve(tcp).key ==
          "tcp\x1f"
          "8080");
    config::HealthCheck icmp;
    icmp.type = "icmp";
    icmp.count = 3;
    CHECK(resolve(icmp).key ==
          "icmp\x1f"
          "0\x1f"
          "3");
    config::HealthCheck http;
    http.type = "http";
    http.uri = "/h";
    http.method = "GET";
    http.enable_tls = true;
    const ProbeSpec hs = resolve(http);
    CHECK(hs.type_name() == "https");
    CHECK(hs.port == 443);
    CHECK(hs.key.rfind("https\x1f"
                       "443\x1f/h\x1fGET\x1f",
                       0) == 0);
}
