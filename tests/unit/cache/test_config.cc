// The `cache:` keys of the main config (lib/config/load.cc) and their start-up checks.
#include <catch2/catch.hpp>

#include <string>

#include "../config/test_util.hh"
#include "config/model.hh"

using namespace gslbd;

namespace {

config::Config load_with(const std::string& cache_block) {
    test::TempDir dir;
    dir.write("zone.yml", "records:\n  www.example.com.:\n    mode: failover\n"
                          "    backends:\n      - address: 192.0.2.1\n");
    const std::string main = dir.write(
        "gslbd.yml", "listen: [127.0.0.1:5353]\nworkers: 2\n" + cache_block +
                         "zones:\n  - name: example.com.\n    policy: zone.yml\n"
                         "    ns:\n      - name: ns1.example.net.\n");
    return config::load_config(main);
}

std::string error_of(const std::string& cache_block) {
    try {
        load_with(cache_block);
    } catch (const config::ConfigError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("cache keys: defaults, sizes with units, off", "[cache-config]") {
    auto d = load_with("");
    CHECK(d.cache_entries == 65536);
    CHECK(d.cache_bytes == 16u << 20);
    CHECK(config::cache_entry_bytes(d) == 256);

    auto c = load_with("cache:\n  entries: 1000\n  max_bytes: 1MiB\n");
    CHECK(c.cache_entries == 1000);
    CHECK(c.cache_bytes == 1u << 20);
    CHECK(config::cache_entry_bytes(c) == 1024);  // 1048 rounded down to 64

    CHECK(load_with("cache:\n  max_bytes: 512k\n  entries: 10\n").cache_bytes == 512u << 10);
    CHECK(config::cache_entry_bytes(load_with("cache:\n  entries: 10\n  max_bytes: 1G\n")) ==
          config::kCacheMaxEntryBytes);
    CHECK(load_with("cache:\n  max_bytes: 4096\n  entries: 16\n").cache_bytes == 4096);
    auto off = load_with("cache:\n  entries: 0\n");
    CHECK(off.cache_entries == 0);
    CHECK(config::cache_entry_bytes(off) == 0);
}

TEST_CASE("cache sizes that cannot work stop the start with the place to fix", "[cache-config]") {
    auto e = error_of("cache:\n  entries: 65536\n  max_bytes: 1MiB\n");
    INFO(e);
    CHECK(e.find("gslbd.yml:5:") != std::string::npos);
    CHECK(e.find("cache.max_bytes") != std::string::npos);
    CHECK(e.find("16 bytes per entry") != std::string::npos);
    CHECK(e.find("at least 8388608") != std::string::npos);

    e = error_of("cache:\n  entries: 268435456\n  max_bytes: 1024G\n");
    INFO(e);
    CHECK(e.find("MiB") != std::string::npos);
    CHECK(e.find("machine has") != std::string::npos);

    CHECK(error_of("cache:\n  max_bytes: lots\n").find("expected a size") != std::string::npos);
    CHECK(error_of("cache:\n  entries: -1\n").find("cache.entries") != std::string::npos);
    CHECK(error_of("cache:\n  size: 3\n").find("unknown key") != std::string::npos);
}
