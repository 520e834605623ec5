// Secondary zones in the config (docs/zones.md): `tsig_keys`, a zone's `primaries`, and
// `secondary_dir`; every mistake names file:line:column.
#include <catch2/catch.hpp>

#include "config/model.hh"
#include "test_util.hh"

using namespace gslbd;
using namespace gslbd::config;

namespace {

const std::string kKeys = R"(tsig_keys:
  - name: xfr.key
    algorithm: hmac-sha256
    secret: Z3NsYmQtc2Vjb25kYXJ5LXRlc3Qta2V5LTMyYnl0ZXM=
)";

std::string main_of(const std::string& top, const std::string& zone_lines) {
    return "listen: [127.0.0.1:5353]\n" + top + "zones:\n  - name: sec.example.\n" + zone_lines;
}

std::string error_of(const std::string& text) {
    test::TempDir dir;
    const std::string main = dir.write("main.yml", text);
    try {
        load_config(main);
    } catch (const ConfigError& e) {
        return std::string(e.what()).substr(main.size());  // ":LINE:COL: field: problem"
    }
    return "no error";
}

}  // namespace

TEST_CASE("a secondary zone: primaries, keys and the state directory", "[config]") {
    test::TempDir dir;
    const std::string main = dir.write(
        "main.yml", main_of(kKeys + "secondary_dir: state\n",
                            "    primaries:\n      - 192.0.2.53\n"
                            "      - {address: \"[2001:db8::53]:5300\", key: XFR.key.}\n"));
    const Config cfg = load_config(main);
    REQUIRE(cfg.tsig_keys.size() == 1);
    CHECK(cfg.tsig_keys[0].name == "xfr.key.");
    CHECK(cfg.tsig_keys[0].algorithm == "hmac-sha256");
    CHECK(cfg.secondary_dir == dir.path() + "/state");
    const Zone& z = cfg.zones.at(0);
    REQUIRE(z.primaries.size() == 2);
    CHECK(z.primaries[0].port == 53);
    CHECK(z.primaries[0].key.empty());
    CHECK(z.primaries[1].port == 5300);
    CHECK(z.primaries[1].key == "xfr.key.");
    CHECK(z.primaries[1].text == "[2001:db8::53]:5300");
    CHECK(z.file.empty());
    CHECK(z.ns.empty());
}

TEST_CASE("secondary zone mistakes name their place", "[config]") {
    const std::string dir = "secondary_dir: state\n";
    CHECK_THAT(error_of(main_of(dir, "    primaries: [192.0.2.53]\n    file: z.db\n")),
               Catch::StartsWith(":6:11: zones[0].file: 'file' cannot be given with 'primaries'"));
    CHECK_THAT(error_of(main_of(dir, "    primaries: [192.0.2.53]\n    ns: []\n")),
               Catch::Contains("'ns' cannot be given with 'primaries'"));
    CHECK_THAT(error_of(main_of(dir, "    primaries: [nowhere]\n")),
               Catch::StartsWith(":5:17: zones[0].primaries[0]: bad primary address 'nowhere'"));
    CHECK_THAT(error_of(main_of(dir, "    primaries:\n      - {address: 192.0.2.53, key: k.}\n")),
               Catch::StartsWith(":6:36: zones[0].primaries[0].key: no TSIG key named 'k.'"));
    CHECK_THAT(error_of(main_of("", "    primaries: [192.0.2.53]\n")),
               Catch::Contains("'secondary_dir' (where transferred zones are kept) is required"));
    CHECK_THAT(error_of(main_of(dir + "tsig_keys:\n  - {name: k, algorithm: hmac-md5, secret: "
                                      "YWJj}\n",
                                "    primaries: [192.0.2.53]\n")),
               Catch::Contains("algorithm 'hmac-md5' is not supported: use hmac-sha256"));
    CHECK_THAT(error_of(main_of(dir + "tsig_keys:\n  - {name: k, algorithm: hmac-sha256, secret: "
                                      "not*base64}\n",
                                "    primaries: [192.0.2.53]\n")),
               Catch::Contains("the secret is not base64"));
    CHECK_THAT(error_of(main_of(dir, "    primaries: [192.0.2.53, \"192.0.2.53:53\"]\n")),
               Catch::Contains("primary 192.0.2.53:53 repeated"));
}
