#include <maxminddb.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "geo_test.hh"

using namespace geo_test;
using gslbd::geo::MaxMindDb;
using gslbd::geo::pack_code;

namespace {

// Networks of tests/data/geo/make_mmdb.pl
const char* const kV4Nets[] = {"198.51.100.0/24", "203.0.113.0/24", "192.0.2.0/25",
                               "192.0.2.128/25", "198.18.0.0/15"};
const char* const kV6Nets[] = {"2001:db8:1::/48", "2001:db8:2::/48", "2001:db8:3::/48"};

bool block_touches_table(const IpAddr& a, unsigned len) {
    const IpPrefix b = block(a, len);
    auto touches = [&](const char* net) { return intersects(*IpPrefix::parse(net), b); };
    if (a.family == 4) {
        for (const char* n : kV4Nets)
            if (touches(n)) return true;
    } else {
        for (const char* n : kV6Nets)
            if (touches(n)) return true;
    }
    return false;
}

std::string code(std::uint16_t c) {
    if (c == 0) return "";
    return std::string{static_cast<char>(c >> 8), static_cast<char>(c & 0xff)};
}

// Runs `mmdblookup -f DB -i ADDR PATH...` and returns the value it prints ("" when the
// address or path is absent).
std::string mmdblookup(const std::string& db, const std::string& addr, const std::string& path) {
    std::string cmd =
        env("GSLBD_MMDBLOOKUP") + " -f '" + db + "' -i '" + addr + "' " + path + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    std::string out;
    char buf[512];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    pclose(p);
    INFO("mmdblookup output: " << out);
    if (out.find("Could not find") != std::string::npos ||
        out.find("does not match") != std::string::npos)
        return "";
    // e.g.   "FR" <utf8_string>   or   64501 <uint32>
    auto lt = out.find('<');
    REQUIRE(lt != std::string::npos);
    std::string v = out.substr(0, lt);
    v.erase(0, v.find_first_not_of(" \n\t"));
    v.erase(v.find_last_not_of(" \n\t") + 1);
    if (v.size() >= 2 && v.front() == '"') v = v.substr(1, v.size() - 2);
    return v;
}

}  // namespace

TEST_CASE("pack_code", "[geo]") {
    CHECK(pack_code("FR") == (('F' << 8) | 'R'));
    CHECK(pack_code("fr") == pack_code('F', 'R'));
    CHECK(pack_code("F") == 0);
    CHECK(pack_code("FRA") == 0);
    CHECK(pack_code("F1") == 0);
    CHECK(pack_code("") == 0);
}

TEST_CASE("country database", "[geo][mmdb]") {
    MaxMindDb db(env("GSLBD_TEST_COUNTRY_MMDB"));
    CHECK(db.type() == "GeoLite2-Country");
    CHECK(db.path() == env("GSLBD_TEST_COUNTRY_MMDB"));

    struct Row {
        const char* addr;
        const char* country;
        const char* continent;
        unsigned prefix;
    };
    const Row rows[] = {
        {"198.51.100.7", "FR", "EU", 24},
        {"203.0.113.255", "US", "NA", 24},
        {"192.0.2.0", "DE", "EU", 25},
        {"192.0.2.127", "DE", "EU", 25},
        {"192.0.2.128", "JP", "AS", 25},
        {"198.19.255.255", "GB", "EU", 15},
        {"198.18.0.1", "GB", "EU", 15},
        {"2001:db8:1::5", "FR", "EU", 48},
        {"2001:db8:2:ffff::1", "US", "NA", 48},
        {"2001:db8:3::1", "NL", "EU", 48},  // registered_country fallback
        {"::ffff:198.51.100.7", "FR", "EU", 96 + 24},
    };
    for (const auto& r : rows) {
        CAPTURE(r.addr);
        auto res = db.country(ip(r.addr));
        CHECK(res.found);
        CHECK(code(res.country) == r.country);
        CHECK(code(res.continent) == r.continent);
        CHECK(res.prefix == r.prefix);
    }

    for (const char* a : {"10.0.0.1", "198.51.101.0", "192.0.3.1", "0.0.0.0", "255.255.255.255",
                          "2001:db8:ffff::1", "2001:db8::1", "::1", "fe80::1"}) {
        CAPTURE(a);
        IpAddr addr = ip(a);
        auto res = db.country(addr);
        CHECK_FALSE(res.found);
        CHECK(res.country == 0);
        CAPTURE(int(res.prefix));
        CHECK(res.prefix <= addr.max_prefix());
        CHECK_FALSE(block_touches_table(addr, res.prefix));
    }
    CHECK_FALSE(db.country(IpAddr{}).found);
}

TEST_CASE("city database", "[geo][mmdb]") {
    MaxMindDb db(env("GSLBD_TEST_CITY_MMDB"));
    CHECK(db.type() == "GeoLite2-City");
    auto paris = db.city(ip("198.51.100.7"));
    auto ny = db.city(ip("2001:db8:2::1"));
    CHECK(paris.found);
    CHECK(paris.name == "Paris");  // still valid after another lookup: it points into the map
    CHECK(paris.prefix == 24);
    CHECK(ny.found);
    CHECK(ny.name == "New York");
    CHECK(ny.prefix == 48);
    CHECK(db.city(ip("192.0.2.200")).name == "Tokyo");
    CHECK(db.city(ip("198.18.5.5")).name == "London");
    // country data lives in the City database too
    CHECK(code(db.country(ip("192.0.2.1")).country) == "DE");
    // a record without a city, and an address without a record
    auto nl = db.city(ip("2001:db8:3::1"));
    CHECK_FALSE(nl.found);
    CHECK(nl.name.empty());
    CHECK(nl.prefix == 48);
    CHECK_FALSE(db.city(ip("10.0.0.1")).found);
    // the Country database has no cities
    MaxMindDb country(env("GSLBD_TEST_COUNTRY_MMDB"));
    CHECK_FALSE(country.city(ip("198.51.100.7")).found);
}

TEST_CASE("ASN database", "[geo][mmdb]") {
    MaxMindDb db(env("GSLBD_TEST_ASN_MMDB"));
    CHECK(db.type() == "GeoLite2-ASN");
    struct Row {
        const char* addr;
        std::uint32_t asn;
        unsigned prefix;
    };
    const Row rows[] = {{"198.51.100.1", 64501, 24}, {"203.0.113.1", 64502, 24},
                        {"192.0.2.1", 64503, 25},    {"192.0.2.200", 64504, 25},
                        {"198.18.0.0", 64505, 15},   {"2001:db8:1::", 64511, 48},
                        {"2001:db8:2::2", 64512, 48}};
    for (const auto& r : rows) {
        CAPTURE(r.addr);
        auto res = db.asn(ip(r.addr));
        CHECK(res.found);
        CHECK(res.asn == r.asn);
        CHECK(res.prefix == r.prefix);
    }
    auto none = db.asn(ip("2001:db8:3::1"));
    CHECK_FALSE(none.found);
    CHECK(none.asn == 0);
    CHECK_FALSE(db.asn(ip("10.1.1.1")).found);
    // the ASN database has no countries
    CHECK_FALSE(db.country(ip("198.51.100.1")).found);
}

TEST_CASE("lookups agree with mmdblookup", "[geo][mmdb]") {
    const std::string country = env("GSLBD_TEST_COUNTRY_MMDB");
    const std::string city = env("GSLBD_TEST_CITY_MMDB");
    const std::string asn = env("GSLBD_TEST_ASN_MMDB");
    MaxMindDb cdb(country), tdb(city), adb(asn);
    for (const char* a :
         {"198.51.100.7", "203.0.113.9", "192.0.2.1", "192.0.2.129", "198.19.0.1", "2001:db8:1::1",
          "2001:db8:2::9", "10.0.0.1", "2001:db8:3::1", "::ffff:192.0.2.130"}) {
        CAPTURE(a);
        IpAddr addr = ip(a);
        auto c = cdb.country(addr);
        std::string cli = mmdblookup(country, a, "country iso_code");
        if (cli.empty()) cli = mmdblookup(country, a, "registered_country iso_code");
        CHECK(code(c.country) == cli);
        CHECK(code(c.continent) == mmdblookup(country, a, "continent code"));
        CHECK(std::string(tdb.city(addr).name) == mmdblookup(city, a, "city names en"));
        auto n = adb.asn(addr);
        CHECK((n.found ? std::to_string(n.asn) : std::string()) ==
              mmdblookup(asn, a, "autonomous_system_number"));
    }
}

TEST_CASE("open errors name the file and the reason", "[geo][mmdb]") {
    SECTION("missing file") {
        const std::string path = "/nonexistent/gslbd-test.mmdb";
        try {
            MaxMindDb db(path);
            FAIL("opened a missing file");
        } catch (const std::runtime_error& e) {
            std::string what = e.what();
            CAPTURE(what);
            CHECK(what.rfind(path + ": " + MMDB_strerror(MMDB_FILE_OPEN_ERROR), 0) == 0);
        }
    }
    SECTION("garbage file") {
        char tmpl[] = "/tmp/gslbd-garbage-XXXXXX";
        int fd = mkstemp(tmpl);
        REQUIRE(fd >= 0);
        const char junk[] = "this is not a MaxMind database, just some bytes\n";
        REQUIRE(write(fd, junk, sizeof junk) == static_cast<ssize_t>(sizeof junk));
        close(fd);
        std::string path = tmpl;
        std::string what;
        try {
            MaxMindDb db(path);
        } catch (const std::runtime_error& e) {
            what = e.what();
        }
        unlink(tmpl);
        CAPTURE(what);
        CHECK(what == path + ": " + MMDB_strerror(MMDB_INVALID_METADATA_ERROR));
    }
}

TEST_CASE("PlaceMemo answers exactly what place() does, only inside the matched network",
          "[geo][mmdb][memo]") {
    const std::string city = env("GSLBD_TEST_CITY_MMDB");
    MaxMindDb db(city);
    gslbd::geo::PlaceMemo memo(4);  // tiny: neighbours fight over slots
    // 192.0.2.0/25 (Berlin) and 192.0.2.128/25 (Tokyo) share one /24 slot; 10.0.0.0/8 is
    // unknown to the database (a negative entry); IPv6 and IPv4-mapped too
    const char* const addrs[] = {
        "192.0.2.1",     "192.0.2.129",   "192.0.2.5",     "192.0.2.200",       "100.64.1.7",
        "100.64.2.7",    "100.64.5.1",    "10.0.0.1",      "10.9.9.9",          "198.51.100.7",
        "2001:db8:1::1", "2001:db8:2::9", "2001:db8:3::1", "::ffff:192.0.2.130"};
    for (int round = 0; round < 3; ++round)
        for (std::size_t i = 0; i < std::size(addrs); ++i) {
            const char* a = addrs[(i * 5 + static_cast<std::size_t>(round)) % std::size(addrs)];
            CAPTURE(a, round);
            const IpAddr addr = ip(a);
            const auto want = db.place(addr);
            const auto& got = memo.place(db, addr);
            CHECK(got.result.found == want.found);
            CHECK(got.result.city == want.city);
            CHECK(got.result.subdivision == want.subdivision);
            CHECK(got.result.country == want.country);
            CHECK(got.result.continent == want.continent);
            CHECK(got.result.has_coordinates == want.has_coordinates);
            CHECK(got.result.latitude == want.latitude);
            CHECK(got.result.longitude == want.longitude);
            CHECK(got.result.prefix == want.prefix);
            const auto u = want.has_coordinates
                               ? gslbd::geo::unit_vector(want.latitude, want.longitude)
                               : gslbd::geo::unit_vector(0, 0);
            CHECK(got.point.x == u.x);
            CHECK(got.point.y == u.y);
            CHECK(got.point.z == u.z);
        }
    CHECK(memo.hits() > 0);

    // the same address twice: the second is a hit; another database (a reload of the same
    // file) never reuses the first one's entries
    gslbd::geo::PlaceMemo one(1024);
    MaxMindDb again(city);
    CHECK(again.serial() != db.serial());
    (void)one.place(db, ip("100.64.2.7"));
    (void)one.place(db, ip("100.64.2.9"));  // same /24 network: a hit
    CHECK(one.hits() == 1);
    CHECK(one.place(again, ip("100.64.2.7")).result.city == "Oakland");
    CHECK(one.hits() == 1);
    CHECK(one.misses() == 2);
}
