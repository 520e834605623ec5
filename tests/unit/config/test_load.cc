// Loading good configurations: the shipped example, an unchanged CoreDNS-GSLB zone file, and
// the accepted spellings of durations, codes, ASNs and aliases.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <thread>
#include <utility>

#include "config/model.hh"
#include "test_util.hh"

using namespace gslbd;
using namespace gslbd::config;

namespace {

const Record& record(const Zone& z, const std::string& name) {
    for (const auto& r : z.records)
        if (r.name == name) return r;
    FAIL("record " << name << " not found");
    throw 0;
}

util::IpAddr ip(const char* text) {
    return *util::IpAddr::parse(text);
}

}  // namespace

TEST_CASE("examples/gslbd.yml loads into the expected model", "[config]") {
    const std::string path = test::source_root() + "/examples/gslbd.yml";
    Config cfg = load_config(path);

    CHECK(cfg.file == path);
    REQUIRE(cfg.udp.size() == 2);
    REQUIRE(cfg.tcp.size() == 2);
    CHECK(cfg.udp[0].addr == ip("127.0.0.1"));
    CHECK(cfg.udp[0].port == 5353);
    CHECK(cfg.udp[1].addr == ip("::1"));
    CHECK(cfg.tcp[1].port == 5353);
    CHECK(cfg.workers == 2);
    CHECK(cfg.log_level == "info");
    CHECK(cfg.edns_udp_size == 1232);
    CHECK(cfg.ecs_enabled);
    CHECK(cfg.ecs_trust.empty());
    CHECK(cfg.tcp_idle_timeout == Millis{10000});
    CHECK(cfg.tcp_max_connections == 1024);
    CHECK_FALSE(cfg.debug_txt);
    CHECK(cfg.country_db.empty());

    CHECK(cfg.location_map == test::source_root() + "/examples/location_map.yml");
    REQUIRE(cfg.locations.size() == 5);
    CHECK(cfg.locations[0].prefix == *util::IpPrefix::parse("127.0.0.0/8"));
    CHECK(cfg.locations[0].location == "eu-fra");
    CHECK(cfg.locations[2].prefix == *util::IpPrefix::parse("198.51.100.128/25"));
    CHECK(cfg.locations[2].location == "eu-fra");
    CHECK(cfg.locations[3].prefix == *util::IpPrefix::parse("2001:db8:100::/48"));
    CHECK(cfg.locations[3].pos.line == 9);
    CHECK(cfg.locations[4].location == "eu-ams");

    REQUIRE(cfg.zones.size() == 1);
    const Zone& z = cfg.zones[0];
    CHECK(z.name == "gslb.example.");
    CHECK(z.policy_file == test::source_root() + "/examples/gslb.example.yml");
    CHECK(z.soa.mname == "ns1.gslb.example.");
    CHECK(z.soa.rname == "hostmaster.gslb.example.");
    CHECK(z.soa.serial == 2026112201u);
    CHECK(z.soa.refresh == 3600);
    CHECK(z.soa.retry == 600);
    CHECK(z.soa.expire == 604800);
    CHECK(z.soa.minimum == 60);
    CHECK(z.soa.ttl == 3600);
    CHECK(z.ns_ttl == 3600);
    REQUIRE(z.ns.size() == 1);
    CHECK(z.ns[0].name == "ns1.gslb.example.");
    REQUIRE(z.ns[0].addresses.size() == 2);
    CHECK(z.ns[0].addresses[1] == ip("::1"));

    REQUIRE(z.records.size() == 5);
    const Record& www = record(z, "www.gslb.example.");
    CHECK(www.mode == "failover");
    CHECK(www.ttl == 30);
    CHECK(www.owner == "edge-team");  // inherited from defaults
    CHECK(www.description == "primary in fra, standby in ams");
    CHECK(www.scrape_interval == Millis{10000});
    CHECK(www.fallback.mode == FallbackMode::FailOpen);
    REQUIRE(www.backends.size() == 3);
    CHECK(www.backends[0].address == ip("192.0.2.10"));
    CHECK(www.backends[0].priority == 1);
    CHECK(www.backends[0].locations == std::vector<std::string>{"eu-fra"});
    CHECK(www.backends[1].priority == 2);
    CHECK(www.backends[2].address == ip("2001:db8::10"));
    CHECK(www.backends[2].address_text == "2001:db8::10");
    CHECK(www.backends[2].healthchecks.empty());
    CHECK(www.pos.file == z.policy_file);
    CHECK(www.pos.line == 10);

    CHECK(record(z, "rr.gslb.example.").mode == "round-robin");  // as written
    CHECK(record(z, "shuffle.gslb.example.").mode == "random");
    const Record& w = record(z, "weighted.gslb.example.");
    CHECK(w.mode == "weighted");
    CHECK(w.backends[0].weight == 8);
    CHECK(w.backends[1].weight == 2);
    const Record& geo = record(z, "geo.gslb.example.");
    CHECK(geo.mode == "geoip");
    CHECK(geo.backends[1].locations == std::vector<std::string>{"us-east"});
}

TEST_CASE("a CoreDNS-GSLB zone file is accepted unchanged", "[config]") {
    Config cfg = load_config(test::source_root() + "/tests/data/config/coredns-main.yml");

    // Main-file shapes: bare address (port 53, UDP+TCP) and a map with udp only.
    REQUIRE(cfg.udp.size() == 2);
    REQUIRE(cfg.tcp.size() == 1);
    CHECK(cfg.udp[0].port == 53);
    CHECK(cfg.udp[1].addr == ip("::1"));
    CHECK(cfg.udp[1].port == 5354);
    CHECK(cfg.tcp[0].addr == ip("127.0.0.1"));
    unsigned hw = std::thread::hardware_concurrency();
    CHECK(cfg.workers == std::clamp(hw, 1u, 256u));
    CHECK(cfg.log_level == "warn");

    REQUIRE(cfg.zones.size() == 1);
    const Zone& z = cfg.zones[0];
    CHECK(z.name == "gslb.example.com.");
    CHECK(z.soa.mname == "ns1.gslb.example.com.");  // first NS
    CHECK(z.soa.rname == "hostmaster.gslb.example.com.");
    CHECK(z.soa.serial == 1);
    REQUIRE(z.ns.size() == 2);
    CHECK(z.ns[1].addresses.empty());  // outside the zone: no glue needed
    REQUIRE(z.records.size() == 5);

    const Record& web = record(z, "webapp.gslb.example.com.");
    CHECK(web.mode == "failover");
    CHECK(web.owner == "admin");
    CHECK(web.ttl == 30);
    CHECK(web.scrape_interval == Millis{10000});
    CHECK(web.scrape_retries == 1);
    REQUIRE(web.backends.size() == 2);
    const Backend& b10 = web.backends[0];
    CHECK(b10.description == "webapp10");
    CHECK(b10.locations == std::vector<std::string>{"eu-west-1"});
    REQUIRE(b10.healthchecks.size() == 1);
    const HealthCheck& h = *b10.healthchecks[0];
    CHECK(h.type == "http");
    CHECK(h.supported);
    CHECK(h.port == 443);
    CHECK(h.host == "localhost");
    CHECK(h.headers.empty());
    CHECK(h.enable_tls);
    CHECK(h.skip_tls_verify);
    CHECK(h.expected_body.empty());
    REQUIRE(h.expected_codes.size() == 1);
    CHECK(h.expected_codes[0].lo == 200);
    CHECK(h.expected_codes[0].hi == 200);
    const Backend& b11 = web.backends[1];
    REQUIRE(b11.healthchecks.size() == 3);
    CHECK(b11.healthchecks[1]->type == "icmp");
    CHECK(b11.healthchecks[1]->count == 3);
    CHECK(b11.healthchecks[1]->timeout == Millis{2000});
    CHECK(b11.healthchecks[2]->type == "custom");
    CHECK_FALSE(b11.healthchecks[2]->supported);

    const Record& region = record(z, "webapp-geoip-region.gslb.example.com.");
    CHECK(region.mode == "geoip");
    CHECK(region.ttl == 30);
    CHECK(region.scrape_interval == Millis{15000});  // from defaults
    CHECK(region.scrape_retries == 2);
    CHECK(region.description == "edge records");
    CHECK(region.backends[0].locations == std::vector<std::string>{"eu-west-1"});
    CHECK(region.backends[0].countries.empty());
    CHECK(region.backends[1].countries == std::vector<std::string>{"FR"});
    CHECK(region.backends[1].cities == std::vector<std::string>{"Paris"});
    CHECK(region.backends[1].asns == std::vector<std::uint32_t>{12322, 3215});
    // Profiles by name, with the profile's rise/fall.
    const HealthCheck& prof = *region.backends[1].healthchecks.at(0);
    CHECK(prof.port == 8080);
    CHECK(prof.uri == "/health");
    CHECK(prof.rise == 2);
    CHECK(prof.fall == 3);
    CHECK(region.backends[0].healthchecks.at(0)->enable_tls);

    const Record& grpc = record(z, "webapp-grpc.gslb.example.com.");
    const Backend& g = grpc.backends.at(0);
    CHECK(g.continents == std::vector<std::string>{"EU"});
    CHECK(g.countries == std::vector<std::string>{"FR"});
    CHECK(g.asns == std::vector<std::uint32_t>{12345});
    CHECK(g.subdivisions == std::vector<std::string>{"IDF"});
    CHECK(g.has_coordinates);
    CHECK(g.latitude == 48.85);
    CHECK(g.longitude == 2.35);
    CHECK(g.assume_healthy);
    REQUIRE(g.healthchecks.size() == 1);
    CHECK(g.healthchecks[0]->type == "grpc");
    CHECK_FALSE(g.healthchecks[0]->supported);
    CHECK(grpc.ttl == 60);  // defaults.record_ttl

    const Record& app = record(z, "app.gslb.example.com.");
    CHECK(app.mode == "round-robin");  // as written
    CHECK(app.fallback.mode == FallbackMode::Ips);
    REQUIRE(app.fallback.ips.size() == 1);
    CHECK(app.fallback.ips[0] == ip("192.0.2.1"));
    CHECK(app.fallback.cname == "status.example.org.");
    CHECK(app.fallback.rcode == 2);
    CHECK(app.backends[0].port == 8080);
    CHECK(app.backends[0].weight == 50);
    CHECK(app.backends[0].rise == 2);
    CHECK(app.backends[0].tags == std::vector<std::string>{"blue", "canary"});

    const Record& status = record(z, "status.gslb.example.com.");
    CHECK(status.fallback.mode == FallbackMode::Rcode);  // block present, no mode
    CHECK(status.fallback.rcode == 3);
}

TEST_CASE("accepted spellings of durations, codes, headers and aliases", "[config]") {
    test::TempDir dir;
    dir.write("main.yml", R"(listen: ["[::1]:8053"]
tcp:
  idle_timeout: 1m30s
  max_connections: 1000000
ecs:
  enabled: no
  trust: [10.0.0.0/8, "2001:db8::/32"]
edns: {udp_size: 4096}
debug_txt: yes
zones:
  - name: example.
    policy: sub/policy.yml
    soa: {rname: admin.example.net, serial: 4294967295}
    ns:
      - name: ns1.example.
        addresses: 127.0.0.1
)");
    dir.write("sub/policy.yml", R"(healthcheck_profiles:
  dnsprobe:
    type: DNS
    params: {query_name: probe.example, query_type: AAAA, expected_rcode: nxdomain,
             expected_address: "::1", port: 5300}
records:
  a.example.:
    mode: Round-Robin
    scrape_interval: 500ms
    scrape_timeout: 2
    backends:
      - address: 127.0.0.1
        port: 8443
        timeout: 1.5s
        country: de
        continent: [NA, sa]
        asn: as64500
        city: [Berlin, Bonn]
        healthchecks:
          - type: https
            params:
              expected_code: [200, "300-399", 2xx]
              expected_body: "^ok( [0-9]+)?$"
              headers: ["X-Probe: gslbd", "Accept:text/plain"]
              client_cert: /etc/c.pem
              ca_file: /etc/ca.pem
              method: head
          - type: tcp
            params: {port: 22}
          - dnsprobe
          - type: lua
            params: {script: "return true", anything: [1, 2]}
  example.:
    mode: something-new
    fallback_policy: {mode: fallback_cname, fallback_cname: Status.Example.Net}
    backends:
      - address: "::1"
        healthchecks:
          - type: http
            params: {headers: {Host: a.example, X-A: b}, expected_code: "204"}
)");
    Config cfg = load_config(dir.path() + "/main.yml");
    CHECK(cfg.udp.at(0).port == 8053);
    CHECK(cfg.tcp_idle_timeout == Millis{90000});
    CHECK(cfg.tcp_max_connections == 1000000);
    CHECK_FALSE(cfg.ecs_enabled);
    REQUIRE(cfg.ecs_trust.size() == 2);
    CHECK(cfg.ecs_trust[1] == *util::IpPrefix::parse("2001:db8::/32"));
    CHECK(cfg.edns_udp_size == 4096);
    CHECK(cfg.debug_txt);
    const Zone& z = cfg.zones.at(0);
    CHECK(z.soa.rname == "admin.example.net.");
    CHECK(z.soa.serial == 4294967295u);
    CHECK(z.policy_file == dir.path() + "/sub/policy.yml");

    const Record& a = record(z, "a.example.");
    CHECK(a.mode == "Round-Robin");  // as written: gslb::resolve_policy() reads it
    CHECK(a.scrape_interval == Millis{500});
    CHECK(a.scrape_timeout == Millis{2000});
    const Backend& b = a.backends.at(0);
    CHECK(b.countries == std::vector<std::string>{"DE"});
    CHECK(b.continents == std::vector<std::string>{"NA", "SA"});
    CHECK(b.asns == std::vector<std::uint32_t>{64500});
    CHECK(b.cities == std::vector<std::string>{"Berlin", "Bonn"});
    CHECK(b.timeout == Millis{1500});
    REQUIRE(b.healthchecks.size() == 4);
    const HealthCheck& https = *b.healthchecks[0];
    CHECK(https.type == "https");
    CHECK(https.enable_tls);
    CHECK(https.port == 8443);             // from the backend's port
    CHECK(https.timeout == Millis{1500});  // the backend's timeout overrides
    CHECK(https.method == "HEAD");
    REQUIRE(https.expected_codes.size() == 3);
    CHECK(https.expected_codes[1].lo == 300);
    CHECK(https.expected_codes[1].hi == 399);
    CHECK(https.expected_codes[2].lo == 200);
    CHECK(https.expected_codes[2].hi == 299);
    CHECK(https.expected_body == "^ok( [0-9]+)?$");
    REQUIRE(https.headers.size() == 2);
    CHECK(https.headers[1].first == "Accept");
    CHECK(https.headers[1].second == "text/plain");
    CHECK(https.tls_cert == "/etc/c.pem");
    CHECK(https.tls_ca == "/etc/ca.pem");
    CHECK(b.healthchecks[1]->port == 22);  // its own port wins
    const HealthCheck& dns = *b.healthchecks[2];
    CHECK(dns.type == "dns");
    CHECK(dns.query_name == "probe.example.");
    CHECK(dns.query_type == 28);
    CHECK(dns.expected_rcode == 3);
    CHECK(dns.expected_address == ip("::1"));
    CHECK(dns.port == 5300);
    CHECK_FALSE(b.healthchecks[3]->supported);

    const Record& apex = record(z, "example.");
    CHECK(apex.mode == "something-new");  // kept; the gslb module decides
    CHECK(apex.fallback.mode == FallbackMode::Cname);
    CHECK(apex.fallback.cname == "status.example.net.");
    const HealthCheck& h = *apex.backends.at(0).healthchecks.at(0);
    REQUIRE(h.headers.size() == 2);
    CHECK(h.headers[0] == std::pair<std::string, std::string>{"Host", "a.example"});
    CHECK(h.expected_codes.at(0).lo == 204);
}

TEST_CASE("normalize_name lower-cases, adds the root dot and rejects bad names", "[config]") {
    SourcePos pos{"f.yml", 3, 5};
    CHECK(normalize_name("WWW.Example.COM", pos, "x") == "www.example.com.");
    CHECK(normalize_name("a-b_c.example.", pos, "x") == "a-b_c.example.");
    CHECK(normalize_name(".", pos, "x") == ".");
    CHECK_THROWS_WITH(normalize_name("a..b", pos, "zones[0].name"),
                      "f.yml:3:5: zones[0].name: 'a..b' is not a valid domain name: empty label");
    CHECK_THROWS_AS(normalize_name("", pos, "x"), ConfigError);
    CHECK_THROWS_AS(normalize_name("sp ace.example", pos, "x"), ConfigError);
    CHECK_THROWS_AS(normalize_name(std::string(64, 'a') + ".example", pos, "x"), ConfigError);
    CHECK_NOTHROW(normalize_name(std::string(63, 'a') + ".example", pos, "x"));
    std::string long_name;
    for (int i = 0; i < 5; ++i) long_name += std::string(50, 'a') + ".";
    CHECK_THROWS_AS(normalize_name(long_name + "example", pos, "x"), ConfigError);
}

TEST_CASE("failover_policy: CoreDNS-GSLB's current modes; fallback_policy the older spelling",
          "[config]") {
    test::TempDir dir;
    dir.write("main.yml", R"(listen: ["127.0.0.1:8053"]
zones:
  - name: example.
    policy: policy.yml
    ns: [{name: ns1.example., addresses: 127.0.0.1}]
)");
    dir.write("policy.yml", R"(records:
  none.example.:
    backends: [{address: 192.0.2.1}]
  open.example.:
    failover_policy: {mode: fail-open}
    backends: [{address: 192.0.2.1}]
  bare.example.:
    failover_policy: {}
    backends: [{address: 192.0.2.1}]
  closed.example.:
    failover_policy: {mode: fail-closed, rcode: NXDOMAIN}
    backends: [{address: 192.0.2.1}]
  closed-default.example.:
    failover_policy: {mode: "FAIL-CLOSED"}
    backends: [{address: 192.0.2.1}]
  ips.example.:
    failover_policy: {mode: fail-specific, fallback_ips: ["1.2.3.4", "2001:db8::1"]}
    backends: [{address: 192.0.2.1}]
  cname.example.:
    failover_policy: {mode: fail-specific, fallback_cname: backup.cdn.example.net,
                      fallback_ips: ["1.2.3.4"]}
    backends: [{address: 192.0.2.1}]
  select.example.:
    failover_policy: {mode: fail-open-select}
    backends: [{address: 192.0.2.1}]
  older.example.:
    fallback_policy: {mode: fail-closed, rcode: REFUSED}
    backends: [{address: 192.0.2.1}]
)");
    Config cfg = load_config(dir.path() + "/main.yml");
    const auto& z = cfg.zones.at(0);
    auto rec = [&](const std::string& n) -> const Record& {
        for (const auto& r : z.records)
            if (r.name == n) return r;
        FAIL("no record " << n);
        throw 0;
    };
    CHECK(rec("none.example.").fallback.mode == FallbackMode::FailOpen);
    CHECK(rec("open.example.").fallback.mode == FallbackMode::FailOpen);
    CHECK(rec("bare.example.").fallback.mode == FallbackMode::FailOpen);  // new key's default
    CHECK(rec("closed.example.").fallback.mode == FallbackMode::Rcode);
    CHECK(rec("closed.example.").fallback.rcode == 3);
    CHECK(rec("closed-default.example.").fallback.rcode == 2);
    CHECK(rec("ips.example.").fallback.mode == FallbackMode::Ips);
    CHECK(rec("ips.example.").fallback.ips.size() == 2);
    CHECK(rec("cname.example.").fallback.mode == FallbackMode::Cname);  // CNAME wins
    CHECK(rec("cname.example.").fallback.cname == "backup.cdn.example.net.");
    CHECK(rec("select.example.").fallback.mode == FallbackMode::FailOpenSelect);
    CHECK(rec("older.example.").fallback.mode == FallbackMode::Rcode);
    CHECK(rec("older.example.").fallback.rcode == 5);
}

TEST_CASE("geo_priority: all by default, best from defaults or the record, positions kept",
          "[config]") {
    test::TempDir dir;
    dir.write("main.yml", R"(listen: ["127.0.0.1:8053"]
zones:
  - name: example.
    policy: policy.yml
    ns: [{name: ns1.example., addresses: 127.0.0.1}]
  - name: other.
    policy: other.yml
    ns: [{name: ns1.example., addresses: 127.0.0.1}]
)");
    dir.write("policy.yml", R"(records:
  plain.example.:
    mode: geoip
    backends: [{address: 192.0.2.1}]
  best.example.:
    mode: geoip
    geo_priority: BEST
    backends: [{address: 192.0.2.1}]
  all.example.:
    mode: geoip
    geo_priority: all
    backends: [{address: 192.0.2.1}]
)");
    dir.write("other.yml", R"(defaults:
  geo_priority: best
records:
  inherits.other.:
    mode: geoip
    backends: [{address: 192.0.2.1}]
  back.other.:
    mode: geoip
    geo_priority: all
    backends: [{address: 192.0.2.1}]
  failover.other.:
    backends: [{address: 192.0.2.1}]
)");
    Config cfg = load_config(dir.path() + "/main.yml");
    auto rec = [&](std::size_t zone, const std::string& n) -> const Record& {
        for (const auto& r : cfg.zones.at(zone).records)
            if (r.name == n) return r;
        FAIL("no record " << n);
        throw 0;
    };
    CHECK(rec(0, "plain.example.").geo_priority == GeoPriority::All);
    CHECK(rec(0, "plain.example.").geo_priority_line == 0);
    CHECK(rec(0, "best.example.").geo_priority == GeoPriority::Best);
    CHECK(rec(0, "best.example.").geo_priority_line == 7);
    CHECK(rec(0, "best.example.").geo_priority_column == 19);
    CHECK(rec(0, "all.example.").geo_priority == GeoPriority::All);
    CHECK(rec(0, "all.example.").geo_priority_line == 11);
    // the file's defaults: inherited (not written on the record), and overridden
    CHECK(rec(1, "inherits.other.").geo_priority == GeoPriority::Best);
    CHECK(rec(1, "inherits.other.").geo_priority_line == 0);
    CHECK(rec(1, "back.other.").geo_priority == GeoPriority::All);
    CHECK(rec(1, "failover.other.").geo_priority == GeoPriority::Best);
    CHECK(rec(1, "failover.other.").geo_priority_line == 0);  // other modes: not refused
}

TEST_CASE("the other spellings: svcb_alpn, location_subdivisions (issue 15)", "[config]") {
    test::TempDir dir;
    dir.write("main.yml", R"(listen: ["127.0.0.1:8053"]
zones:
  - name: example.
    policy: policy.yml
    ns: [{name: ns1.example., addresses: 127.0.0.1}]
)");
    dir.write("policy.yml", R"(defaults:
  svcb_alpn: [h3]
records:
  web.example.:
    svcb_alpn: ["h2", "http/1.1"]
    backends:
      - address: 192.0.2.1
        location_subdivisions: ["CA", "US-NY"]
        subdivision: IDF
  plain.example.:
    backends: [{address: 192.0.2.2}]
)");
    Config cfg = load_config(dir.path() + "/main.yml");
    const auto& z = cfg.zones.at(0);
    const Record* web = nullptr;
    const Record* plain = nullptr;
    for (const auto& r : z.records) (r.name == "web.example." ? web : plain) = &r;
    REQUIRE(web != nullptr);
    REQUIRE(plain != nullptr);
    CHECK(std::vector<std::string>(web->alpn.begin(), web->alpn.end()) ==
          std::vector<std::string>{"h2", "http/1.1"});
    CHECK(std::vector<std::string>(plain->alpn.begin(), plain->alpn.end()) ==
          std::vector<std::string>{"h3"});
    const auto& subs = web->backends.at(0).subdivisions;
    CHECK(std::vector<std::string>(subs.begin(), subs.end()) ==
          std::vector<std::string>{"IDF", "CA", "US-NY"});
}

TEST_CASE("a reload shares the records that did not change (issue 20)", "[config]") {
    test::TempDir dir;
    dir.write("profiles.yml", "healthcheck_profiles:\n  web: {type: http, params: {uri: /a}}\n");
    const std::string main = R"(listen: [127.0.0.1:5353]
healthcheck_profiles: profiles.yml
zones:
  - name: example.
    policy: policy.yml
    ns:
      - name: ns1.example.
        addresses: 127.0.0.1
)";
    dir.write("main.yml", main);
    auto policy = [](const char* b_address, const char* extra) {
        return std::string(
                   "records:\n"
                   "  a.example.:\n    backends: [{address: 192.0.2.1}]\n"
                   "  b.example.:\n    backends: [{address: ") +
               b_address + "}]\n" +
               "  c.example.:\n    backends: [{address: 192.0.2.3, healthchecks: [web]}]\n" + extra;
    };
    dir.write("policy.yml", policy("192.0.2.2", ""));
    const Config first = load_config(dir.path() + "/main.yml");
    const auto& one = first.zones[0].records;
    REQUIRE(one.size() == 3);

    SECTION("one record changed: the others are the same objects") {
        dir.write("policy.yml", policy("192.0.2.22", ""));
        const Config second = load_config(dir.path() + "/main.yml", &first);
        const auto& two = second.zones[0].records;
        REQUIRE(two.size() == 3);
        CHECK(&two[0] == &one[0]);
        CHECK(&two[1] != &one[1]);
        CHECK(two[1].backends.at(0).address_text == "192.0.2.22");
        CHECK(two[1].source_hash != one[1].source_hash);
        CHECK(&two[2] == &one[2]);
        CHECK(two.shared_with(one) == 2);
        // writing to a shared record copies it: the first configuration does not change
        Config third = second;
        third.zones[0].records.edit(0).ttl = 99;
        CHECK(third.zones[0].records[0].ttl == 99);
        CHECK(one[0].ttl == 30);
        CHECK(&std::as_const(third.zones[0].records)[0] != &one[0]);
    }
    SECTION("a record added above the others moves them: parsed again, right positions") {
        dir.write("policy.yml", "# a comment line\n" + policy("192.0.2.2", ""));
        const Config second = load_config(dir.path() + "/main.yml", &first);
        const auto& two = second.zones[0].records;
        CHECK(two.shared_with(one) == 0);
        CHECK(two[0].pos.line == one[0].pos.line + 1);
        CHECK(two[0].source_hash == one[0].source_hash);  // counted as unchanged
    }
    SECTION("a record added at the end: the others shared") {
        dir.write("policy.yml",
                  policy("192.0.2.2", "  d.example.:\n    backends: [{address: 192.0.2.4}]\n"));
        const Config second = load_config(dir.path() + "/main.yml", &first);
        CHECK(second.zones[0].records.size() == 4);
        CHECK(second.zones[0].records.shared_with(one) == 3);
    }
    SECTION("a changed global profile: the record naming it is parsed again") {
        dir.write("profiles.yml",
                  "healthcheck_profiles:\n  web: {type: http, params: {uri: /b}}\n");
        const Config second = load_config(dir.path() + "/main.yml", &first);
        const auto& two = second.zones[0].records;
        CHECK(two[2].backends.at(0).healthchecks.at(0)->uri == "/b");
        CHECK(one[2].backends.at(0).healthchecks.at(0)->uri == "/a");
        CHECK(&two[2] != &one[2]);
    }
    SECTION("a changed `defaults`: every record is parsed again") {
        dir.write("policy.yml", "defaults: {record_ttl: 60}\n" + policy("192.0.2.2", ""));
        const Config second = load_config(dir.path() + "/main.yml", &first);
        CHECK(second.zones[0].records.shared_with(one) == 0);
        CHECK(second.zones[0].records[0].ttl == 60);
    }
}

namespace {

// Everything a record reads from its YAML, positions included: an incremental reload must
// give what a fresh load of the same files gives.
void check_same(const Record& a, const Record& b) {
    INFO("record " << a.name);
    CHECK(a.name == b.name);
    CHECK(a.mode == b.mode);
    CHECK(a.ttl == b.ttl);
    CHECK(a.owner == b.owner);
    CHECK(a.description == b.description);
    CHECK(a.source_hash == b.source_hash);
    CHECK(a.pos.to_string() == b.pos.to_string());
    CHECK(a.geo_priority == b.geo_priority);
    CHECK(a.geo_priority_line == b.geo_priority_line);
    CHECK(a.gradual.slow_start.window == b.gradual.slow_start.window);
    CHECK(a.gradual.slow_start.pos.to_string() == b.gradual.slow_start.pos.to_string());
    REQUIRE(a.backends.size() == b.backends.size());
    for (std::size_t i = 0; i < a.backends.size(); ++i) {
        const Backend& x = a.backends[i];
        const Backend& y = b.backends[i];
        CHECK(x.address_text == y.address_text);
        CHECK(x.priority == y.priority);
        CHECK(x.weight == y.weight);
        CHECK(x.pos.to_string() == y.pos.to_string());
        REQUIRE(x.healthchecks.size() == y.healthchecks.size());
        for (std::size_t j = 0; j < x.healthchecks.size(); ++j) {
            CHECK(x.healthchecks[j]->uri == y.healthchecks[j]->uri);
            CHECK(x.healthchecks[j].pos().to_string() == y.healthchecks[j].pos().to_string());
        }
    }
}

void check_same(const Config& incremental, const Config& fresh) {
    REQUIRE(incremental.zones.size() == fresh.zones.size());
    for (std::size_t z = 0; z < fresh.zones.size(); ++z) {
        REQUIRE(incremental.zones[z].records.size() == fresh.zones[z].records.size());
        for (std::size_t i = 0; i < fresh.zones[z].records.size(); ++i)
            check_same(incremental.zones[z].records[i], fresh.zones[z].records[i]);
    }
}

std::string rec_text(const std::string& name, const std::string& address, int ttl = 0) {
    std::string s = "  " + name + ":\n    mode: failover\n";
    if (ttl != 0) s += "    record_ttl: " + std::to_string(ttl) + "\n";
    s += "    backends:\n      - address: " + address +
         "\n        priority: 1\n        healthchecks: [web]\n      - address: 192.0.2.200\n"
         "        priority: 2\n";
    return s;
}

}  // namespace

TEST_CASE("a reload parses only the records whose text changed (issue 20)", "[config]") {
    test::TempDir dir;
    dir.write("main.yml", R"(listen: [127.0.0.1:5353]
zones:
  - name: example.
    policy: policy.yml
    ns:
      - name: ns1.example.
        addresses: 127.0.0.1
)");
    const std::string head =
        "# a zone file\ndefaults:\n  record_ttl: 30\n  slow_start: {window: 5m}\n"
        "healthcheck_profiles:\n  web: {type: http, params: {uri: /a}}\nrecords:\n";
    std::vector<std::string> recs;
    for (int i = 0; i < 6; ++i)
        recs.push_back(
            rec_text("r" + std::to_string(i) + ".example.", "192.0.2." + std::to_string(i + 1)));
    // a line number kept outside SourcePos (moved records must shift it too)
    recs[5].insert(recs[5].find("    backends:"), "    geo_priority: best\n");
    auto policy = [&](const std::string& h, const std::vector<std::string>& rs) {
        std::string s = h;
        for (const auto& r : rs) s += r;
        return s;
    };
    dir.write("policy.yml", policy(head, recs));
    const Config first = load_config(dir.path() + "/main.yml");
    CHECK(first.load_stats.files_split == 1);
    CHECK(first.load_stats.parsed == 6);
    const auto& one = first.zones[0].records;
    REQUIRE(one.size() == 6);

    // The incremental load next to a fresh one of the same files.
    auto reload = [&](const std::string& text) {
        dir.write("policy.yml", text);
        Config inc = load_config(dir.path() + "/main.yml", &first);
        const Config fresh = load_config(dir.path() + "/main.yml");
        check_same(inc, fresh);
        return inc;
    };

    SECTION("one record changed in place: only it is parsed") {
        auto r = recs;
        r[3] = rec_text("r3.example.", "192.0.2.99");
        const Config two = reload(policy(head, r));
        CHECK(two.load_stats.parsed == 1);
        CHECK(two.load_stats.shared == 5);
        CHECK(two.zones[0].records.shared_with(one) == 5);
        CHECK(two.zones[0].records[3].backends[0].address_text == "192.0.2.99");
    }
    SECTION("a record that grows moves the ones below it: copied with their lines, not parsed") {
        auto r = recs;
        r[1] = rec_text("r1.example.", "192.0.2.2", 60);  // one line more
        const Config two = reload(policy(head, r));
        CHECK(two.load_stats.parsed == 1);
        CHECK(two.load_stats.shared == 1);
        CHECK(two.load_stats.moved == 4);
        CHECK(two.zones[0].records[2].pos.line == one[2].pos.line + 1);
        CHECK(two.zones[0].records[5].geo_priority_line == one[5].geo_priority_line + 1);
        CHECK(two.zones[0].records[2].backends[1].pos.line == one[2].backends[1].pos.line + 1);
        // inherited from `defaults`: where it was written, not moved
        CHECK(two.zones[0].records[2].gradual.slow_start.pos.line ==
              one[2].gradual.slow_start.pos.line);
    }
    SECTION("records added, removed and reordered") {
        std::vector<std::string> r = {recs[5], recs[0], rec_text("new.example.", "192.0.2.50"),
                                      recs[2], recs[4]};
        const Config two = reload(policy(head, r));
        CHECK(two.load_stats.parsed == 1);
        CHECK(two.load_stats.shared + two.load_stats.moved == 4);
        CHECK(two.zones[0].records.size() == 5);
    }
    SECTION("changed defaults reach every record") {
        std::string h = head;
        h.replace(h.find("record_ttl: 30"), 14, "record_ttl: 45");
        const Config two = reload(policy(h, recs));
        CHECK(two.load_stats.parsed == 6);
        for (const auto& rec : two.zones[0].records) CHECK(rec.ttl == 45);
    }
    SECTION("a changed profile reaches every record") {
        std::string h = head;
        h.replace(h.find("uri: /a"), 7, "uri: /b");
        const Config two = reload(policy(h, recs));
        CHECK(two.load_stats.parsed == 6);
        CHECK(two.zones[0].records[0].backends[0].healthchecks[0]->uri == "/b");
    }
    SECTION("a comment between records moves the ones below it") {
        auto r = recs;
        r[2] += "# a note\n";  // part of r2's lines: r2 is parsed again
        const Config two = reload(policy(head, r));
        CHECK(two.load_stats.parsed == 1);
        CHECK(two.load_stats.shared == 2);
        CHECK(two.load_stats.moved == 3);
        CHECK(two.zones[0].records[5].pos.line == one[5].pos.line + 1);
    }
    SECTION("a line added to the head (above `records:`): every record moved, none parsed") {
        const Config two = reload("# one more line\n" + policy(head, recs));
        CHECK(two.load_stats.parsed == 0);
        CHECK(two.load_stats.moved == 6);
        CHECK(two.zones[0].records[0].pos.line == one[0].pos.line + 1);
        // inherited from `defaults`, which moved too
        CHECK(two.zones[0].records[2].gradual.slow_start.pos.line ==
              one[2].gradual.slow_start.pos.line + 1);
    }
    SECTION("a bad record: its error names file, line and column; the old load is untouched") {
        auto r = recs;
        r[4] = "  r4.example.:\n    mode: failover\n    backends:\n      - adress: 192.0.2.5\n";
        dir.write("policy.yml", policy(head, r));
        // the head is 7 lines, a record 8: r4's key is on line 40, `adress` on 43, column 9
        CHECK_THROWS_WITH(load_config(dir.path() + "/main.yml", &first),
                          Catch::Contains("policy.yml:43:9: records.\"r4.example.\".backends[0]."
                                          "adress: unknown key 'adress'"));
        CHECK(one[4].backends[0].address_text == "192.0.2.5");
    }
    SECTION("a YAML syntax error in one record: file, line and column") {
        auto r = recs;
        r[2] = "  r2.example.:\n    mode: [failover\n    backends: []\n";
        dir.write("policy.yml", policy(head, r));
        try {
            (void)load_config(dir.path() + "/main.yml", &first);
            FAIL("no error");
        } catch (const ConfigError& e) {
            CHECK(e.pos().file.str() == dir.path() + "/policy.yml");
            CHECK(e.pos().line >= 25);  // r2's key is on line 24, the open list on 25
            CHECK(std::string(e.what()).find("YAML syntax error") != std::string::npos);
        }
    }
    SECTION("a duplicated record name is found as before") {
        auto r = recs;
        r.push_back(recs[1]);
        dir.write("policy.yml", policy(head, r));
        CHECK_THROWS_WITH(load_config(dir.path() + "/main.yml", &first),
                          Catch::Contains("policy.yml:57:3: records.\"r1.example.\": duplicate "
                                          "key (first at line 16)"));
    }
    SECTION("files that cannot be cut are read whole, with the same result") {
        // an alias ties two records together
        std::string text = policy(head, recs);
        text.replace(text.find("mode: failover"), 14, "mode: &m failover");
        text.replace(text.rfind("mode: failover"), 14, "mode: *m");
        const Config two = reload(text);
        CHECK(two.load_stats.files_whole == 1);
        CHECK(two.load_stats.files_split == 0);
        // a top-level key after the records
        const Config three = reload(
            policy("healthcheck_profiles:\n  web: {type: http, params: {uri: /a}}\nrecords:\n",
                   recs) +
            "defaults: {record_ttl: 9}\n");
        CHECK(three.load_stats.files_whole == 1);
        CHECK(three.zones[0].records[0].ttl == 9);
    }
}

TEST_CASE("RecordList::shared_with counts the shared records wherever they moved", "[config]") {
    RecordList one;
    for (const char* n : {"a.example.", "b.example.", "c.example.", "d.example."}) {
        Record r;
        r.name = n;
        one.push_back(std::move(r));
    }
    auto list = [&one](std::initializer_list<int> order) {  // -1: a new record
        RecordList l;
        for (int i : order) {
            if (i < 0)
                l.push_back(Record{});
            else
                l.push_back(one.shared(static_cast<std::size_t>(i)));
        }
        return l;
    };
    CHECK(list({0, 1, 2, 3}).shared_with(one) == 4);
    CHECK(list({0, 1, -1, 3}).shared_with(one) == 3);     // changed in place
    CHECK(list({3, 2, 1, 0}).shared_with(one) == 4);      // reversed
    CHECK(list({1, 2, 3}).shared_with(one) == 3);         // the first removed: all moved
    CHECK(list({0, 1, -1, 2, 3}).shared_with(one) == 4);  // one inserted
    CHECK(list({0, 1}).shared_with(one) == 2);            // a shorter list
    CHECK(one.shared_with(list({0, 1})) == 2);            // a longer one
    CHECK(list({-1, -1}).shared_with(one) == 0);
    CHECK(list({}).shared_with(one) == 0);
    CHECK(list({2, 3, 0, 1, -1, -1}).shared_with(one) == 4);
}
