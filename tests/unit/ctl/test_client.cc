// gslbctl's client logic without a daemon: command line -> request, endpoint resolution,
// and the text rendered from API replies captured from a real gslbd (data/*.json).
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "../config/test_util.hh"
#include "ctl/client.hh"

using namespace gslbd::ctl::client;
using nlohmann::json;

namespace {

CommandLine parse(std::vector<std::string> words) {
    words.insert(words.begin(), "gslbctl");
    std::vector<const char*> argv;
    for (const auto& w : words) argv.push_back(w.c_str());
    return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

Request request(const std::vector<std::string>& words) {
    return make_request(parse(words));
}

json load(const std::string& name) {
    std::ifstream in(gslbd::test::source_root() + "/tests/unit/ctl/data/" + name);
    REQUIRE(in);
    return json::parse(in);
}

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

/// Splits a table printed by print_table back into cells, using where the header's words
/// start as the column starts; checks that every cell starts exactly there.
std::vector<std::vector<std::string>> parse_table(const std::vector<std::string>& rows,
                                                  const std::vector<std::string>& header) {
    std::vector<std::size_t> start;
    for (const auto& h : header) {
        const auto at = rows.at(0).find(h, start.empty() ? 0 : start.back() + 1);
        REQUIRE(at != std::string::npos);
        start.push_back(at);
    }
    std::vector<std::vector<std::string>> out;
    for (const auto& row : rows) {
        std::vector<std::string> cells;
        for (std::size_t i = 0; i < start.size(); ++i) {
            INFO("row: " << row << " column " << header[i]);
            REQUIRE(row.size() > start[i]);
            REQUIRE(row[start[i]] != ' ');
            if (i > 0) REQUIRE(row[start[i] - 1] == ' ');
            auto cell = i + 1 < start.size() ? row.substr(start[i], start[i + 1] - start[i])
                                             : row.substr(start[i]);
            while (!cell.empty() && cell.back() == ' ') cell.pop_back();
            cells.push_back(cell);
        }
        out.push_back(cells);
    }
    return out;
}

std::vector<std::string> explain_lines(const json& e) {
    std::ostringstream out;
    print_explain(e, out);
    return lines(out.str());
}

/// The candidate table of explain's text (after its 5 summary lines), header included.
std::vector<std::vector<std::string>> candidate_table(const std::vector<std::string>& l,
                                                      std::size_t candidates) {
    REQUIRE(l.size() >= 5 + 1 + candidates);
    const auto first = l.begin() + 5;
    return parse_table(
        {first, first + 1 + static_cast<std::ptrdiff_t>(candidates)},
        {"CANDIDATE", "PRIO", "WEIGHT", "HEALTH", "ADMIN", "ELIGIBLE", "SELECTED", "WHY"});
}

std::string text(const json& j) {
    if (j.is_null()) return "-";
    if (j.is_string()) return j.get<std::string>().empty() ? "-" : j.get<std::string>();
    return j.dump();
}

}  // namespace

TEST_CASE("backend commands: selector options become the POST body") {
    const Request r = request({"disable", "--address", "192.0.2.1", "--tag", "web", "--tag=eu",
                               "--record=fo.gslb.test.", "--location", "eu-fra"});
    CHECK(r.command == Command::kDisable);
    CHECK(r.post);
    CHECK(r.path == "/api/v1/backends/disable");
    CHECK(r.body == json{{"address", "192.0.2.1"},
                         {"tags", {"web", "eu"}},
                         {"record", "fo.gslb.test."},
                         {"location", "eu-fra"}});

    const Request w = request({"weight", "250", "--address", "192.0.2.42"});
    CHECK(w.command == Command::kWeight);
    CHECK(w.path == "/api/v1/backends/weight");
    CHECK(w.body == json{{"address", "192.0.2.42"}, {"weight", 250}});
    CHECK(request({"drain", "--tag", "x"}).name == "drain");
    CHECK(request({"enable", "--record", "r."}).path == "/api/v1/backends/enable");
}

TEST_CASE("shift commands: start, list, show, pause/resume/abort") {
    const Request r = request({"shift", "start", "--tag", "eu", "--step", "20", "--share=60",
                               "--interval", "90s", "--drill", "10m", "--wait"});
    CHECK(r.command == Command::kShift);
    CHECK(r.post);
    CHECK(r.path == "/api/v1/shift");
    CHECK(r.wait);
    CHECK(r.body == json{{"tags", {"eu"}},
                         {"step", 20},
                         {"share", 60},
                         {"interval", "90s"},
                         {"restore_after", "10m"}});
    CHECK(request({"shift"}).path == "/api/v1/shift");
    CHECK(request({"shift", "list"}).command == Command::kShiftList);
    CHECK(request({"shift", "show", "7"}).path == "/api/v1/shift/7");
    CHECK(request({"shift", "abort", "7"}).path == "/api/v1/shift/7/abort");
    CHECK(request({"shift", "pause", "7"}).post);
    CHECK_THROWS_WITH(request({"shift", "start"}), Catch::Contains("needs a selector"));
    CHECK_THROWS_WITH(request({"shift", "start", "--tag", "eu", "--step", "0"}),
                      Catch::Contains("1..100"));
    CHECK_THROWS_WITH(request({"shift", "abort", "x"}), Catch::Contains("shift abort ID"));
    CHECK_THROWS_WITH(request({"shift", "rewind", "1"}), Catch::Contains("shift start SELECTOR"));
}

TEST_CASE("backend commands: bad arguments are usage errors naming the problem") {
    CHECK_THROWS_WITH(request({"disable"}), Catch::Contains("disable needs a selector"));
    CHECK_THROWS_WITH(request({"drain", "extra", "--address", "192.0.2.1"}),
                      Catch::Contains("drain takes a selector"));
    CHECK_THROWS_WITH(request({"weight", "--address", "192.0.2.1"}),
                      Catch::Contains("weight needs N"));
    for (const char* bad : {"-1", "1000001", "5x", ""})
        CHECK_THROWS_WITH(request({"weight", bad, "--address", "192.0.2.1"}),
                          Catch::Contains("0..1000000"));
    CHECK(request({"weight", "1000000", "--tag", "t"}).body["weight"] == 1000000);
    CHECK(request({"weight", "0", "--tag", "t"}).body["weight"] == 0);
    CHECK_THROWS_WITH(request({"weight", "5"}), Catch::Contains("weight needs a selector"));
}

TEST_CASE("explain, status, reload, ready, metrics requests") {
    const Request e = request({"explain", "geo.gslb.test.", "--client", "127.0.0.1"});
    CHECK(e.path == "/api/v1/explain");
    CHECK(e.body == json{{"name", "geo.gslb.test."}, {"qtype", "A"}, {"client", "127.0.0.1"}});
    const Request e6 = request(
        {"explain", "geo.gslb.test.", "AAAA", "--client=::1", "--ecs", "2001:db8:100::/48"});
    CHECK(e6.body == json{{"name", "geo.gslb.test."},
                          {"qtype", "AAAA"},
                          {"client", "::1"},
                          {"ecs", "2001:db8:100::/48"}});
    CHECK_THROWS_WITH(request({"explain", "x."}), Catch::Contains("explain needs --client"));
    CHECK_THROWS_AS(request({"explain", "--client", "127.0.0.1"}), UsageError);
    CHECK_THROWS_AS(request({"explain", "a.", "A", "b", "--client", "127.0.0.1"}), UsageError);

    const Request s = request({"status"});
    CHECK((!s.post && s.path == "/api/v1/status"));
    CHECK_THROWS_WITH(request({"status", "x"}), Catch::Contains("status takes no arguments"));
    const Request rl = request({"reload"});
    CHECK((rl.post && rl.path == "/api/v1/reload" && rl.body == json::object()));
    CHECK_THROWS_AS(request({"reload", "now"}), UsageError);
    // ready and metrics never checked their arguments; scripts may pass extra words
    CHECK(request({"ready", "extra"}).path == "/api/v1/ready");
    CHECK(request({"metrics"}).path == "/metrics");
    CHECK_THROWS_WITH(request({"frobnicate"}), Catch::Contains("unknown command 'frobnicate'"));
}

TEST_CASE("command line options") {
    const CommandLine cl = parse({"--api", "https://h:1/", "--token=t", "--json=yes", "--insecure",
                                  "--cacert", "/ca.pem", "--timeout", "3", "status"});
    CHECK(cl.options.api == "https://h:1/");
    CHECK(cl.options.token == "t");
    CHECK(cl.options.json_out);
    CHECK(cl.options.insecure);
    CHECK(cl.options.cacert == "/ca.pem");
    CHECK(cl.options.timeout == 3);
    CHECK(cl.args == std::vector<std::string>{"status"});

    // a value is taken as it comes, even when it looks like an option
    CHECK(parse({"--token", "--json", "status"}).options.token == "--json");
    CHECK_THROWS_WITH(parse({"status", "--api"}), "--api needs a value");
    CHECK_THROWS_WITH(parse({"--bogus", "status"}), "unknown option '--bogus'");
    CHECK_THROWS_WITH(parse({"--json"}), "no command");
    CHECK_THROWS_WITH(parse({"--timeout", "0", "status"}), Catch::Contains("--timeout"));
    CHECK_THROWS_AS(parse({"--timeout=abc", "status"}), UsageError);
    // help wins over what follows it, not over an error before it
    CHECK(parse({"status", "-h", "--bogus"}).help);
    CHECK(parse({"--help"}).help);
    CHECK_THROWS_AS(parse({"--bogus", "--help"}), UsageError);
}

TEST_CASE("resolve_endpoint: flags, then environment, then the daemon's config") {
    gslbd::test::TempDir dir;
    std::map<std::string, std::string> vars;
    const EnvFn env = [&](const char* name) -> const char* {
        auto it = vars.find(name);
        return it == vars.end() ? nullptr : it->second.c_str();
    };

    Options o;
    resolve_endpoint(o, env);
    CHECK(o.api == "http://127.0.0.1:8053");
    CHECK(o.token.empty());

    vars = {{"GSLBCTL_API", "http://10.0.0.1:1///"}, {"GSLBCTL_TOKEN", "from-env"}};
    o = Options{};
    resolve_endpoint(o, env);
    CHECK(o.api == "http://10.0.0.1:1");
    CHECK(o.token == "from-env");

    o = Options{};
    o.api = "http://flag:2";
    o.token_file = dir.write("tok", "from-file  \nsecond line\n");
    resolve_endpoint(o, env);
    CHECK(o.api == "http://flag:2");
    CHECK(o.token == "from-file");  // a token file beats the environment

    vars.clear();
    dir.write("etc/api-token", "cfg-token\n");
    o = Options{};
    o.config =
        dir.write("etc/gslbd.yml", "listen: [127.0.0.1:53\napi:\n  listen: 127.0.0.5:9000\n");
    CHECK_THROWS(resolve_endpoint(o, env));  // the file must still be YAML

    o = Options{};
    o.config = dir.write("etc/gslbd.yml",
                         "zones: [{name: x., policy: missing-zone-file.yml}]\n"
                         "api:\n  listen: 127.0.0.5:9000\n  token_file: api-token\n"
                         "  tls_cert: c.pem\n");
    resolve_endpoint(o, env);
    CHECK(o.api == "https://127.0.0.5:9000");
    CHECK(o.token == "cfg-token");

    o = Options{};
    o.config = dir.write("v6.yml", "api:\n  listen: '::1'\n");
    resolve_endpoint(o, env);
    CHECK(o.api == "http://[::1]:8053");
    o = Options{};
    o.config = dir.write("v4.yml", "api:\n  listen: 127.0.0.9\n");
    resolve_endpoint(o, env);
    CHECK(o.api == "http://127.0.0.9:8053");

    o = Options{};
    o.config = dir.write("off.yml", "api:\n  listen: off\n");
    CHECK_THROWS_WITH(resolve_endpoint(o, env), Catch::Contains("the API is off"));
    o = Options{};
    o.token_file = dir.path() + "/missing";
    CHECK_THROWS_WITH(resolve_endpoint(o, env), "cannot read " + dir.path() + "/missing");
}

TEST_CASE("print_status: the verdict says when slow start or flap damping holds a backend") {
    const json s = json::parse(R"({"generation": 3, "ready": true, "config": "c.yml",
        "reloads": {"ok": 0, "failed": 0, "last_ok": true},
        "zones": [{"name": "z.", "records": [{"name": "w.z.", "mode": "weighted", "backends": [
          {"address": "192.0.2.1", "verdict": "up", "enabled": true, "admin": "enabled",
           "effective_weight": 35, "priority": 0, "since": "t",
           "gradual": {"slow_start": {"ramping": true, "percent": 35, "window_s": 60}}},
          {"address": "192.0.2.2", "verdict": "up", "enabled": true, "admin": "enabled",
           "effective_weight": 1, "priority": 0, "since": "t",
           "gradual": {"damping": {"suppressed": true, "penalty": 2500, "flaps": 3}}}]}]}]})");
    std::ostringstream out;
    print_status(s, out);
    CHECK(out.str().find("up/ramp35%") != std::string::npos);
    CHECK(out.str().find("up/suppressed") != std::string::npos);
}

TEST_CASE("print_status: one aligned row per backend, cells from the reply") {
    const json s = load("status.json");
    std::ostringstream out;
    print_status(s, out);
    const auto l = lines(out.str());
    REQUIRE(l.size() >= 4);
    CHECK(l[0] == "generation " + std::to_string(s["generation"].get<int>()) +
                      ", ready, config /etc/gslbd/gslbd.yml");
    CHECK(l[1] == "reloads: 0 ok, 1 failed (last error: " +
                      s["reloads"]["last_error"].get<std::string>() + ")");
    CHECK(l[2].empty());

    const std::vector<std::string> header = {"RECORD", "MODE", "BACKEND", "VERDICT",   "ADMIN",
                                             "WEIGHT", "PRIO", "SINCE",   "LAST ERROR"};
    const auto table = parse_table({l.begin() + 3, l.end()}, header);
    CHECK(table[0] == header);
    std::size_t row = 1, probed_rows = 0;
    for (const auto& z : s["zones"])
        for (const auto& r : z["records"])
            for (const auto& b : r["backends"]) {
                REQUIRE(row < table.size());
                const auto& c = table[row++];
                CHECK(c[0] == r["name"]);
                CHECK(c[1] == r["mode"]);
                CHECK(c[2] == b["address"]);
                CHECK(c[3] == (b["enabled"] ? text(b["verdict"]) : "off(config)"));
                CHECK(c[4] == text(b["admin"]));
                CHECK(c[5] == text(b["effective_weight"]));
                CHECK(c[6] == text(b["priority"]));
                CHECK(c[7] == text(b["since"]));
                if (b.contains("last_probe")) {
                    ++probed_rows;
                    CHECK(c[8] == "refused: connect: Connection refused");
                } else {
                    CHECK(c[8] == "-");
                }
            }
    CHECK(row == table.size());
    CHECK(probed_rows == 1);
    // the overrides the capture made are what the table shows
    std::map<std::string, std::vector<std::string>> by_addr;
    for (const auto& c : table) by_addr[c[2]] = c;
    CHECK(by_addr["192.0.2.2"][4] == "drained");
    CHECK(by_addr["192.0.2.21"][4] == "disabled");
    CHECK(by_addr["192.0.2.42"][5] == "7");
    CHECK(by_addr["192.0.2.11"][3] == "off(config)");
    CHECK(by_addr["127.0.0.1"][3] == "down");
}

TEST_CASE("print_explain: geo decision with ECS") {
    const json e = load("explain_geo.json");
    const auto l = explain_lines(e);
    REQUIRE(l.size() == 16);
    CHECK(l[0] == "generation " + std::to_string(e["generation"].get<int>()));
    CHECK(l[1] == "query:    geo.gslb.test. A from 127.0.0.1 ECS 198.51.100.0/24");
    CHECK(l[2] == "client:   198.51.100.0 (ECS subnet 198.51.100.0/24)");
    CHECK(l[3] == "zone:     gslb.test.");
    CHECK(l[4] == "record:   geo.gslb.test. (mode geoip)");
    const auto t = candidate_table(l, 2);
    CHECK(t[1] ==
          std::vector<std::string>{"192.0.2.51", "1", "1", "up", "enabled", "true", "false", "-"});
    CHECK(t[2] ==
          std::vector<std::string>{"192.0.2.52", "2", "1", "up", "enabled", "true", "true", "-"});
    CHECK(l[5].rfind("  CANDIDATE", 0) == 0);
    // one line per geo source, keys in the reply's order
    CHECK(l[8].rfind("geo asn: asn=64501 database=/var/lib/gslbd/test-asn.mmdb found=true", 0) ==
          0);
    CHECK(l[9].find("geo country: ") == 0);
    CHECK(l[9].find("country=FR ") != std::string::npos);
    CHECK(l[10].find("geo location_map: ") == 0);
    CHECK(l[10].find("location=us-east ") != std::string::npos);
    CHECK(l[11] == "decision: class 0x10000001, scope /25");
    CHECK(l[12] == "fallback: not taken (policy fail_open)");
    CHECK(l[13] == "result:   2 eligible backend(s); geoip selected 1");
    CHECK(l[14] == "answer:   NOERROR, ECS scope /24");
    CHECK(l[15] == "  geo.gslb.test. 30 A 192.0.2.52");
}

TEST_CASE("print_explain: every backend disabled, fallback taken, empty answer") {
    const auto l = explain_lines(load("explain_fallback.json"));
    REQUIRE(l.size() == 12);
    CHECK(l[1] == "query:    fo.gslb.test. AAAA from 127.0.0.1");
    CHECK(l[2] == "client:   127.0.0.1 (packet source (no ECS in the query))");
    const auto t = candidate_table(l, 2);
    for (std::size_t i = 1; i < t.size(); ++i) {
        CHECK(t[i][4] == "disabled");
        CHECK(t[i][5] == "false");
        CHECK(t[i][7] == "disabled through the API");
    }
    CHECK(l[8] == "decision: class 0x00000000, scope /0");
    CHECK(l[9] == "fallback: TAKEN (policy fail_open)");
    CHECK(l[10] == "result:   no eligible backend: fallback policy fail_open");
    CHECK(l[11] == "answer:   NOERROR");  // no records, no ECS scope line
}

TEST_CASE("render: exit codes and where the API's errors go") {
    const Request status = request({"status"});
    std::ostringstream out, err;
    const Reply denied{401, {{"error", "wrong bearer token"}, {"status", 401}}, ""};
    CHECK(render(status, denied, false, out, err) == kAuth);
    CHECK(out.str().empty());
    CHECK(err.str() == "gslbctl: HTTP 401: wrong bearer token\n");

    out.str(""), err.str("");
    CHECK(render(status, denied, true, out, err) == kAuth);
    CHECK(json::parse(out.str()) == denied.body);
    CHECK(err.str().empty());

    out.str(""), err.str("");
    const Reply forbidden{403, {{"error", "mutating calls are disabled"}}, ""};
    CHECK(render(request({"reload"}), forbidden, false, out, err) == kAuth);
    const Reply missing{404, {{"error", "no backend matches address 192.0.2.250"}}, ""};
    CHECK(render(request({"disable", "--address", "192.0.2.250"}), missing, false, out, err) ==
          kApiError);
    out.str(""), err.str("");
    const Reply crash{500, nullptr, "internal\n"};
    CHECK(render(status, crash, true, out, err) == kApiError);  // not JSON: the text, on stderr
    CHECK(err.str() == "gslbctl: HTTP 500: internal\n\n");
    CHECK(out.str().empty());

    out.str(""), err.str("");
    const Reply changed{200,
                        {{"action", "drain"},
                         {"backends",
                          {{{"record", "geo.gslb.test."}, {"address", "192.0.2.52"}},
                           {{"record", "geo.gslb.test."}, {"address", "2001:db8::52"}}}},
                         {"generation", 3}},
                        ""};
    CHECK(render(request({"drain", "--location", "us-east"}), changed, false, out, err) == kOk);
    CHECK(out.str() ==
          "drain: geo.gslb.test. 192.0.2.52\ndrain: geo.gslb.test. 2001:db8::52\ngeneration 3\n");

    out.str("");
    CHECK(render(request({"reload"}), Reply{200, {{"ok", true}, {"generation", 9}}, ""}, false, out,
                 err) == kOk);
    CHECK(out.str() == "reloaded: serving generation 9\n");
}

TEST_CASE("render: ready and metrics") {
    std::ostringstream out, err;
    const Request ready = request({"ready"});
    CHECK(render(ready, Reply{200, {{"ready", true}, {"why", ""}}, ""}, false, out, err) == kOk);
    CHECK(out.str() == "ready\n");
    out.str("");
    const Reply not_ready{503, {{"ready", false}, {"why", "no configuration loaded"}}, ""};
    CHECK(render(ready, not_ready, false, out, err) == kNotReady);
    CHECK(out.str() == "not ready: no configuration loaded\n");
    out.str("");
    CHECK(render(ready, not_ready, true, out, err) == kNotReady);
    CHECK(json::parse(out.str()) == not_ready.body);
    CHECK(err.str().empty());
    out.str("");
    CHECK(render(ready, Reply{401, {{"error", "wrong bearer token"}}, ""}, false, out, err) ==
          kAuth);
    CHECK(err.str() == "gslbctl: HTTP 401: wrong bearer token\n");

    out.str(""), err.str("");
    const std::string metrics = "# TYPE gslbd_ready gauge\ngslbd_ready 1\n";
    CHECK(render(request({"metrics"}), Reply{200, nullptr, metrics}, true, out, err) == kOk);
    CHECK(out.str() == metrics);  // --json does not apply: the text as served
}

TEST_CASE("run: usage errors, help and an unreachable API") {
    const EnvFn no_env = [](const char*) -> const char* { return nullptr; };
    auto run_words = [&](std::vector<std::string> words, std::string& o, std::string& e) {
        words.insert(words.begin(), "gslbctl");
        std::vector<const char*> argv;
        for (const auto& w : words) argv.push_back(w.c_str());
        std::ostringstream out, err;
        const int rc = run(static_cast<int>(argv.size()), argv.data(), out, err, no_env);
        o = out.str(), e = err.str();
        return rc;
    };
    std::string o, e;
    CHECK(run_words({"--help"}, o, e) == kOk);
    CHECK(o == kUsage);
    CHECK(run_words({"status", "extra"}, o, e) == kBadUsage);
    CHECK(e == std::string("gslbctl: status takes no arguments\n\n") + kUsage);
    CHECK(run_words({"--api", "ftp://127.0.0.1:1", "status"}, o, e) == kBadUsage);
    CHECK_THAT(e, Catch::StartsWith("gslbctl: --api ftp://127.0.0.1:1: "));
    CHECK(run_words({"--token-file", "/nonexistent/token", "status"}, o, e) == kBadUsage);
    CHECK(e == "gslbctl: cannot read /nonexistent/token\n");

    // a loopback port nobody listens on: bound, then closed
    const int s = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(s >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    ::close(s);
    const std::string api = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port));
    CHECK(run_words({"--api", api + "/", "--timeout", "2", "status"}, o, e) == kUnreachable);
    CHECK_THAT(e, Catch::StartsWith("gslbctl: cannot reach the API at " + api + ": "));
    CHECK(o.empty());
}

TEST_CASE("plan requests: a reload (of the files in use or a candidate) or an override") {
    const Request r = request({"plan", "reload"});
    CHECK((r.command == Command::kPlan && r.post && r.path == "/api/v1/plan"));
    CHECK(r.body == json{{"reload", json::object()}});
    const Request c = request({"plan", "reload", "/etc/cand/gslbd.yml"});
    CHECK(c.body == json{{"reload", {{"config", "/etc/cand/gslbd.yml"}}}});
    // a relative candidate is named absolutely: the daemon's working directory differs
    const Request rel = request({"plan", "reload", "cand.yml"});
    CHECK(rel.body["reload"]["config"].get<std::string>().front() == '/');
    const Request d = request({"plan", "drain", "--location", "us-east"});
    CHECK(d.body == json{{"override", {{"location", "us-east"}, {"action", "drain"}}}});
    const Request w = request({"plan", "weight", "5", "--address", "192.0.2.41"});
    CHECK(w.body ==
          json{{"override", {{"address", "192.0.2.41"}, {"weight", 5}, {"action", "weight"}}}});
    CHECK_THROWS_AS(request({"plan"}), UsageError);
    CHECK_THROWS_AS(request({"plan", "drain"}), UsageError);  // no selector
    CHECK_THROWS_AS(request({"plan", "reload", "a", "b"}), UsageError);
    CHECK_THROWS_AS(request({"plan", "weight", "x", "--tag", "t"}), UsageError);
    CHECK_THROWS_AS(request({"plan", "rewind"}), UsageError);
}
