// `io:` and `dpdk:` in the main configuration (lib/config), loaded from real YAML files.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/model.hh"

using namespace gslbd;

namespace {

std::string write_config(const std::string& tail) {
    static int n = 0;
    auto dir =
        std::filesystem::temp_directory_path() / ("gslbd-dpdk-cfg-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto path = dir / ("c" + std::to_string(n++) + ".yml");
    std::ofstream(path) << "listen: [198.18.0.1:53]\n"
                           "zones:\n"
                           "  - name: example.com.\n"
                           "    ns: [{name: ns1.example.net.}]\n"
                        << tail;
    return path.string();
}

std::string error_of(const std::string& tail) {
    try {
        config::load_config(write_config(tail));
    } catch (const config::ConfigError& e) {
        return e.what();
    }
    return "no error";
}

}  // namespace

TEST_CASE("io defaults to socket; a dpdk block is parsed", "[dpdk]") {
    CHECK(config::load_config(write_config("")).io == config::IoMode::Socket);
    auto cfg = config::load_config(write_config(R"(io: dpdk
dpdk:
  eal_args: [-l, "0,1", --file-prefix=gslbd]
  udp_port: 5353
  ports:
    - device: net_af_packet0,iface=veth-gslb
      addresses: [198.18.0.1/24, "2001:2::1/64", 198.18.0.3]
      queues: 2
      exception: net_tap0,iface=gslbd0
)"));
    CHECK(cfg.io == config::IoMode::Dpdk);
    CHECK(cfg.dpdk.eal_args == std::vector<std::string>{"-l", "0,1", "--file-prefix=gslbd"});
    CHECK(cfg.dpdk.udp_port == 5353);
    REQUIRE(cfg.dpdk.ports.size() == 1);
    const auto& p = cfg.dpdk.ports[0];
    CHECK(p.device == "net_af_packet0,iface=veth-gslb");
    CHECK(p.queues == 2);
    CHECK(p.exception == "net_tap0,iface=gslbd0");
    REQUIRE(p.addresses.size() == 3);
    CHECK(p.addresses[0].addr.to_string() == "198.18.0.1");
    CHECK(p.addresses[0].prefix_len == 24);
    CHECK(p.addresses[1].addr.to_string() == "2001:2::1");
    CHECK(p.addresses[1].prefix_len == 64);
    CHECK(p.addresses[2].prefix_len == 32);
}

TEST_CASE("bad dpdk configuration is named by file, line and field", "[dpdk]") {
    CHECK_THAT(error_of("io: xdp\n"), Catch::Contains(":5:5: io: unknown io mode 'xdp'"));
    CHECK_THAT(error_of("io: dpdk\n"), Catch::Contains("no 'dpdk' block"));
    CHECK_THAT(error_of("dpdk: {ports: []}\n"),
               Catch::Contains("dpdk.ports: at least one port is required"));
    CHECK_THAT(error_of("dpdk:\n  ports:\n    - {device: net_ring0, addresses: [198.18.0.1/33]}\n"),
               Catch::Contains("dpdk.ports[0].addresses[0]") &&
                   Catch::Contains("prefix length of '198.18.0.1/33' must be 1..32"));
    CHECK_THAT(error_of("dpdk:\n  ports:\n    - {device: net_ring0, addresses: [nope]}\n"),
               Catch::Contains("'nope' is not an IPv4 or IPv6 address"));
    CHECK_THAT(error_of("dpdk:\n  ports:\n    - {device: net_ring0}\n"),
               Catch::Contains("addresses"));
    CHECK_THAT(error_of("dpdk:\n  ports:\n    - {device: net_ring0, addresses: [198.18.0.1], "
                        "exception: tap0}\n"),
               Catch::Contains("'tap0' is not a vdev string"));
    CHECK_THAT(error_of("dpdk:\n  ports:\n    - {device: net_ring0, addresses: [198.18.0.1]}\n"
                        "    - {device: net_ring1, addresses: [198.18.0.1]}\n"),
               Catch::Contains("address 198.18.0.1 is on two ports"));
    CHECK_THAT(error_of("dpdk:\n  ports:\n    - {device: net_ring0, addresses: [198.18.0.1], "
                        "queues: 0}\n"),
               Catch::Contains("queues"));
    CHECK_THAT(error_of("dpdk:\n  eal: []\n  ports: []\n"), Catch::Contains("unknown key 'eal'"));
}
