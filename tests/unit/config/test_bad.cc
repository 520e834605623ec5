// Bad configurations: each one must fail with "FILE:LINE:COL: FIELD: PROBLEM" pointing at the
// offending key or value.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "config/model.hh"
#include "test_util.hh"

using namespace gslbd;
using namespace gslbd::config;

namespace {

const char* const kMain = R"(listen: [127.0.0.1:5353]
zones:
  - name: example.
    policy: policy.yml
    ns:
      - name: ns1.example.
        addresses: [127.0.0.1]
)";

const char* const kPolicy = R"(records:
  www.example.:
    backends:
      - address: 192.0.2.1
)";

struct BadCase {
    const char* what;
    std::string main = kMain;
    std::string policy = kPolicy;
    std::string location_map;  // written as map.yml when not empty
    // expected
    const char* file;  // main.yml, policy.yml or map.yml
    int line, column;
    const char* field;    // "" for YAML syntax errors
    const char* problem;  // start of the problem text
};

// The main file with `extra` inserted after the listen line.
std::string main_with(const std::string& extra) {
    std::string m = kMain;
    auto nl = m.find('\n');
    return m.substr(0, nl + 1) + extra + m.substr(nl + 1);
}

// A policy file with one record www.example. whose single backend has `backend_extra` lines.
std::string backend_with(const std::string& backend_extra) {
    return std::string(kPolicy) + backend_extra;
}

const std::vector<BadCase>& cases() {
    static const std::vector<BadCase> all = {
        {.what = "YAML syntax error",
         .main = "listen: [127.0.0.1:5353\nzones: []\n",
         .file = "main.yml",
         .line = 2,
         .column = 6,
         .field = "",
         .problem = "YAML syntax error: "},
        {.what = "unknown key in the main file",
         .main = "listn: [127.0.0.1]\n",
         .file = "main.yml",
         .line = 1,
         .column = 1,
         .field = "listn",
         .problem = "unknown key 'listn' (did you mean 'listen'?)"},
        {.what = "empty main file",
         .main = "# nothing\n",
         .file = "main.yml",
         .line = 1,
         .column = 1,
         .field = "",
         .problem = "the configuration is empty"},
        {.what = "missing listen",
         .main = "zones: []\n",
         .file = "main.yml",
         .line = 1,
         .column = 1,
         .field = "listen",
         .problem = "required key is missing"},
        {.what = "empty listen",
         .main = "listen: []\n",
         .file = "main.yml",
         .line = 1,
         .column = 9,
         .field = "listen",
         .problem = "at least one listener is required"},
        {.what = "bad listen address",
         .main = "listen: [127.0.0.300]\n",
         .file = "main.yml",
         .line = 1,
         .column = 10,
         .field = "listen[0]",
         .problem = "bad listen address '127.0.0.300'"},
        {.what = "bad listen port",
         .main = "listen:\n  - 127.0.0.1:53\n  - \"[::1]:70000\"\n",
         .file = "main.yml",
         .line = 3,
         .column = 5,
         .field = "listen[1]",
         .problem = "bad listen address '[::1]:70000'"},
        {.what = "listener port out of range",
         .main = "listen:\n  - address: 127.0.0.1\n    port: 0\n",
         .file = "main.yml",
         .line = 3,
         .column = 11,
         .field = "listen[0].port",
         .problem = "0 is out of range 1..65535"},
        {.what = "listener that does nothing",
         .main = "listen:\n  - {address: 127.0.0.1, udp: false, tcp: off}\n",
         .file = "main.yml",
         .line = 2,
         .column = 5,
         .field = "listen[0]",
         .problem = "udp and tcp are both false"},
        {.what = "missing zones",
         .main = "listen: [127.0.0.1]\n",
         .file = "main.yml",
         .line = 1,
         .column = 1,
         .field = "zones",
         .problem = "required key is missing"},
        {.what = "empty zones",
         .main = "listen: [127.0.0.1]\nzones: []\n",
         .file = "main.yml",
         .line = 2,
         .column = 8,
         .field = "zones",
         .problem = "at least one zone is required"},
        {.what = "workers out of range",
         .main = main_with("workers: 0\n"),
         .file = "main.yml",
         .line = 2,
         .column = 10,
         .field = "workers",
         .problem = "0 is out of range 1..256"},
        {.what = "workers not a number",
         .main = main_with("workers: many\n"),
         .file = "main.yml",
         .line = 2,
         .column = 10,
         .field = "workers",
         .problem = "expected an integer in 1..256 or \"auto\", got 'many'"},
        {.what = "bad log level",
         .main = main_with("log_level: loud\n"),
         .file = "main.yml",
         .line = 2,
         .column = 12,
         .field = "log_level",
         .problem = "unknown log level 'loud'"},
        {.what = "EDNS size out of range",
         .main = main_with("edns:\n  udp_size: 100\n"),
         .file = "main.yml",
         .line = 3,
         .column = 13,
         .field = "edns.udp_size",
         .problem = "100 is out of range 512..4096"},
        {.what = "bad ECS prefix",
         .main = main_with("ecs:\n  trust: [10.0.0.1/8]\n"),
         .file = "main.yml",
         .line = 3,
         .column = 11,
         .field = "ecs.trust[0]",
         .problem = "'10.0.0.1/8' has host bits set after the prefix length (did you mean "
                    "10.0.0.0/8?)"},
        {.what = "not a prefix",
         .main = main_with("ecs: {trust: [\"2001:db8::/129\"]}\n"),
         .file = "main.yml",
         .line = 2,
         .column = 15,
         .field = "ecs.trust[0]",
         .problem = "'2001:db8::/129' is not a prefix"},
        {.what = "bad boolean",
         .main = main_with("ecs: {enabled: sometimes}\n"),
         .file = "main.yml",
         .line = 2,
         .column = 16,
         .field = "ecs.enabled",
         .problem = "expected a boolean (true or false), got 'sometimes'"},
        {.what = "bad duration",
         .main = main_with("tcp:\n  idle_timeout: 10 sec\n"),
         .file = "main.yml",
         .line = 3,
         .column = 17,
         .field = "tcp.idle_timeout",
         .problem = "bad duration '10 sec'"},
        {.what = "zero duration",
         .main = main_with("tcp:\n  idle_timeout: 0s\n"),
         .file = "main.yml",
         .line = 3,
         .column = 17,
         .field = "tcp.idle_timeout",
         .problem = "duration '0s' is too short"},
        {.what = "max_connections out of range",
         .main = main_with("tcp: {max_connections: 2000000}\n"),
         .file = "main.yml",
         .line = 2,
         .column = 24,
         .field = "tcp.max_connections",
         .problem = "2000000 is out of range 1..1000000"},
        {.what = "missing location map",
         .main = main_with("geoip:\n  location_map: nope.yml\n"),
         .file = "main.yml",
         .line = 3,
         .column = 17,
         .field = "geoip.location_map",
         .problem = "file not found: '"},
        {.what = "unknown key under geoip",
         .main = main_with("geoip:\n  country: x.mmdb\n"),
         .file = "main.yml",
         .line = 3,
         .column = 3,
         .field = "geoip.country",
         .problem = "unknown key 'country'"},
        {.what = "missing policy file",
         .main = "listen: [127.0.0.1]\nzones:\n  - name: example.\n    policy: missing.yml\n"
                 "    ns: [{name: ns.example.net.}]\n",
         .file = "main.yml",
         .line = 4,
         .column = 13,
         .field = "zones[0].policy",
         .problem = "cannot read '"},
        {.what = "bad zone name",
         .main = "listen: [127.0.0.1]\nzones:\n  - name: exa$mple.\n"
                 "    ns: [{name: ns.example.net.}]\n",
         .file = "main.yml",
         .line = 3,
         .column = 11,
         .field = "zones[0].name",
         .problem = "'exa$mple.' is not a valid domain name"},
        {.what = "duplicate zone",
         .main = "listen: [127.0.0.1]\nzones:\n  - name: example.\n"
                 "    ns: [{name: ns.example.net.}]\n  - name: EXAMPLE\n"
                 "    ns: [{name: ns.example.net.}]\n",
         .file = "main.yml",
         .line = 5,
         .column = 11,
         .field = "zones[1].name",
         .problem = "zone 'example.' is already defined at line 3"},
        {.what = "zone without name servers",
         .main = "listen: [127.0.0.1]\nzones:\n  - name: example.\n    ns: []\n",
         .file = "main.yml",
         .line = 4,
         .column = 9,
         .field = "zones[0].ns",
         .problem = "at least one name server is required"},
        {.what = "in-zone name server without glue",
         .main = "listen: [127.0.0.1]\nzones:\n  - name: example.\n    ns:\n"
                 "      - name: ns1.example.\n",
         .file = "main.yml",
         .line = 5,
         .column = 9,
         .field = "zones[0].ns[0]",
         .problem = "name server ns1.example. is inside the zone, so it needs addresses"},
        {.what = "bad glue address",
         .main = "listen: [127.0.0.1]\nzones:\n  - name: example.\n    ns:\n"
                 "      - name: ns1.example.\n        addresses: [127.0.0.1, ns.example.net]\n",
         .file = "main.yml",
         .line = 6,
         .column = 32,
         .field = "zones[0].ns[0].addresses[1]",
         .problem = "'ns.example.net' is not an IPv4 or IPv6 address"},
        {.what = "SOA serial out of range",
         .main = "listen: [127.0.0.1]\nzones:\n  - name: example.\n    soa:\n"
                 "      serial: 4294967296\n    ns: [{name: ns.example.net.}]\n",
         .file = "main.yml",
         .line = 5,
         .column = 15,
         .field = "zones[0].soa.serial",
         .problem = "4294967296 is out of range 0..4294967295"},
        // Zone policy files.
        {.what = "YAML syntax error in a policy file",
         .policy = "records:\n  www.example.:\n    backends:\n      - address: [192.0.2.1\n",
         .file = "policy.yml",
         .line = 5,
         .column = 1,
         .field = "",
         .problem = "YAML syntax error: "},
        {.what = "unknown top-level key in a policy file",
         .policy = std::string("recods: {}\n"),
         .file = "policy.yml",
         .line = 1,
         .column = 1,
         .field = "recods",
         .problem = "unknown key 'recods' (did you mean 'records'?)"},
        {.what = "flap damping: reuse not below suppress",
         .policy = "records:\n  www.example.:\n    flap_damping: {suppress: 500, reuse: 750}\n"
                   "    backends:\n      - address: 192.0.2.1\n",
         .file = "policy.yml",
         .line = 3,
         .column = 19,
         .field = "records.\"www.example.\".flap_damping",
         .problem = "reuse (750) must be below suppress (500)"},
        {.what = "flap damping: max_suppress too short to ever suppress",
         .policy =
             "records:\n  www.example.:\n    flap_damping: {half_life: 10s, max_suppress: 1s}\n"
             "    backends:\n      - address: 192.0.2.1\n",
         .file = "policy.yml",
         .line = 3,
         .column = 19,
         .field = "records.\"www.example.\".flap_damping",
         .problem = "max_suppress is too short for half_life"},
        {.what = "scoring: a load threshold that is not a positive number",
         .policy = "records:\n  www.example.:\n    scoring: {load: -1}\n"
                   "    backends:\n      - address: 192.0.2.1\n",
         .file = "policy.yml",
         .line = 3,
         .column = 21,
         .field = "records.\"www.example.\".scoring.load",
         .problem = "load must be a number over 0"},
        {.what = "load_gauge: labels outside braces",
         .policy = "records:\n  www.example.:\n    backends:\n      - address: 127.0.0.1\n"
                   "        healthchecks:\n          - type: http\n"
                   "            params: {load_gauge: 'cpu x'}\n",
         .file = "policy.yml",
         .line = 7,
         .column = 34,
         .field = "records.\"www.example.\".backends[0].healthchecks[0].params.load_gauge",
         .problem = "load_gauge 'cpu x': labels go in {} after the name"},
        {.what = "load_gauge: on a tcp check",
         .policy = "records:\n  www.example.:\n    backends:\n      - address: 127.0.0.1\n"
                   "        healthchecks:\n          - type: tcp\n"
                   "            params: {port: 80, load_gauge: 'cpu{a=\"b\"}'}\n",
         .file = "policy.yml",
         .line = 7,
         .column = 44,
         .field = "records.\"www.example.\".backends[0].healthchecks[0].params.load_gauge",
         .problem = "load_gauge belongs to http and https checks"},
        {.what = "slow start: min_percent 0",
         .policy = "records:\n  www.example.:\n    slow_start: {window: 60s, min_percent: 0}\n"
                   "    backends:\n      - address: 192.0.2.1\n",
         .file = "policy.yml",
         .line = 3,
         .column = 44,
         .field = "records.\"www.example.\".slow_start.min_percent",
         .problem = "0 is out of range 1..100"},
        {.what = "dynamic ttl: unknown key",
         .policy = "defaults:\n  dynamic_ttl: {min: 5, recnt: 2s}\n" + std::string(kPolicy),
         .file = "policy.yml",
         .line = 2,
         .column = 25,
         .field = "defaults.dynamic_ttl.recnt",
         .problem = "unknown key 'recnt' (did you mean 'recent'?)"},
        {.what = "record outside its zone",
         .policy = "records:\n  www.example.org.:\n    backends:\n      - address: 192.0.2.1\n",
         .file = "policy.yml",
         .line = 2,
         .column = 3,
         .field = "records.\"www.example.org.\"",
         .problem = "record 'www.example.org.' is outside zone 'example.'"},
        {.what = "record name not absolute",
         .policy = "records:\n  www.example:\n    backends:\n      - address: 192.0.2.1\n",
         .file = "policy.yml",
         .line = 2,
         .column = 3,
         .field = "records.\"www.example\"",
         .problem = "record name 'www.example' must be absolute (end with a dot)"},
        {.what = "record repeated",
         .policy = std::string(kPolicy) + "  www.example.:\n    backends:\n"
                                          "      - address: 192.0.2.2\n",
         .file = "policy.yml",
         .line = 5,
         .column = 3,
         .field = "records.\"www.example.\"",
         .problem = "duplicate key (first at line 2)"},
        {.what = "record without backends",
         .policy = "records:\n  www.example.:\n    mode: failover\n",
         .file = "policy.yml",
         .line = 3,
         .column = 5,
         .field = "records.\"www.example.\".backends",
         .problem = "a record needs at least one backend"},
        {.what = "record with an empty backend list",
         .policy = "records:\n  www.example.:\n    backends: []\n",
         .file = "policy.yml",
         .line = 3,
         .column = 15,
         .field = "records.\"www.example.\".backends",
         .problem = "a record needs at least one backend"},
        {.what = "typo in a record key",
         .policy = "records:\n  www.example.:\n    record_tll: 30\n",
         .file = "policy.yml",
         .line = 3,
         .column = 5,
         .field = "records.\"www.example.\".record_tll",
         .problem = "unknown key 'record_tll' (did you mean 'record_ttl'?)"},
        {.what = "weight not a number",
         .policy = backend_with("      - address: 192.0.2.2\n        weight: heavy\n"),
         .file = "policy.yml",
         .line = 6,
         .column = 17,
         .field = "records.\"www.example.\".backends[1].weight",
         .problem = "expected an integer in 0..1000000, got 'heavy'"},
        {.what = "host name as a backend address",
         .policy = backend_with("      - address: app.example.net\n"),
         .file = "policy.yml",
         .line = 5,
         .column = 18,
         .field = "records.\"www.example.\".backends[1].address",
         .problem = "'app.example.net' is not an IPv4 or IPv6 address (host names are not "
                    "supported yet)"},
        {.what = "typo in a backend key",
         .policy = backend_with("        priorty: 1\n"),
         .file = "policy.yml",
         .line = 5,
         .column = 9,
         .field = "records.\"www.example.\".backends[0].priorty",
         .problem = "unknown key 'priorty' (did you mean 'priority'?)"},
        {.what = "three-letter country",
         .policy = backend_with("        location_countries: [FR, FRA]\n"),
         .file = "policy.yml",
         .line = 5,
         .column = 34,
         .field = "records.\"www.example.\".backends[0].location_countries[1]",
         .problem = "'FRA' is not a two-letter ISO 3166 country code"},
        {.what = "bad continent",
         .policy = backend_with("        continent: europe\n"),
         .file = "policy.yml",
         .line = 5,
         .column = 20,
         .field = "records.\"www.example.\".backends[0].continent",
         .problem = "'europe' is not a continent code"},
        {.what = "bad ASN",
         .policy = backend_with("        asn: ASX1\n"),
         .file = "policy.yml",
         .line = 5,
         .column = 14,
         .field = "records.\"www.example.\".backends[0].asn",
         .problem = "'ASX1' is not an AS number"},
        {.what = "unknown profile",
         .policy = backend_with("        healthchecks: [web]\n"),
         .file = "policy.yml",
         .line = 5,
         .column = 24,
         .field = "records.\"www.example.\".backends[0].healthchecks[0]",
         .problem = "unknown health check profile 'web' (healthcheck_profiles is empty)"},
        {.what = "health check without type",
         .policy = backend_with("        healthchecks:\n          - params: {port: 80}\n"),
         .file = "policy.yml",
         .line = 6,
         .column = 13,
         .field = "records.\"www.example.\".backends[0].healthchecks[0].type",
         .problem = "required key is missing"},
        {.what = "bad expected_code",
         .policy = backend_with("        healthchecks:\n          - type: http\n"
                                "            params: {expected_code: \"2xy\"}\n"),
         .file = "policy.yml",
         .line = 7,
         .column = 37,
         .field = "records.\"www.example.\".backends[0].healthchecks[0].params.expected_code",
         .problem = "bad expected_code '2xy'"},
        {.what = "expected_code out of range",
         .policy = backend_with("        healthchecks:\n          - type: http\n"
                                "            params:\n              expected_code: [200, 700]\n"),
         .file = "policy.yml",
         .line = 8,
         .column = 36,
         .field = "records.\"www.example.\".backends[0].healthchecks[0].params.expected_code[1]",
         .problem = "bad expected_code '700': codes must lie in 100..599"},
        {.what = "bad regex",
         .policy = backend_with("        healthchecks:\n          - type: http\n"
                                "            params:\n              expected_body: \"([a-z\"\n"),
         .file = "policy.yml",
         .line = 8,
         .column = 30,
         .field = "records.\"www.example.\".backends[0].healthchecks[0].params.expected_body",
         .problem = "expected_body is not a valid regular expression"},
        {.what = "health check port out of range",
         .policy = backend_with("        healthchecks:\n          - type: tcp\n"
                                "            params: {port: 65536}\n"),
         .file = "policy.yml",
         .line = 7,
         .column = 28,
         .field = "records.\"www.example.\".backends[0].healthchecks[0].params.port",
         .problem = "65536 is out of range 1..65535"},
        {.what = "icmp count out of range",
         .policy = backend_with("        healthchecks:\n          - type: icmp\n"
                                "            params: {count: 101}\n"),
         .file = "policy.yml",
         .line = 7,
         .column = 29,
         .field = "records.\"www.example.\".backends[0].healthchecks[0].params.count",
         .problem = "101 is out of range 1..100"},
        {.what = "unknown health check parameter",
         .policy = backend_with("        healthchecks:\n          - type: http\n"
                                "            params: {url: /x}\n"),
         .file = "policy.yml",
         .line = 7,
         .column = 22,
         .field = "records.\"www.example.\".backends[0].healthchecks[0].params.url",
         .problem = "unknown key 'url' (did you mean 'uri'?)"},
        {.what = "dns check without query_name",
         .policy = backend_with("        healthchecks:\n          - type: dns\n"
                                "            params: {query_type: A}\n"),
         .file = "policy.yml",
         .line = 7,
         .column = 21,
         .field = "records.\"www.example.\".backends[0].healthchecks[0].params",
         .problem = "a dns health check needs params.query_name"},
        {.what = "rise below one",
         .policy =
             "healthcheck_profiles:\n  p:\n    type: tcp\n    rise: 0\n" + std::string(kPolicy),
         .file = "policy.yml",
         .line = 4,
         .column = 11,
         .field = "healthcheck_profiles.p.rise",
         .problem = "0 is out of range 1..100"},
        {.what = "bad duration in defaults",
         .policy = "defaults:\n  scrape_interval: often\n" + std::string(kPolicy),
         .file = "policy.yml",
         .line = 2,
         .column = 20,
         .field = "defaults.scrape_interval",
         .problem = "bad duration 'often'"},
        {.what = "unknown fallback mode",
         .policy = "records:\n  www.example.:\n    fallback_policy: {mode: pray}\n"
                   "    backends: [{address: 192.0.2.1}]\n",
         .file = "policy.yml",
         .line = 3,
         .column = 29,
         .field = "records.\"www.example.\".fallback_policy.mode",
         .problem = "unknown fallback mode 'pray'"},
        {.what = "fallback_ips without addresses",
         .policy = "records:\n  www.example.:\n    fallback_policy: {mode: fallback_ips}\n"
                   "    backends: [{address: 192.0.2.1}]\n",
         .file = "policy.yml",
         .line = 3,
         .column = 22,
         .field = "records.\"www.example.\".fallback_policy",
         .problem = "mode fallback_ips needs a non-empty fallback_ips list"},
        {.what = "failover_policy and fallback_policy together",
         .policy = "records:\n  www.example.:\n    fallback_policy: {mode: rcode}\n"
                   "    failover_policy: {mode: fail-open}\n"
                   "    backends: [{address: 192.0.2.1}]\n",
         .file = "policy.yml",
         .line = 4,
         .column = 22,
         .field = "records.\"www.example.\".failover_policy",
         .problem = "a record takes one of failover_policy and fallback_policy, not both"},
        {.what = "fail-specific without a target",
         .policy = "records:\n  www.example.:\n    failover_policy: {mode: fail-specific}\n"
                   "    backends: [{address: 192.0.2.1}]\n",
         .file = "policy.yml",
         .line = 3,
         .column = 22,
         .field = "records.\"www.example.\".failover_policy",
         .problem = "mode fail-specific needs fallback_ips or fallback_cname"},
        {.what = "unknown failover mode",
         .policy = "records:\n  www.example.:\n    failover_policy: {mode: fail-soft}\n"
                   "    backends: [{address: 192.0.2.1}]\n",
         .file = "policy.yml",
         .line = 3,
         .column = 29,
         .field = "records.\"www.example.\".failover_policy.mode",
         .problem = "unknown failover mode 'fail-soft'"},
        {.what = "unknown geo_priority",
         .policy = "records:\n  www.example.:\n    mode: geoip\n    geo_priority: most\n"
                   "    backends: [{address: 192.0.2.1}]\n",
         .file = "policy.yml",
         .line = 4,
         .column = 19,
         .field = "records.\"www.example.\".geo_priority",
         .problem = "unknown geo_priority 'most': use all"},
        {.what = "unknown geo_priority in defaults",
         .policy = "defaults:\n  geo_priority: [best]\nrecords:\n  www.example.:\n"
                   "    backends: [{address: 192.0.2.1}]\n",
         .file = "policy.yml",
         .line = 2,
         .column = 17,
         .field = "defaults.geo_priority",
         .problem = "expected a string, got a list"},
        {.what = "passive: true (CoreDNS-GSLB's shared Redis state)",
         .policy = "records:\n  www.example.:\n"
                   "    backends: [{address: 192.0.2.1, passive: true}]\n",
         .file = "policy.yml",
         .line = 3,
         .column = 46,
         .field = "records.\"www.example.\".backends[0].passive",
         .problem = "passive: true is not implemented"},
        {.what = "a subdivision that is not an ISO 3166-2 code",
         .policy = "records:\n  www.example.:\n"
                   "    backends: [{address: 192.0.2.1, subdivision: California}]\n",
         .file = "policy.yml",
         .line = 3,
         .column = 50,
         .field = "records.\"www.example.\".backends[0].subdivision",
         .problem = "'California' is not an ISO 3166-2 subdivision code"},
        {.what = "latitude without longitude",
         .policy = "records:\n  www.example.:\n"
                   "    backends: [{address: 192.0.2.1, latitude: 48.85}]\n",
         .file = "policy.yml",
         .line = 3,
         .column = 47,
         .field = "records.\"www.example.\".backends[0].latitude",
         .problem = "latitude without longitude: give both, or neither"},
        {.what = "latitude out of range",
         .policy = "records:\n  www.example.:\n"
                   "    backends: [{address: 192.0.2.1, latitude: 98.5, longitude: 2}]\n",
         .file = "policy.yml",
         .line = 3,
         .column = 47,
         .field = "records.\"www.example.\".backends[0].latitude",
         .problem = "'98.5' is not a number of degrees between -90 and 90"},
        {.what = "unknown rcode",
         .policy = "records:\n  www.example.:\n    fallback_policy:\n      rcode: SERVFAILED\n"
                   "    backends: [{address: 192.0.2.1}]\n",
         .file = "policy.yml",
         .line = 4,
         .column = 14,
         .field = "records.\"www.example.\".fallback_policy.rcode",
         .problem = "unknown rcode 'SERVFAILED'"},
        // Location maps.
        {.what = "location map: host bits set",
         .main = main_with("geoip: {location_map: map.yml}\n"),
         .location_map = "subnets:\n  - subnet: 10.0.0.1/24\n    location: eu\n",
         .file = "map.yml",
         .line = 2,
         .column = 13,
         .field = "subnets[0].subnet",
         .problem = "'10.0.0.1/24' has host bits set after the prefix length (did you mean "
                    "10.0.0.0/24?)"},
        {.what = "location map: two locations for one subnet",
         .main = main_with("geoip: {location_map: map.yml}\n"),
         .location_map = "subnets:\n  - subnet: \"2001:db8::/32\"\n    location: [eu, us]\n",
         .file = "map.yml",
         .line = 3,
         .column = 15,
         .field = "subnets[0].location",
         .problem = "one subnet maps to exactly one location, got 2"},
        {.what = "location map: same subnet, different location",
         .main = main_with("geoip: {location_map: map.yml}\n"),
         .location_map = "subnets:\n  - subnet: 10.0.0.0/8\n    location: eu\n"
                         "  - subnet: 10.0.0.0/16\n    location: us\n"
                         "  - subnet: 10.0.0.0/8\n    location: us\n",
         .file = "map.yml",
         .line = 6,
         .column = 13,
         .field = "subnets[2].subnet",
         .problem = "subnet 10.0.0.0/8 maps to 'us' here but to 'eu' at line 2"},
        {.what = "location map: latitude without longitude",
         .main = main_with("geoip: {location_map: map.yml}\n"),
         .location_map = "subnets:\n  - subnet: 10.0.0.0/8\n    location: eu\n"
                         "    latitude: 48.85\n",
         .file = "map.yml",
         .line = 4,
         .column = 15,
         .field = "subnets[0].latitude",
         .problem = "latitude without longitude: give both, or neither"},
        {.what = "location map: longitude out of range",
         .main = main_with("geoip: {location_map: map.yml}\n"),
         .location_map = "subnets:\n  - {subnet: 10.0.0.0/8, location: eu, latitude: 1, "
                         "longitude: 181}\n",
         .file = "map.yml",
         .line = 2,
         .column = 64,
         .field = "subnets[0].longitude",
         .problem = "'181' is not a number of degrees between -180 and 180"},
        {.what = "location map: same subnet, other coordinates",
         .main = main_with("geoip: {location_map: map.yml}\n"),
         .location_map = "subnets:\n  - {subnet: 10.0.0.0/8, location: eu, latitude: 1, "
                         "longitude: 2}\n"
                         "  - {subnet: 10.0.0.0/8, location: eu}\n",
         .file = "map.yml",
         .line = 3,
         .column = 14,
         .field = "subnets[1].subnet",
         .problem = "subnet 10.0.0.0/8 is placed without coordinates here but at 1.000000, "
                    "2.000000 at line 2; a subnet has one place"},
        {.what = "location map: not a subnet",
         .main = main_with("geoip: {location_map: map.yml}\n"),
         .location_map = "subnets:\n  - {subnet: europe, location: eu}\n",
         .file = "map.yml",
         .line = 2,
         .column = 14,
         .field = "subnets[0].subnet",
         .problem = "'europe' is not a subnet"},
    };
    return all;
}

}  // namespace

TEST_CASE("bad configurations name file, line, column and field", "[config]") {
    for (const auto& c : cases()) {
        DYNAMIC_SECTION(c.what) {
            test::TempDir dir;
            const std::string main = dir.write("main.yml", c.main);
            dir.write("policy.yml", c.policy);
            if (!c.location_map.empty()) dir.write("map.yml", c.location_map);
            const std::string file = dir.path() + "/" + c.file;
            std::string prefix =
                file + ":" + std::to_string(c.line) + ":" + std::to_string(c.column) + ": ";
            if (*c.field) prefix += std::string(c.field) + ": ";
            try {
                load_config(main);
                FAIL("no error; expected " << prefix << c.problem);
            } catch (const ConfigError& e) {
                const std::string what = e.what();
                INFO("message: " << what);
                CHECK(e.pos().file == file);
                CHECK(e.pos().line == c.line);
                CHECK(e.pos().column == c.column);
                CHECK(e.field() == c.field);
                CHECK(what.rfind(prefix + c.problem, 0) == 0);
            }
        }
    }
}

TEST_CASE("an unreadable main file is a ConfigError naming it", "[config]") {
    test::TempDir dir;
    const std::string path = dir.path() + "/absent.yml";
    try {
        load_config(path);
        FAIL("no error");
    } catch (const ConfigError& e) {
        CHECK(e.pos().file == path);
        CHECK(std::string(e.what()).rfind(path + ": cannot read '" + path + "'", 0) == 0);
    }
}

TEST_CASE("a record in a nested zone's space is rejected in the parent's file", "[config]") {
    test::TempDir dir;
    const std::string main = dir.write("main.yml", R"(listen: [127.0.0.1]
zones:
  - name: example.
    policy: parent.yml
    ns: [{name: ns.example.net.}]
  - name: sub.example.
    policy: child.yml
    ns: [{name: ns.example.net.}]
)");
    dir.write("child.yml", "records:\n  a.sub.example.:\n    backends: [{address: 192.0.2.1}]\n");
    dir.write("parent.yml",
              "records:\n  ok.example.:\n    backends: [{address: 192.0.2.1}]\n"
              "  a.sub.example.:\n    backends: [{address: 192.0.2.2}]\n");
    try {
        load_config(main);
        FAIL("no error");
    } catch (const ConfigError& e) {
        CHECK(e.pos().file == dir.path() + "/parent.yml");
        CHECK(e.pos().line == 4);
        CHECK(e.field() == "records.\"a.sub.example.\"");
        CHECK_THAT(e.what(), Catch::Contains("lies in zone 'sub.example.'"));
    }
}
