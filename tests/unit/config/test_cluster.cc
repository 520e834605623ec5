// The `cluster:` block and `health.source`: accepted forms, defaults, and errors with
// file:line:column and field.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <string>

#include "config/model.hh"
#include "test_util.hh"

using namespace gslbd;
using namespace gslbd::config;

namespace {

const char* const kZones = R"(zones:
  - name: example.
    ns:
      - name: ns1.example.
        addresses: [127.0.0.1]
)";

Config load_with(test::TempDir& dir, const std::string& extra) {
    const std::string main = dir.write("main.yml", "listen: [127.0.0.1:5353]\n" + extra + kZones);
    return load_config(main);
}

void expect_error(const std::string& extra, int line, int column, const std::string& field,
                  const std::string& problem) {
    test::TempDir dir;
    try {
        load_with(dir, extra);
        FAIL("no error; expected " << field << ": " << problem);
    } catch (const ConfigError& e) {
        INFO("message: " << e.what());
        CHECK(e.pos().line == line);
        CHECK(e.pos().column == column);
        CHECK(e.field() == field);
        CHECK(std::string(e.what()).find(problem) != std::string::npos);
    }
}

}  // namespace

TEST_CASE("without a cluster block the node stands alone", "[config][cluster]") {
    test::TempDir dir;
    const Config c = load_with(dir, "");
    CHECK_FALSE(c.cluster.enabled);
    CHECK_FALSE(c.probe_source_v4);
    CHECK_FALSE(c.probe_source_v6);
}

TEST_CASE("a full cluster block", "[config][cluster]") {
    test::TempDir dir;
    dir.write("etcd.pw", "hunter2\n");
    const Config c = load_with(dir, R"(health:
  source: [127.0.0.2, "::1"]
cluster:
  endpoints: [127.0.0.21:2379, "http://127.0.0.22:2379/", https://etcd3:2379]
  user: gslbd
  password_file: etcd.pw
  prefix: /fleet
  node: edge-fra1
  labels: {site: fra1, region: eu}
  lease_ttl: 5s
  role: passive
  quorum: "0.18"
  min_voters: 2
  probes_per_target: 3
  override_scope: node
  timeout: 500ms
)");
    const auto& k = c.cluster;
    CHECK(k.enabled);
    CHECK(k.endpoints == std::vector<std::string>{"http://127.0.0.21:2379",
                                                  "http://127.0.0.22:2379", "https://etcd3:2379"});
    CHECK(k.user == "gslbd");
    CHECK(k.password == "hunter2");
    CHECK(k.prefix == "/fleet/");
    CHECK(k.node == "edge-fra1");
    CHECK(k.labels.at("site") == "fra1");
    CHECK(k.labels.at("region") == "eu");
    CHECK(k.lease_ttl == Millis{5000});
    CHECK(k.passive);
    CHECK(k.quorum == "0.18");
    CHECK(k.min_voters == 2);
    CHECK(k.probes_per_target == 3);
    CHECK_FALSE(k.override_fleet);
    CHECK(k.timeout == Millis{500});
    REQUIRE(c.probe_source_v4);
    CHECK(c.probe_source_v4->to_string() == "127.0.0.2");
    REQUIRE(c.probe_source_v6);
}

TEST_CASE("cluster defaults: host name, majority, probe, fleet scope", "[config][cluster]") {
    test::TempDir dir;
    const Config c = load_with(dir, "cluster:\n  endpoints: 127.0.0.21:2379\n");
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    CHECK(c.cluster.node == host);
    CHECK(c.cluster.quorum == "majority");
    CHECK(c.cluster.min_voters == 1);
    CHECK_FALSE(c.cluster.passive);
    CHECK(c.cluster.override_fleet);
    CHECK(c.cluster.prefix == "/gslbd/");
    CHECK(c.cluster.lease_ttl == Millis{10000});
}

TEST_CASE("bad cluster blocks name the place", "[config][cluster]") {
    expect_error("cluster:\n  node: n1\n", 3, 3, "cluster.endpoints", "required");
    expect_error("cluster:\n  endpoints: [ftp://x:1]\n", 3, 15, "cluster.endpoints[0]",
                 "is not an etcd client URL");
    expect_error("cluster:\n  endpoints: [a:1, \"http://a:1\"]\n", 3, 20, "cluster.endpoints[1]",
                 "listed twice");
    expect_error("cluster:\n  endpoints: [a:1]\n  quorum: most\n", 4, 11, "cluster.quorum",
                 "unknown quorum rule 'most'");
    expect_error("cluster:\n  endpoints: [a:1]\n  quorum: \"1.5\"\n", 4, 11, "cluster.quorum",
                 "unknown quorum rule");
    expect_error("cluster:\n  endpoints: [a:1]\n  role: dns\n", 4, 9, "cluster.role",
                 "unknown role 'dns'");
    expect_error("cluster:\n  endpoints: [a:1]\n  node: a/b\n", 4, 9, "cluster.node",
                 "node name 'a/b'");
    expect_error("cluster:\n  endpoints: [a:1]\n  user: u\n", 3, 3, "cluster",
                 "user is set but no password");
    expect_error("cluster:\n  endpoints: [a:1]\n  lease_ttl: 2500ms\n", 4, 14, "cluster.lease_ttl",
                 "whole seconds");
    expect_error("cluster:\n  endpoints: [a:1]\n  min_voters: 3\n  probes_per_target: 2\n", 4, 15,
                 "cluster.min_voters", "can never be met");
    expect_error("cluster:\n  endpoints: [a:1]\n  override_scope: world\n", 4, 19,
                 "cluster.override_scope", "use fleet or node");
    expect_error("cluster:\n  endpoints: [a:1]\n  colour: blue\n", 4, 3, "cluster.colour",
                 "unknown key");
    expect_error("health:\n  source: [127.0.0.2, 127.0.0.3]\n", 3, 23, "health.source[1]",
                 "one probe source address per address family");
}
