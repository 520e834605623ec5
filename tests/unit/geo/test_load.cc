#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "geo_test.hh"
#include "util/log.hh"

using namespace geo_test;
using gslbd::config::Config;
using gslbd::geo::load_geo;

namespace {

// Runs `f` with stderr sent to a temporary file; returns what was written.
template <typename F>
std::string capture_stderr(F&& f) {
    char tmpl[] = "/tmp/gslbd-stderr-XXXXXX";
    int fd = mkstemp(tmpl);
    REQUIRE(fd >= 0);
    int saved = dup(2);
    dup2(fd, 2);
    f();
    dup2(saved, 2);
    close(saved);
    std::string out;
    lseek(fd, 0, SEEK_SET);
    char buf[1024];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    close(fd);
    unlink(tmpl);
    return out;
}

}  // namespace

TEST_CASE("load_geo opens what the config names", "[geo][load]") {
    Config cfg;
    cfg.file = "main.yml";
    SECTION("nothing configured") {
        auto g = load_geo(cfg);
        REQUIRE(g);
        CHECK_FALSE(g->locations);
        CHECK_FALSE(g->country_db);
        CHECK_FALSE(g->city_db);
        CHECK_FALSE(g->asn_db);
    }
    SECTION("everything configured") {
        cfg.location_map = "loc.yml";
        cfg.locations.push_back(
            LocationEntry{*IpPrefix::parse("192.0.2.0/24"), "eu", {"loc.yml", 3, 5}});
        cfg.country_db = env("GSLBD_TEST_COUNTRY_MMDB");
        cfg.city_db = env("GSLBD_TEST_CITY_MMDB");
        cfg.asn_db = env("GSLBD_TEST_ASN_MMDB");
        std::shared_ptr<const gslbd::geo::GeoDbs> g;
        std::string err = capture_stderr([&] { g = load_geo(cfg); });
        REQUIRE(g);
        CHECK(err.find("does not look like") == std::string::npos);
        REQUIRE(g->locations);
        CHECK(g->locations->lookup(*IpAddr::parse("192.0.2.9")).id == 0);
        REQUIRE(g->country_db);
        CHECK(g->country_db->type() == "GeoLite2-Country");
        REQUIRE(g->city_db);
        CHECK(g->city_db->city(*IpAddr::parse("198.51.100.1")).name == "Paris");
        REQUIRE(g->asn_db);
        CHECK(g->asn_db->asn(*IpAddr::parse("198.51.100.1")).asn == 64501);
    }
    SECTION("an empty location map path means no map, even with entries") {
        cfg.locations.push_back(LocationEntry{*IpPrefix::parse("192.0.2.0/24"), "eu", {}});
        CHECK_FALSE(load_geo(cfg)->locations);
    }
    SECTION("a database that cannot be opened is a ConfigError naming the field") {
        cfg.country_db = env("GSLBD_TEST_COUNTRY_MMDB");
        cfg.city_db = "/nonexistent/city.mmdb";
        try {
            load_geo(cfg);
            FAIL("no ConfigError");
        } catch (const ConfigError& e) {
            std::string what = e.what();
            CAPTURE(what);
            CHECK(e.field() == "geoip.city_db");
            CHECK(e.pos().file == "main.yml");
            CHECK(what.rfind("main.yml: geoip.city_db: /nonexistent/city.mmdb: ", 0) == 0);
        }
    }
    SECTION("duplicate location entries surface as the map's ConfigError") {
        cfg.location_map = "loc.yml";
        cfg.locations.push_back(
            LocationEntry{*IpPrefix::parse("192.0.2.0/24"), "eu", {"loc.yml", 3, 5}});
        cfg.locations.push_back(
            LocationEntry{*IpPrefix::parse("192.0.2.0/24"), "us", {"loc.yml", 5, 5}});
        CHECK_THROWS_WITH(load_geo(cfg),
                          Catch::Contains("loc.yml:5:5") && Catch::Contains("line 3"));
    }
    SECTION("a database of the wrong kind is accepted with a warning") {
        gslbd::util::set_log_level(gslbd::util::LogLevel::info);
        cfg.country_db = env("GSLBD_TEST_ASN_MMDB");
        cfg.asn_db = env("GSLBD_TEST_CITY_MMDB");
        std::shared_ptr<const gslbd::geo::GeoDbs> g;
        std::string err = capture_stderr([&] { g = load_geo(cfg); });
        CAPTURE(err);
        REQUIRE(g);
        CHECK(g->country_db);
        CHECK(err.find("geoip.country_db: database type 'GeoLite2-ASN' does not look like") !=
              std::string::npos);
        CHECK(err.find("geoip.asn_db: database type 'GeoLite2-City' does not look like") !=
              std::string::npos);
    }
}
