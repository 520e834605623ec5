// Fuzz target: the config loader on YAML bytes (libyaml events -> yaml::Document -> the
// validated model). Byte 0 picks what the rest is: 0 the main file (next to a valid zone
// file zone.yml and location map location_map.yml it may name), 1 a CoreDNS-GSLB zone
// policy file, 2 a location map. The only way to refuse input is config::ConfigError;
// any other exception, a crash or a leak is a finding. A main file that loads must also
// build a topology (or refuse with ConfigError).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "config/model.hh"
#include "config/yaml_util.hh"
#include "fuzz_common.hh"
#include "geo/geo.hh"
#include "gslb/snapshot.hh"

using namespace gslbd;

namespace {

constexpr const char* kZone = R"(records:
  www.example.com.:
    mode: geoip
    backends:
      - {address: 192.0.2.10, location: eu-fra, tags: [a]}
      - {address: "2001:db8::10", location: us-east, priority: 2}
  rr.example.com.: {mode: round-robin, backends: [{address: 192.0.2.20}]}
)";

const std::string& workdir() {
    // Never destroyed: the exit handler that removes the directory still needs the name.
    static const std::string* const dir = [] {
        char tmpl[] = "/tmp/gslbd-fuzz-config.XXXXXX";
        const char* d = ::mkdtemp(tmpl);
        if (d == nullptr) std::abort();
        // A small zone file (the pipeline's has a hundred backends: slow to load per input).
        std::ofstream(std::string(d) + "/zone.yml") << kZone;
        std::filesystem::copy_file(std::string(GSLBD_FUZZ_DATA) + "/location_map.yml",
                                   std::string(d) + "/location_map.yml");
        std::atexit([] { std::filesystem::remove_all(workdir()); });
        return new std::string(d);
    }();
    return *dir;
}

std::string write(const char* name, const std::uint8_t* data, std::size_t size) {
    const std::string path = workdir() + "/" + name;
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    f.close();
    FUZZ_CHECK(f.good());
    return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const unsigned kind = data[0] % 3;
    const config::SourcePos blame{"gslbd.yml", 1, 1};
    try {
        if (kind == 0) {
            auto cfg = std::make_shared<config::Config>(
                config::load_config(write("main.yml", data + 1, size - 1)));
            std::shared_ptr<const geo::GeoDbs> geo;
            try {
                geo = geo::load_geo(*cfg);
            } catch (const config::ConfigError&) {
                throw;
            } catch (const std::runtime_error&) {
                return 0;  // a MaxMind database that does not open: documented
            }
            auto topo = gslb::build_topology(cfg, geo);
            FUZZ_CHECK(topo != nullptr);
        } else if (kind == 1) {
            config::detail::load_policy_file(write("policy.yml", data + 1, size - 1),
                                             "example.com.", blame, "zones[0].policy");
        } else {
            config::detail::load_location_map(write("locmap.yml", data + 1, size - 1), blame,
                                              "geoip.location_map");
        }
    } catch (const config::ConfigError& e) {
        FUZZ_CHECK(e.what()[0] != '\0');  // a message a person can act on
    }
    return 0;
}
