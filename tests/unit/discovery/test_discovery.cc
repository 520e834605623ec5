// Discovery answers read by the zone file's parser (lib/config/backends.cc) and the SVCB
// reply reader (lib/discovery/fetch.cc): table-driven, bytes / text in, backends out.
#include <catch2/catch.hpp>

#include "config/model.hh"
#include "discovery/discovery.hh"
#include "dns/response.hh"

using namespace gslbd;

namespace {

config::Discovery http_source() {
    config::Discovery d;
    d.type_name = "http";
    auto tmpl = std::make_shared<config::Backend>();
    tmpl->priority = 5;
    config::HealthCheck hc;
    hc.type = "http";
    tmpl->healthchecks.push_back(config::CheckRef(hc));
    d.defaults = tmpl;
    return d;
}

std::string error_of(auto fn) {
    try {
        fn();
    } catch (const config::ConfigError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("http discovery: addresses and objects over the template", "[discovery]") {
    const auto d = http_source();
    const auto b = config::parse_discovered_list(
        R"(["192.0.2.1", {"address": "2001:db8::2", "port": 8443, "weight": 3, "meta": {"x": [1]},
            "country": "fr", "tags": ["a", "b"]}])",
        "http://registry/pool", d);
    REQUIRE(b.size() == 2);
    CHECK(b[0].address_text == "192.0.2.1");
    CHECK(b[0].priority == 5);
    CHECK(b[0].port == 0);
    CHECK(b[0].healthchecks.at(0)->port == 0);
    CHECK(b[1].address_text == "2001:db8::2");
    CHECK(b[1].port == 8443);
    CHECK(b[1].healthchecks.at(0)->port == 8443);  // the discovered port is probed
    CHECK(b[1].weight == 3);
    CHECK(b[1].countries == std::vector<std::string>{"FR"});
    CHECK(b[1].tags == std::vector<std::string>{"a", "b"});
}

TEST_CASE("http discovery: garbage and empty lists are errors", "[discovery]") {
    const auto d = http_source();
    for (const auto& tc : std::vector<std::pair<std::string, std::string>>{
             {"[]", "empty"},
             {"{\"a\": 1}", "expected a JSON list"},
             {"[\"nope\"]", "nope"},
             {"[{\"port\": 80}]", "needs an \"address\""},
             {"[{\"address\": \"192.0.2.1\", \"port\": 70000}]", "65535"},
             {"[{\"address\": \"192.0.2.1\", \"country\": \"France\"}]", "ISO 3166"},
             {"[1, [", "syntax error"}}) {
        // not a structured binding: clang 14 cannot capture one in the lambda below
        const std::string& text = tc.first;
        const std::string& needle = tc.second;
        INFO(text);
        const std::string e =
            error_of([&] { config::parse_discovered_list(text, "http://registry/pool", d); });
        CHECK(e.find(needle) != std::string::npos);
        CHECK(e.find("http://registry/pool") != std::string::npos);
    }
}

TEST_CASE("consul catalog: ServiceAddress, else Address, and ServicePort", "[discovery]") {
    const auto d = http_source();
    const auto b = config::parse_consul_catalog(
        R"([{"Node": "n1", "Address": "192.0.2.10", "ServiceAddress": "", "ServicePort": 8080},
            {"Node": "n2", "Address": "192.0.2.11", "ServiceAddress": "192.0.2.20", "ServicePort": 0}])",
        "consul", d);
    REQUIRE(b.size() == 2);
    CHECK(b[0].address_text == "192.0.2.10");
    CHECK(b[0].port == 8080);
    CHECK(b[1].address_text == "192.0.2.20");
    CHECK(b[1].port == 0);
    CHECK(error_of([&] { config::parse_consul_catalog("[]", "consul", d); }).find("no instances") !=
          std::string::npos);
    CHECK(error_of([&] {
              config::parse_consul_catalog(R"([{"Node": "x"}])", "consul", d);
          }).find("neither ServiceAddress nor Address") != std::string::npos);
}

TEST_CASE("PUT body: zone-file backends, list or {backends: [...]}", "[discovery]") {
    config::Zone z;
    z.name = "example.";
    auto profiles = std::make_shared<config::HealthProfiles>();
    config::HealthCheck tcp;
    tcp.type = "tcp";
    tcp.port = 81;
    profiles->emplace("p", tcp);
    z.profiles = profiles;
    auto b = config::parse_backend_list(
        R"({"backends": [{"address": "192.0.2.1", "healthchecks": ["p"]}]})", "request body", z);
    REQUIRE(b.size() == 1);
    CHECK(b[0].healthchecks.at(0)->port == 81);
    b = config::parse_backend_list(R"([{"address": "192.0.2.2"}, {"address": "192.0.2.3"}])",
                                   "request body", z);
    CHECK(b.size() == 2);
    CHECK(error_of([&] {
              config::parse_backend_list(R"([{"address": "192.0.2.1", "priorty": 1}])",
                                         "request body", z);
          }).find("request body:1:") != std::string::npos);
    CHECK(error_of([&] {
              config::parse_backend_list(R"([{"address": "192.0.2.1", "healthchecks": ["q"]}])",
                                         "request body", z);
          }).find("unknown health check profile 'q'") != std::string::npos);
    CHECK(error_of([&] {
              config::parse_backend_list("[]", "request body", z);
          }).find("at least one backend") != std::string::npos);
}

namespace {

// An SVCB answer for _web.example. with two RRs: one with port and ipv4hint, one without.
std::vector<std::uint8_t> svcb_reply(std::uint16_t id) {
    std::vector<std::uint8_t> m = {static_cast<std::uint8_t>(id >> 8),
                                   static_cast<std::uint8_t>(id),
                                   0x84,
                                   0x00,
                                   0,
                                   1,
                                   0,
                                   2,
                                   0,
                                   0,
                                   0,
                                   0};
    const std::uint8_t qname[] = {4, '_', 'w', 'e', 'b', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0};
    m.insert(m.end(), std::begin(qname), std::end(qname));
    m.insert(m.end(), {0, 64, 0, 1});
    // RR 1: owner pointer to the question, SVCB IN TTL 60, priority 1 target "." port=8443
    // ipv4hint=192.0.2.1,192.0.2.2
    const std::vector<std::uint8_t> rd1 = {0, 1, 0,   0, 3, 0, 2,   0x20, 0xFB, 0, 4,
                                           0, 8, 192, 0, 2, 1, 192, 0,    2,    2};
    m.insert(m.end(),
             {0xC0, 12, 0, 64, 0, 1, 0, 0, 0, 60, 0, static_cast<std::uint8_t>(rd1.size())});
    m.insert(m.end(), rd1.begin(), rd1.end());
    // RR 2: priority 2 target web2.example. (no params)
    const std::vector<std::uint8_t> rd2 = {0, 2, 4, 'w', 'e', 'b', '2', 0xC0, 17};
    m.insert(m.end(),
             {0xC0, 12, 0, 64, 0, 1, 0, 0, 0, 60, 0, static_cast<std::uint8_t>(rd2.size())});
    m.insert(m.end(), rd2.begin(), rd2.end());
    return m;
}

}  // namespace

TEST_CASE("SVCB answers: hints, port, priority, target", "[discovery]") {
    std::uint8_t qname[dns::kMaxNameWire];
    const std::size_t qlen = dns::name_from_text("_web.example.", qname);
    const auto msg = svcb_reply(0x1234);
    std::vector<discovery::SvcbAnswer> out;
    int rcode = -1;
    REQUIRE(discovery::parse_svcb_answer(msg, 0x1234, {qname, qlen}, 64, out, rcode));
    CHECK(rcode == 0);
    REQUIRE(out.size() == 2);
    CHECK(out[0].priority == 1);
    CHECK(out[0].port == 8443);
    REQUIRE(out[0].hints.size() == 2);
    CHECK(out[0].hints[1].to_string() == "192.0.2.2");
    CHECK(out[0].target == std::vector<std::uint8_t>(qname, qname + qlen));
    CHECK(out[1].priority == 2);
    CHECK(out[1].hints.empty());
    std::uint8_t web2[dns::kMaxNameWire];
    const std::size_t wlen = dns::name_from_text("web2.example.", web2);
    CHECK(out[1].target == std::vector<std::uint8_t>(web2, web2 + wlen));

    // wrong id, and every truncation of the message: refused, never read out of bounds
    out.clear();
    CHECK_FALSE(discovery::parse_svcb_answer(msg, 0x1235, {qname, qlen}, 64, out, rcode));
    for (std::size_t n = 0; n < msg.size(); ++n) {
        out.clear();
        CHECK_FALSE(
            discovery::parse_svcb_answer({msg.data(), n}, 0x1234, {qname, qlen}, 64, out, rcode));
    }
}
