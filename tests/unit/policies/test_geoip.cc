// geoip: location map, MaxMind databases, scope and decision class, validation.
#include <algorithm>
#include <set>

#include "config/model.hh"
#include "fixture.hh"
#include "geo/geo.hh"

using namespace gslbd;
using test::backend;
using test::ip;
using test::picked;

namespace {

constexpr std::uint32_t kNoMatchClass = 15u << 28;

config::LocationEntry entry(const char* prefix, const char* location) {
    auto p = util::IpPrefix::parse(prefix);
    REQUIRE(p.has_value());
    config::LocationEntry e;
    e.prefix = *p;
    e.location = location;
    e.pos.file = "location_map.yml";
    return e;
}

gslb::ClientInfo client(const char* addr, std::uint8_t prefix = 24) {
    return {ip(addr), prefix, true};
}

std::uint32_t dim(const gslb::Selection& s) {
    return s.decision_class >> 28;
}

/// Record 0, v4: eu (prio 0), us (prio 0), us (prio 1), no geo keys (prio 0);
/// v6: eu, us.
struct LocationWorld : test::World {
    std::shared_ptr<geo::GeoDbs> geo = std::make_shared<geo::GeoDbs>();
    std::int32_t eu = -1, us = -1;

    LocationWorld() {
        geo->locations = std::make_unique<geo::LocationMap>(std::vector<config::LocationEntry>{
            entry("10.0.0.0/8", "eu"), entry("10.1.0.0/16", "us"), entry("2001:db8:100::/48", "us"),
            entry("2001:db8::/32", "eu")});
        eu = geo->locations->id_of("eu");
        us = geo->locations->id_of("us");
        REQUIRE(eu >= 0);
        REQUIRE(us >= 0);
        REQUIRE(eu != us);
        auto b0 = backend("192.0.2.1", 0, 0);
        b0.locations = {eu};
        auto b1 = backend("192.0.2.2", 1, 0);
        b1.locations = {us};
        auto b2 = backend("192.0.2.3", 2, 1);
        b2.locations = {us, eu};
        auto b3 = backend("192.0.2.4", 3, 0);
        auto v6a = backend("2001:db8::a", 4, 0);
        v6a.locations = {eu};
        auto v6b = backend("2001:db8::b", 5, 0);
        v6b.locations = {us};
        add_record({b0, b1, b2, b3}, {v6a, v6b});
        topo->geo = geo;
        finish();
    }
    /// The honest ECS block the map reports for `addr` (hit or miss).
    std::uint8_t map_scope(const char* addr) const {
        return geo->locations->lookup(ip(addr)).prefix;
    }
};

}  // namespace

TEST_CASE("geoip picks the backends of the client's location, longest prefix first", "[geoip]") {
    LocationWorld w;
    const auto& p = test::policy("geoip");
    const std::vector<std::uint16_t> all{0, 1, 2, 3};

    // every eu backend, whatever its priority (CoreDNS-GSLB); geo_priority: best: the best
    auto s = w.select(p, 0, false, all, client("10.2.3.4"));
    CHECK(picked(s) == std::vector<std::uint16_t>{0, 2});
    w.topo->records[0].geo_best_priority = true;
    CHECK(picked(w.select(p, 0, false, all, client("10.2.3.4"))) == std::vector<std::uint16_t>{0});
    w.topo->records[0].geo_best_priority = false;
    // 10.0.0.0/15 holds no more specific entry: the answer is the same in all of it
    CHECK(s.scope == w.map_scope("10.2.3.4"));
    CHECK(s.scope == 15);
    CHECK(dim(s) == 1);
    CHECK((s.decision_class & 0x0fffffff) == static_cast<std::uint32_t>(w.eu));

    // 10.1.0.0/16 (us) is longer than 10.0.0.0/8 (eu): every us backend
    s = w.select(p, 0, false, all, client("10.1.2.3"));
    CHECK(picked(s) == std::vector<std::uint16_t>{1, 2});
    CHECK(s.scope == 16);  // the matched subnet, nothing more specific inside it
    CHECK((s.decision_class & 0x0fffffff) == static_cast<std::uint32_t>(w.us));

    // same location, different address: same class; different location: different class
    auto s2 = w.select(p, 0, false, all, client("10.200.0.1"));
    auto s3 = w.select(p, 0, false, all, client("10.1.99.1"));
    CHECK(s2.decision_class == w.select(p, 0, false, all, client("10.2.3.4")).decision_class);
    CHECK(s3.decision_class == s.decision_class);
    CHECK(s2.decision_class != s3.decision_class);
    CHECK(s2.decision_class != 0);

    // the us backend of priority 0 is down: the other one
    s = w.select(p, 0, false, {0, 2, 3}, client("10.1.2.3"));
    CHECK(picked(s) == std::vector<std::uint16_t>{2});
    CHECK(s.scope == 16);
}

TEST_CASE("geoip works across families and falls through to failover", "[geoip]") {
    LocationWorld w;
    const auto& p = test::policy("geoip");
    const std::vector<std::uint16_t> all{0, 1, 2, 3};

    // IPv6 client asking A
    auto s = w.select(p, 0, false, all, client("2001:db8:100::7", 56));
    CHECK(picked(s) == std::vector<std::uint16_t>{1, 2});
    CHECK(s.scope == 48);
    // IPv4 client asking AAAA
    s = w.select(p, 0, true, {0, 1}, client("10.9.9.9"));
    CHECK(picked(s) == std::vector<std::uint16_t>{0});
    CHECK(s.scope == w.map_scope("10.9.9.9"));
    CHECK(s.scope >= 8);
    s = w.select(p, 0, true, {0, 1}, client("2001:db8:7::1", 56));
    CHECK(picked(s) == std::vector<std::uint16_t>{0});
    CHECK(s.scope == w.map_scope("2001:db8:7::1"));
    CHECK(s.scope >= 32);

    // no location: failover over all eligible (best priority), still client dependent
    s = w.select(p, 0, false, all, client("172.16.0.1"));
    CHECK(picked(s) == std::vector<std::uint16_t>{0, 1, 3});
    CHECK(s.decision_class == kNoMatchClass);
    // a miss depends on the client too: 128.0.0.0/1 holds no entry at all
    CHECK(s.scope == w.map_scope("172.16.0.1"));
    CHECK(s.scope == 1);

    // a location no eligible backend serves: fall through
    s = w.select(p, 0, false, {1, 3}, client("10.2.3.4"));
    CHECK(picked(s) == std::vector<std::uint16_t>{1, 3});
    CHECK(s.decision_class == kNoMatchClass);
    CHECK(s.scope == w.map_scope("10.2.3.4"));
}

TEST_CASE("geoip does not depend on the client when nothing is looked up", "[geoip]") {
    LocationWorld w;
    const auto& p = test::policy("geoip");

    // only the backend without geo keys is eligible: no lookup at all
    auto s = w.select(p, 0, false, {3}, client("10.1.2.3"));
    CHECK(picked(s) == std::vector<std::uint16_t>{3});
    CHECK(s.scope == 0);
    CHECK(s.decision_class == 0);

    // no client address
    s = w.select(p, 0, false, {0, 1, 2, 3}, gslb::ClientInfo{});
    CHECK(picked(s) == std::vector<std::uint16_t>{0, 1, 3});
    CHECK(s.scope == 0);
    CHECK(s.decision_class == 0);

    // no geo sources in the topology at all
    w.topo->geo = nullptr;
    s = w.select(p, 0, false, {0, 1, 2, 3}, client("10.1.2.3"));
    CHECK(picked(s) == std::vector<std::uint16_t>{0, 1, 3});
    CHECK(s.scope == 0);
    CHECK(s.decision_class == 0);
}

namespace {

/// Record 0, v4 backends, one geo key each (see make_mmdb.pl for the networks):
/// 0 asn 64503 (DE), 1 city Paris, 2 country FR, 3 country US, 4 continent EU,
/// 5 continent AS, 6 nothing (priority 5).
struct MaxMindWorld : test::World {
    std::shared_ptr<geo::GeoDbs> geo = std::make_shared<geo::GeoDbs>();

    explicit MaxMindWorld(bool with_country_db = true) {
        if (with_country_db)
            geo->country_db =
                std::make_unique<geo::MaxMindDb>(test::env_path("GSLBD_TEST_COUNTRY_MMDB"));
        geo->city_db = std::make_unique<geo::MaxMindDb>(test::env_path("GSLBD_TEST_CITY_MMDB"));
        geo->asn_db = std::make_unique<geo::MaxMindDb>(test::env_path("GSLBD_TEST_ASN_MMDB"));
        std::vector<gslb::BackendRt> bs;
        for (std::uint32_t i = 0; i < 7; ++i) {
            auto b = backend("192.0.2.1", i, i == 6 ? 5 : 0);
            b.addr.bytes[3] = static_cast<std::uint8_t>(i + 1);
            bs.push_back(b);
        }
        bs[0].asns = {64503};
        bs[1].cities = {"Paris"};
        bs[2].countries = {geo::pack_code('F', 'R')};
        bs[3].countries = {geo::pack_code('U', 'S')};
        bs[4].continents = {geo::pack_code('E', 'U')};
        bs[5].continents = {geo::pack_code('A', 'S')};
        add_record(bs);
        topo->geo = geo;
        finish();
    }
};

}  // namespace

TEST_CASE("geoip with MaxMind: city, country, continent, then the country db, then asn",
          "[geoip][mmdb]") {
    MaxMindWorld w;
    const auto& p = test::policy("geoip");
    const std::vector<std::uint16_t> all{0, 1, 2, 3, 4, 5, 6};

    // 192.0.2.0/25: DE, Berlin, EU, AS64503 -> CoreDNS-GSLB's order: the city database's
    // continent EU decides before the ASN
    auto s = w.select(p, 0, false, all, client("192.0.2.5"));
    CHECK(picked(s) == std::vector<std::uint16_t>{4});
    CHECK(dim(s) == 5);
    CHECK(s.scope == 25);
    // the EU backend down: nothing in either MaxMind hierarchy, so the ASN decides, and
    // alone (backend 6 lists the same ASN but comes later: the first match answers)
    w.topo->records[0].v4.edit(6).asns = {64503};
    s = w.select(p, 0, false, {0, 1, 2, 3, 5, 6}, client("192.0.2.5"));
    CHECK(picked(s) == std::vector<std::uint16_t>{0});
    CHECK(dim(s) == 2);
    s = w.select(p, 0, false, {1, 2, 3, 5, 6}, client("192.0.2.5"));
    CHECK(picked(s) == std::vector<std::uint16_t>{6});
    w.topo->records[0].v4.edit(6).asns.clear();

    // 198.51.100.0/24: FR, Paris, AS64501 (no backend) -> city before country
    s = w.select(p, 0, false, all, client("198.51.100.7"));
    CHECK(picked(s) == std::vector<std::uint16_t>{1});
    CHECK(dim(s) == 3);
    CHECK(s.scope == 24);
    // Paris backend down -> country FR
    s = w.select(p, 0, false, {0, 2, 3, 4, 5, 6}, client("198.51.100.7"));
    CHECK(picked(s) == std::vector<std::uint16_t>{2});
    CHECK(s.decision_class == ((4u << 28) | geo::pack_code('F', 'R')));
    // and country FR down too -> continent EU
    s = w.select(p, 0, false, {0, 3, 4, 5, 6}, client("198.51.100.7"));
    CHECK(picked(s) == std::vector<std::uint16_t>{4});
    CHECK(s.decision_class == ((5u << 28) | geo::pack_code('E', 'U')));

    // 203.0.113.0/24: US, New York, NA
    s = w.select(p, 0, false, all, client("203.0.113.9"));
    CHECK(picked(s) == std::vector<std::uint16_t>{3});
    CHECK(s.scope == 24);
    // 198.18.0.0/15: GB, London, EU -> continent
    s = w.select(p, 0, false, all, client("198.18.7.7"));
    CHECK(picked(s) == std::vector<std::uint16_t>{4});
    CHECK(s.scope == 15);
    // 192.0.2.128/25: JP, Tokyo, AS, AS64504
    s = w.select(p, 0, false, all, client("192.0.2.200"));
    CHECK(picked(s) == std::vector<std::uint16_t>{5});
    CHECK(s.scope == 25);
    // IPv6 client asking A: 2001:db8:1::/48 is Paris
    s = w.select(p, 0, false, all, client("2001:db8:1::1", 56));
    CHECK(picked(s) == std::vector<std::uint16_t>{1});
    CHECK(s.scope == 48);

    // not in any database: failover over everything eligible (priority 0 group)
    s = w.select(p, 0, false, all, client("10.0.0.1"));
    CHECK(picked(s) == std::vector<std::uint16_t>{0, 1, 2, 3, 4, 5});
    CHECK(s.decision_class == kNoMatchClass);
    CHECK(s.scope > 0);
}

TEST_CASE("geoip with MaxMind: classes are exact and country falls back to the city db",
          "[geoip][mmdb]") {
    MaxMindWorld w(false);  // no country database: country/continent come from city_db
    const auto& p = test::policy("geoip");
    const std::vector<std::uint16_t> all{0, 1, 2, 3, 4, 5, 6};

    auto s = w.select(p, 0, false, all, client("203.0.113.9"));
    CHECK(picked(s) == std::vector<std::uint16_t>{3});
    CHECK(s.decision_class == ((4u << 28) | geo::pack_code('U', 'S')));
    s = w.select(p, 0, false, all, client("198.18.0.1"));
    CHECK(picked(s) == std::vector<std::uint16_t>{4});

    // Paris over IPv4 and IPv6 is the same decision
    auto v4 = w.select(p, 0, false, all, client("198.51.100.7"));
    auto v6 = w.select(p, 0, false, all, client("2001:db8:1::1", 56));
    CHECK(v4.decision_class == v6.decision_class);
    CHECK(v4.decision_class != 0);
    CHECK(v4.scope == 24);
    CHECK(v6.scope == 48);

    // Berlin and London both decide on continent EU (the city database's hierarchy comes
    // before the ASN): one class, as they get one answer
    std::set<std::uint32_t> classes;
    for (const char* a :
         {"192.0.2.5", "198.51.100.7", "203.0.113.9", "198.18.0.1", "192.0.2.200", "10.0.0.1"})
        classes.insert(w.select(p, 0, false, all, client(a)).decision_class);
    CHECK(classes.size() == 5);
    CHECK(w.select(p, 0, false, all, client("192.0.2.5")).decision_class ==
          w.select(p, 0, false, all, client("198.18.0.1")).decision_class);
}

TEST_CASE("geoip scope is the largest prefix among the lookups consulted", "[geoip][mmdb]") {
    MaxMindWorld w;
    // a hand-made location for part of 203.0.113.0/24, served by a new backend 7
    w.geo->locations = std::make_unique<geo::LocationMap>(
        std::vector<config::LocationEntry>{entry("203.0.113.0/28", "nyc-small")});
    auto b7 = backend("192.0.2.99", 7, 0);
    b7.locations = {w.geo->locations->id_of("nyc-small")};
    w.topo->records[0].v4.push_back(b7);
    const auto& p = test::policy("geoip");
    const std::vector<std::uint16_t> all{0, 1, 2, 3, 4, 5, 6, 7};

    // the location map comes last (CoreDNS-GSLB's order): the city database's country US
    // decides first, and it is the only lookup made
    auto s = w.select(p, 0, false, all, client("203.0.113.9"));
    CHECK(picked(s) == std::vector<std::uint16_t>{3});
    CHECK(dim(s) == 4);
    CHECK(s.scope == 24);
    // the US backend down: every MaxMind step misses, the map decides; the scope is the
    // longest block among all the lookups made
    const std::vector<std::uint16_t> no_us{0, 1, 2, 4, 5, 6, 7};
    s = w.select(p, 0, false, no_us, client("203.0.113.9"));
    CHECK(picked(s) == std::vector<std::uint16_t>{7});
    CHECK(dim(s) == 1);
    CHECK(s.scope == 28);

    // outside the /28: everything misses; the miss block from the map (203.0.113.128/25) is
    // longer than the databases' networks and wins
    const auto a = ip("203.0.113.200");
    s = w.select(p, 0, false, all, client("203.0.113.200"));
    CHECK(picked(s) == std::vector<std::uint16_t>{3});
    CHECK(s.scope == w.geo->city_db->place(a).prefix);
    s = w.select(p, 0, false, no_us, client("203.0.113.200"));
    CHECK(s.decision_class == kNoMatchClass);
    const std::uint8_t expected =
        std::max({w.geo->locations->lookup(a).prefix, w.geo->asn_db->asn(a).prefix,
                  w.geo->city_db->city(a).prefix, w.geo->country_db->country(a).prefix});
    CHECK(s.scope == expected);
    CHECK(s.scope == 25);
}

namespace {
config::Record geo_record() {
    config::Record r;
    r.name = "www.example.";
    r.mode = "geoip";
    r.pos = {"zone.yml", 12, 5};
    config::Backend b;
    b.address = ip("192.0.2.1");
    b.address_text = "192.0.2.1";
    b.pos = {"zone.yml", 15, 9};
    r.backends.push_back(b);
    return r;
}

void expect_error(const config::Record& rec, const config::Config& cfg, const geo::GeoDbs* geo,
                  const std::string& mentions) {
    try {
        test::policy("geoip").validate(rec, cfg, geo);
        FAIL("no ConfigError; expected one mentioning " << mentions);
    } catch (const config::ConfigError& e) {
        INFO(e.what());
        CHECK(e.field() == "mode");
        CHECK(e.pos().line == 12);
        CHECK(e.pos().file == "zone.yml");
        CHECK(std::string(e.what()).find(mentions) != std::string::npos);
        CHECK(std::string(e.what()).find("192.0.2.1") != std::string::npos);
    }
}
}  // namespace

TEST_CASE("geoip validate names the missing database and its config key", "[geoip][validate]") {
    config::Config cfg;
    geo::GeoDbs none;

    auto rec = geo_record();
    CHECK_NOTHROW(test::policy("geoip").validate(rec, cfg, &none));  // no geo keys: failover

    rec.backends[0].countries = {"FR"};
    expect_error(rec, cfg, &none, "geoip.country_db");
    expect_error(rec, cfg, nullptr, "geoip.country_db");
    rec = geo_record();
    rec.backends[0].continents = {"EU"};
    expect_error(rec, cfg, &none, "geoip.country_db");
    rec = geo_record();
    rec.backends[0].cities = {"Paris"};
    expect_error(rec, cfg, &none, "geoip.city_db");
    rec = geo_record();
    rec.backends[0].asns = {64501};
    expect_error(rec, cfg, &none, "geoip.asn_db");
    rec = geo_record();
    rec.backends[0].locations = {"eu"};
    expect_error(rec, cfg, &none, "geoip.location_map");

    // configured by path but not loaded (geo == nullptr): accepted
    rec = geo_record();
    rec.backends[0].countries = {"FR"};
    rec.backends[0].asns = {64501};
    cfg.country_db = "/x/country.mmdb";
    cfg.asn_db = "/x/asn.mmdb";
    CHECK_NOTHROW(test::policy("geoip").validate(rec, cfg, nullptr));
    // ... but the loaded set is what counts when there is one
    expect_error(rec, cfg, &none, "geoip.asn_db");

    // the other modes accept any geo keys
    for (const char* m : {"failover", "roundrobin", "random", "weighted"})
        CHECK_NOTHROW(test::policy(m).validate(rec, config::Config{}, &none));
}

TEST_CASE("geoip validate accepts the city db for countries and continents",
          "[geoip][validate][mmdb]") {
    config::Config cfg;
    geo::GeoDbs geo;
    geo.city_db = std::make_unique<geo::MaxMindDb>(test::env_path("GSLBD_TEST_CITY_MMDB"));
    auto rec = geo_record();
    rec.backends[0].countries = {"FR"};
    rec.backends[0].continents = {"EU"};
    rec.backends[0].cities = {"Paris"};
    CHECK_NOTHROW(test::policy("geoip").validate(rec, cfg, &geo));
    rec.backends[0].asns = {64501};
    expect_error(rec, cfg, &geo, "geoip.asn_db");
}

namespace {

/// Record 0, v4, matching backends of several priorities at every step (make_mmdb.pl has
/// the networks): 0, 1 city Paris (priorities 2, 1); 2, 3 city Paris + country FR (3, 1);
/// 4 subdivision US-CA (1); 5 subdivision CA + country US (0); 6, 7 country US (2, 1);
/// 8, 9 continent EU (2, 1); 10, 11 asn 64504 (3, 1); 12 nothing (4).
struct PriorityWorld : test::World {
    std::shared_ptr<geo::GeoDbs> geo = std::make_shared<geo::GeoDbs>();

    explicit PriorityWorld(bool with_city_db) {
        if (with_city_db)
            geo->city_db = std::make_unique<geo::MaxMindDb>(test::env_path("GSLBD_TEST_CITY_MMDB"));
        geo->country_db =
            std::make_unique<geo::MaxMindDb>(test::env_path("GSLBD_TEST_COUNTRY_MMDB"));
        geo->asn_db = std::make_unique<geo::MaxMindDb>(test::env_path("GSLBD_TEST_ASN_MMDB"));
        const std::int32_t prio[13] = {2, 1, 3, 1, 1, 0, 2, 1, 2, 1, 3, 1, 4};
        std::vector<gslb::BackendRt> bs;
        for (std::uint32_t i = 0; i < 13; ++i) {
            auto b = backend("192.0.2.1", i, prio[i]);
            b.addr.bytes[3] = static_cast<std::uint8_t>(i + 1);
            bs.push_back(b);
        }
        const auto fr = geo::pack_code('F', 'R'), us = geo::pack_code('U', 'S');
        for (int i : {0, 1, 2, 3}) bs[i].cities = {"Paris"};
        for (int i : {2, 3}) bs[i].countries = {fr};
        bs[4].subdivisions = {{us, geo::pack_subdivision("CA")}};
        bs[5].subdivisions = {{0, geo::pack_subdivision("CA")}};
        bs[5].countries = {us};
        for (int i : {6, 7}) bs[i].countries = {us};
        for (int i : {8, 9}) bs[i].continents = {geo::pack_code('E', 'U')};
        for (int i : {10, 11}) bs[i].asns = {64504};
        add_record(bs);
        topo->geo = geo;
        finish();
    }
    /// The selection for `addr` over `eligible`, with geo_priority all and best.
    std::pair<std::vector<std::uint16_t>, std::vector<std::uint16_t>> both(
        const std::vector<std::uint16_t>& eligible, const char* addr) {
        const auto& p = test::policy("geoip");
        auto& rec = topo->records[0];
        rec.geo_best_priority = false;
        const auto all = select(p, 0, false, eligible, client(addr));
        rec.geo_best_priority = true;
        const auto best = select(p, 0, false, eligible, client(addr));
        rec.geo_best_priority = false;
        CHECK(all.decision_class == best.decision_class);  // the choice is the record's
        CHECK(all.scope == best.scope);
        return {picked(all), picked(best)};
    }
};

using Picks = std::vector<std::uint16_t>;

}  // namespace

TEST_CASE(
    "geoip answers every match of the deciding step whatever its priority, as "
    "CoreDNS-GSLB; geo_priority best only the best priority",
    "[geoip][mmdb]") {
    PriorityWorld w(true);
    std::vector<std::uint16_t> all(13);
    for (std::uint16_t i = 0; i < 13; ++i) all[i] = i;
    auto without = [&](std::initializer_list<std::uint16_t> out) {
        std::vector<std::uint16_t> v;
        for (auto i : all)
            if (std::find(out.begin(), out.end(), i) == out.end()) v.push_back(i);
        return v;
    };

    // city, its best tier (country declared): both, or the best of them
    CHECK(w.both(all, "198.51.100.7") == std::pair{Picks{2, 3}, Picks{3}});
    // that tier down: the city alone, both priorities
    CHECK(w.both(without({2, 3}), "198.51.100.7") == std::pair{Picks{0, 1}, Picks{1}});
    // one left of a tier: itself in both
    CHECK(w.both(without({3}), "198.51.100.7") == std::pair{Picks{2}, Picks{2}});
    // subdivision (Oakland, US-CA): both spellings
    CHECK(w.both(all, "100.64.2.7") == std::pair{Picks{4, 5}, Picks{5}});
    // country (New York, US): 5 declares US too
    CHECK(w.both(all, "203.0.113.7") == std::pair{Picks{5, 6, 7}, Picks{5}});
    CHECK(w.both(without({5}), "203.0.113.7") == std::pair{Picks{6, 7}, Picks{7}});
    // continent (Berlin, EU)
    CHECK(w.both(all, "192.0.2.5") == std::pair{Picks{8, 9}, Picks{9}});
    // ASN (Tokyo, AS64504): the first match in config order alone, in both
    CHECK(w.both(all, "192.0.2.200") == std::pair{Picks{10}, Picks{10}});
    CHECK(w.both(without({10}), "192.0.2.200") == std::pair{Picks{11}, Picks{11}});
    // no match: failover, the best priority, in both
    CHECK(w.both(all, "10.0.0.1") == std::pair{Picks{5}, Picks{5}});
    CHECK(w.both(without({5}), "10.0.0.1") ==
          std::pair{Picks{1, 3, 4, 7, 9, 11}, Picks{1, 3, 4, 7, 9, 11}});

    // the country database alone (no city database): its country and continent steps
    PriorityWorld c(false);
    CHECK(c.both(all, "203.0.113.7") == std::pair{Picks{5, 6, 7}, Picks{5}});
    CHECK(c.both(all, "192.0.2.5") == std::pair{Picks{8, 9}, Picks{9}});
    CHECK(c.both(all, "198.51.100.7") == std::pair{Picks{2, 3}, Picks{3}});  // FR
}
