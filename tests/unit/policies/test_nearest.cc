// Nearest by coordinates and subdivisions (geoip), and geoip_affinity, over the test city
// database (tests/data/geo/make_mmdb.pl lists its networks, coordinates and subdivisions).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "fixture.hh"
#include "util/random.hh"

using namespace gslbd;
using test::backend;

namespace {

gslb::ClientInfo client(const char* addr) {
    const auto a = test::ip(addr);
    return {a, static_cast<std::uint8_t>(a.family == 4 ? 24 : 56), true};
}

std::vector<std::uint16_t> picked(const gslb::Selection& s) {
    return {s.idx.begin(), s.idx.begin() + s.count};
}

gslb::BackendRt at(const char* addr, std::uint32_t id, double lat, double lon,
                   std::int32_t priority = 0) {
    auto b = backend(addr, id, priority);
    b.has_coords = true;
    b.latitude = lat;
    b.longitude = lon;
    b.point = geo::unit_vector(lat, lon);
    return b;
}

constexpr double kParis[2] = {48.8566, 2.3522}, kNewYork[2] = {40.7128, -74.0060},
                 kSanJose[2] = {37.3382, -121.8863}, kTokyo[2] = {35.6762, 139.6503},
                 kSeattle[2] = {47.6062, -122.3321}, kHonolulu[2] = {21.3069, -157.8583};

struct CityWorld : test::World {
    std::shared_ptr<geo::GeoDbs> geo = std::make_shared<geo::GeoDbs>();
    CityWorld() {
        geo->city_db = std::make_unique<geo::MaxMindDb>(test::env_path("GSLBD_TEST_CITY_MMDB"));
        topo->geo = geo;
    }
    /// Every client of `clients` asked twice, and a class always maps to one selection:
    /// what the response cache relies on.
    void check_classes_exact(const gslb::Policy& p, const std::vector<std::uint16_t>& eligible,
                             std::initializer_list<const char*> clients) {
        std::map<std::uint32_t, std::vector<std::uint16_t>> by_class;
        for (const char* c : clients) {
            const auto s = select(p, 0, false, eligible, client(c));
            auto [it, fresh] = by_class.emplace(s.decision_class, picked(s));
            INFO("client " << c << " class " << s.decision_class);
            CHECK(it->second == picked(s));
        }
    }
};

}  // namespace

TEST_CASE("distance: haversine figures, and closeness orders as distance does", "[nearest]") {
    CHECK(std::abs(geo::distance_km(kParis[0], kParis[1], kNewYork[0], kNewYork[1]) - 5837) < 5);
    CHECK(geo::distance_km(kTokyo[0], kTokyo[1], kTokyo[0], kTokyo[1]) == 0);
    util::Rng rng(7);
    auto deg = [&](double lim) {
        return (static_cast<double>(rng.next() >> 11) * 0x1p-53 * 2 - 1) * lim;
    };
    for (int i = 0; i < 20000; ++i) {
        const double c[2] = {deg(90), deg(180)}, a[2] = {deg(90), deg(180)},
                     b[2] = {deg(90), deg(180)};
        const double da = geo::distance_km(c[0], c[1], a[0], a[1]);
        const double db = geo::distance_km(c[0], c[1], b[0], b[1]);
        if (std::abs(da - db) < 1e-3) continue;  // a near tie: either order is right
        const auto pc = geo::unit_vector(c[0], c[1]);
        INFO(c[0] << "," << c[1] << " a " << a[0] << "," << a[1] << " b " << b[0] << "," << b[1]);
        CHECK((geo::closeness(pc, geo::unit_vector(a[0], a[1])) >
               geo::closeness(pc, geo::unit_vector(b[0], b[1]))) == (da < db));
    }
}

TEST_CASE("subdivision codes pack into 18 bits and back", "[nearest]") {
    CHECK(geo::pack_subdivision("CA") != 0);
    CHECK(geo::pack_subdivision("ca") == geo::pack_subdivision("CA"));
    CHECK(geo::pack_subdivision("IDF") < (1u << 18));
    CHECK(geo::pack_subdivision("ZZZ") < (1u << 18));
    CHECK(geo::subdivision_text(geo::pack_subdivision("13")) == "13");
    CHECK(geo::subdivision_text(geo::pack_subdivision("ARA")) == "ARA");
    CHECK(geo::pack_subdivision("") == 0);
    CHECK(geo::pack_subdivision("ABCD") == 0);
    CHECK(geo::pack_subdivision("A-") == 0);
}

TEST_CASE("the city database gives subdivision, country and coordinates", "[nearest][mmdb]") {
    geo::MaxMindDb db(test::env_path("GSLBD_TEST_CITY_MMDB"));
    auto p = db.place(test::ip("100.64.2.9"));
    CHECK(p.found);
    CHECK(p.city == "Oakland");
    CHECK(p.subdivision == geo::pack_subdivision("CA"));
    CHECK(p.country == geo::pack_code('U', 'S'));
    CHECK(p.continent == geo::pack_code('N', 'A'));
    CHECK(p.has_coordinates);
    CHECK(p.latitude == Approx(37.8044));
    CHECK(p.longitude == Approx(-122.2711));
    CHECK(p.prefix == 24);
    p = db.place(test::ip("100.64.5.1"));  // a country, no city, no location
    CHECK(p.found);
    CHECK_FALSE(p.has_coordinates);
    CHECK(p.subdivision == 0);
    p = db.place(test::ip("10.0.0.1"));
    CHECK_FALSE(p.found);
    CHECK(p.prefix > 0);
}

TEST_CASE("geoip nearest: the nearest site, its best priority, then the next site",
          "[nearest][geoip][mmdb]") {
    CityWorld w;
    // 0, 1 Paris priority 0; 2 Paris priority 1; 3 New York; 4 San Jose; 5 Tokyo
    w.add_record(
        {at("192.0.2.1", 0, kParis[0], kParis[1]), at("192.0.2.2", 1, kParis[0], kParis[1]),
         at("192.0.2.3", 2, kParis[0], kParis[1], 1), at("192.0.2.4", 3, kNewYork[0], kNewYork[1]),
         at("192.0.2.5", 4, kSanJose[0], kSanJose[1]), at("192.0.2.6", 5, kTokyo[0], kTokyo[1])});
    w.finish();
    const auto& p = test::policy("geoip");
    const std::vector<std::uint16_t> all{0, 1, 2, 3, 4, 5};

    auto s = w.select(p, 0, false, all, client("198.51.100.7"));  // Paris
    CHECK(picked(s) == std::vector<std::uint16_t>{0, 1});
    CHECK(s.decision_class == (6u << 28 | 0));
    CHECK(s.scope == 24);
    s = w.select(p, 0, false, {2, 3, 4, 5}, client("198.51.100.7"));  // 0, 1 down
    CHECK(picked(s) == std::vector<std::uint16_t>{2});
    s = w.select(p, 0, false, {3, 4, 5}, client("198.51.100.7"));  // Paris down: New York
    CHECK(picked(s) == std::vector<std::uint16_t>{3});
    s = w.select(p, 0, false, all, client("100.64.4.1"));  // Lyon -> Paris
    CHECK(picked(s) == std::vector<std::uint16_t>{0, 1});
    s = w.select(p, 0, false, all, client("100.64.2.9"));  // Oakland -> San Jose
    CHECK(picked(s) == std::vector<std::uint16_t>{4});
    s = w.select(p, 0, false, all, client("192.0.2.200"));  // Tokyo
    CHECK(picked(s) == std::vector<std::uint16_t>{5});
    s = w.select(p, 0, false, all, client("2001:db8:2::1"));  // New York over IPv6
    CHECK(picked(s) == std::vector<std::uint16_t>{3});
    CHECK(s.scope == 48);

    // not placed (no entry, or an entry without a location): measured from latitude 0,
    // longitude 0 as CoreDNS-GSLB does: Paris is the nearest site to it; scope still honest
    for (const char* c : {"10.0.0.1", "100.64.5.1"}) {
        s = w.select(p, 0, false, all, client(c));
        CHECK(picked(s) == std::vector<std::uint16_t>{0, 1});
        CHECK(s.decision_class == (6u << 28 | 0));
        CHECK(s.scope > 0);
        CHECK(s.scope == w.geo->city_db->place(test::ip(c)).prefix);
    }
    w.check_classes_exact(p, all,
                          {"198.51.100.7", "100.64.4.1", "100.64.1.1", "100.64.2.9", "100.64.3.3",
                           "203.0.113.1", "192.0.2.130", "198.18.0.1", "10.0.0.1"});
}

TEST_CASE("geoip subdivision: after city, before country, with the client's country",
          "[subdivision][geoip][mmdb]") {
    CityWorld w;
    auto us_ca = backend("192.0.2.1", 0);  // subdivision CA of the US (country: US)
    us_ca.countries = {geo::pack_code('U', 'S')};
    us_ca.subdivisions = {{geo::pack_code('U', 'S'), geo::pack_subdivision("CA")}};
    auto any_ca = backend("192.0.2.2", 1);  // "CA" without a country: any country's CA
    any_ca.subdivisions = {{0, geo::pack_subdivision("CA")}};
    auto ca_bc = backend("192.0.2.3", 2);  // "CA-BC"
    ca_bc.subdivisions = {{geo::pack_code('C', 'A'), geo::pack_subdivision("BC")}};
    auto fr_ca = backend("192.0.2.4", 3);  // country FR with "CA": never a US client's
    fr_ca.subdivisions = {{geo::pack_code('F', 'R'), geo::pack_subdivision("CA")}};
    auto sj = backend("192.0.2.5", 4);  // the city San Jose
    sj.cities = {"san jose"};
    auto other = backend("192.0.2.6", 5, 1);
    w.add_record({us_ca, any_ca, ca_bc, fr_ca, sj, other});
    w.finish();
    const auto& p = test::policy("geoip");
    const std::vector<std::uint16_t> all{0, 1, 2, 3, 4, 5};

    auto s = w.select(p, 0, false, all, client("100.64.1.5"));  // San Jose: the city first
    CHECK(picked(s) == std::vector<std::uint16_t>{4});
    CHECK(s.decision_class >> 28 == 3);
    s = w.select(p, 0, false, all, client("100.64.2.5"));  // Oakland, US-CA
    CHECK(picked(s) == std::vector<std::uint16_t>{0, 1});
    CHECK(s.decision_class >> 28 == 7);
    s = w.select(p, 0, false, {1, 2, 3, 4, 5}, client("100.64.2.5"));
    CHECK(picked(s) == std::vector<std::uint16_t>{1});
    s = w.select(p, 0, false, {2, 3, 4, 5}, client("100.64.2.5"));  // no US-CA left: failover
    CHECK(picked(s) == std::vector<std::uint16_t>{2, 3, 4});
    s = w.select(p, 0, false, all, client("100.64.3.5"));  // Vancouver, CA-BC
    CHECK(picked(s) == std::vector<std::uint16_t>{2});
    w.check_classes_exact(p, all,
                          {"100.64.1.5", "100.64.2.5", "100.64.3.5", "198.51.100.1", "10.0.0.1"});
}

TEST_CASE("geoip_affinity keeps the client in its country, then picks the nearest",
          "[affinity][mmdb]") {
    CityWorld w;
    auto seattle = at("192.0.2.1", 0, kSeattle[0], kSeattle[1]);
    seattle.countries = {geo::pack_code('U', 'S')};
    auto ny = at("192.0.2.2", 1, kNewYork[0], kNewYork[1]);
    ny.countries = {geo::pack_code('U', 'S')};
    auto paris = at("192.0.2.3", 2, kParis[0], kParis[1]);
    paris.countries = {geo::pack_code('F', 'R')};
    auto honolulu = at("192.0.2.4", 3, kHonolulu[0], kHonolulu[1]);
    honolulu.countries = {geo::pack_code('U', 'S')};
    auto ny_untagged = at("192.0.2.5", 4, kNewYork[0], kNewYork[1]);  // same site, no country
    w.add_record({seattle, ny, paris, honolulu, ny_untagged});
    w.finish();
    const auto& aff = test::policy("geoip_affinity");
    const auto& geoip = test::policy("geoip");

    // the docs' example: a US client gets the nearest US backend, never Paris
    auto s = w.select(aff, 0, false, {0, 1, 2, 3, 4}, client("100.64.1.1"));  // San Jose
    CHECK(picked(s) == std::vector<std::uint16_t>{0});
    CHECK(s.scope == 24);
    s = w.select(aff, 0, false, {0, 1, 2, 3, 4}, client("203.0.113.1"));  // New York
    CHECK(picked(s) == std::vector<std::uint16_t>{1});  // the site's US member only
    s = w.select(aff, 0, false, {0, 1, 2, 3, 4}, client("100.64.4.1"));  // Lyon -> Paris
    CHECK(picked(s) == std::vector<std::uint16_t>{2});
    // only Honolulu left in the US: a New York client stays in the US (affinity) where
    // geoip's nearest goes to the same-site untagged backend or Paris
    s = w.select(aff, 0, false, {2, 3}, client("203.0.113.1"));
    CHECK(picked(s) == std::vector<std::uint16_t>{3});
    s = w.select(geoip, 0, false, {2, 3}, client("203.0.113.1"));
    CHECK(picked(s) == std::vector<std::uint16_t>{2});
    // no US backend at all: the nearest globally (New York's untagged backend, then Paris)
    s = w.select(aff, 0, false, {2, 4}, client("203.0.113.1"));
    CHECK(picked(s) == std::vector<std::uint16_t>{4});
    s = w.select(aff, 0, false, {2}, client("203.0.113.1"));
    CHECK(picked(s) == std::vector<std::uint16_t>{2});
    // Vancouver (CA, NA): no CA backend, no continent tags -> the nearest globally: Seattle
    s = w.select(aff, 0, false, {0, 1, 2, 3, 4}, client("100.64.3.1"));
    CHECK(picked(s) == std::vector<std::uint16_t>{0});
    // not placed: failover over everything (all priority 0)
    s = w.select(aff, 0, false, {0, 1, 2, 3, 4}, client("10.0.0.1"));
    CHECK(picked(s) == std::vector<std::uint16_t>{0, 1, 2, 3, 4});
    w.check_classes_exact(aff, {0, 1, 2, 3, 4},
                          {"100.64.1.1", "100.64.2.1", "203.0.113.1", "100.64.4.1", "198.51.100.1",
                           "100.64.3.1", "192.0.2.130", "10.0.0.1", "2001:db8:2::1"});
    w.check_classes_exact(aff, {2, 3, 4}, {"203.0.113.1", "100.64.1.1", "100.64.4.1"});
}

TEST_CASE(
    "geoip_affinity: a subnet pin wins over a nearer site; no coordinates: failover "
    "within the level",
    "[affinity][mmdb]") {
    CityWorld w;
    w.geo->locations = std::make_unique<geo::LocationMap>(std::vector<config::LocationEntry>{
        {*util::IpPrefix::parse("100.64.1.0/24"), "eu-west", {}}});
    auto us = at("192.0.2.1", 0, kSanJose[0], kSanJose[1]);
    us.countries = {geo::pack_code('U', 'S')};
    auto eu = at("192.0.2.2", 1, kParis[0], kParis[1]);
    eu.locations = {0};
    // no coordinates: failover within the subdivision level US-CA
    auto ca1 = backend("192.0.2.3", 2, 2);
    ca1.subdivisions = {{geo::pack_code('U', 'S'), geo::pack_subdivision("CA")}};
    auto ca2 = backend("192.0.2.4", 3, 1);
    ca2.subdivisions = {{geo::pack_code('U', 'S'), geo::pack_subdivision("CA")}};
    auto ca_any = backend("192.0.2.5", 4, 0);  // "CA" without a country: not this level
    ca_any.subdivisions = {{0, geo::pack_subdivision("CA")}};
    w.add_record({us, eu});
    w.add_record({ca1, ca2, ca_any});
    w.finish();
    const auto& aff = test::policy("geoip_affinity");

    auto s = w.select(aff, 0, false, {0, 1}, client("100.64.1.9"));  // San Jose, pinned EU
    CHECK(picked(s) == std::vector<std::uint16_t>{1});
    s = w.select(aff, 0, false, {0}, client("100.64.1.9"));  // pin empty -> country US
    CHECK(picked(s) == std::vector<std::uint16_t>{0});
    s = w.select(aff, 0, false, {0, 1}, client("100.64.2.9"));  // Oakland: US
    CHECK(picked(s) == std::vector<std::uint16_t>{0});

    s = w.select(aff, 1, false, {0, 1, 2}, client("100.64.2.9"));
    CHECK(picked(s) == std::vector<std::uint16_t>{1});
    CHECK(s.decision_class >> 29 == 4);
    s = w.select(aff, 1, false, {0, 2}, client("100.64.2.9"));
    CHECK(picked(s) == std::vector<std::uint16_t>{0});
    s = w.select(aff, 1, false, {2}, client("100.64.2.9"));  // level empty: global failover
    CHECK(picked(s) == std::vector<std::uint16_t>{2});
}

namespace {

/// A plain reference of the two modes' semantics (docs/configuration.md, Modes), written
/// with the haversine distance and no cache classes, for the random test below. The world
/// has the city database only (country and continent come from it).
struct Reference {
    std::span<const gslb::BackendRt> family;
    const std::vector<std::uint16_t>& eligible;
    geo::MaxMindDb::PlaceResult place;
    bool best = false;  ///< geoip's `geo_priority: best`

    /// What geoip's city, subdivision, country and continent steps answer: every match
    /// (CoreDNS-GSLB), or with `best` the best priority among them.
    template <class Match>
    std::vector<std::uint16_t> matching(Match match) const {
        if (best) return failover(match);
        std::vector<std::uint16_t> out;
        for (auto i : eligible)
            if (match(family[i])) out.push_back(i);
        return out;
    }

    template <class Match>
    std::vector<std::uint16_t> failover(Match match) const {
        std::vector<std::uint16_t> out;
        std::int32_t best = 0;
        bool any = false;
        for (auto i : eligible)
            if (match(family[i]) && (!any || family[i].priority < best)) {
                best = family[i].priority;
                any = true;
            }
        for (auto i : eligible)
            if (match(family[i]) && family[i].priority == best) out.push_back(i);
        return out;
    }
    /// `origin`: an unplaced client is measured from (0, 0) (geoip, as CoreDNS-GSLB).
    template <class Match>
    std::vector<std::uint16_t> nearest(Match match, bool origin = false) const {
        std::vector<std::uint16_t> out;
        if (!place.has_coordinates && !origin) return out;
        const double lat = place.has_coordinates ? place.latitude : 0;
        const double lon = place.has_coordinates ? place.longitude : 0;
        double best = 1e18;
        std::int32_t prio = 0;
        for (auto i : eligible) {
            const auto& b = family[i];
            if (!b.has_coords || !match(b)) continue;
            const double d = geo::distance_km(lat, lon, b.latitude, b.longitude);
            if (out.empty() || d < best - 1e-9 ||
                (std::abs(d - best) <= 1e-9 && b.priority < prio)) {
                out = {i};
                best = d;
                prio = b.priority;
            }
        }
        if (out.empty()) return out;
        const auto& r = family[out[0]];
        out.clear();
        for (auto i : eligible) {
            const auto& b = family[i];
            if (b.has_coords && match(b) && b.latitude == r.latitude &&
                b.longitude == r.longitude && b.priority == r.priority)
                out.push_back(i);
        }
        return out;
    }
    static bool city_of(const gslb::BackendRt& b, std::string_view c) {
        for (const auto& x : b.cities)
            if (x.size() == c.size() &&
                std::equal(x.begin(), x.end(), c.begin(), [](char p, char q) {
                    return std::tolower(static_cast<unsigned char>(p)) ==
                           std::tolower(static_cast<unsigned char>(q));
                }))
                return true;
        return false;
    }
    bool has_country(const gslb::BackendRt& b) const {
        return std::find(b.countries.begin(), b.countries.end(), place.country) !=
               b.countries.end();
    }
    bool has_continent(const gslb::BackendRt& b) const {
        return std::find(b.continents.begin(), b.continents.end(), place.continent) !=
               b.continents.end();
    }
    /// CoreDNS-GSLB drops a backend whose declared continent / country / subdivision is not
    /// the client's.
    bool other_continent(const gslb::BackendRt& b) const {
        return !b.continents.empty() && !has_continent(b);
    }
    bool other_country(const gslb::BackendRt& b) const {
        return !b.countries.empty() && !has_country(b);
    }
    bool other_subdivision(const gslb::BackendRt& b) const {
        return !b.subdivisions.empty() && !in_sub(b, false);
    }
    bool in_sub(const gslb::BackendRt& b, bool strict) const {
        for (const auto& x : b.subdivisions)
            if (x.code == place.subdivision &&
                (strict ? x.country != 0 && x.country == place.country
                        : x.country == 0 || x.country == place.country))
                return true;
        return false;
    }

    std::vector<std::uint16_t> geoip() const {
        auto all = [](const gslb::BackendRt&) { return true; };
        if (auto n = nearest(all, true); !n.empty()) return n;
        std::vector<std::uint16_t> r;
        // the city: no contradiction, then the tiers (country and subdivision declared,
        // country declared, neither)
        auto city_ok = [&](const gslb::BackendRt& b) {
            return city_of(b, place.city) && !other_continent(b) && !other_country(b) &&
                   !other_subdivision(b);
        };
        for (int tier = 0; tier < 3 && !place.city.empty(); ++tier)
            if (!(r = matching([&](const gslb::BackendRt& b) {
                      const int t = b.countries.empty() ? 2 : b.subdivisions.empty() ? 1 : 0;
                      return city_ok(b) && t == tier;
                  })).empty())
                return r;
        if (place.subdivision != 0 && !(r = matching([&](const gslb::BackendRt& b) {
                                            return in_sub(b, false) && !other_continent(b) &&
                                                   !other_country(b);
                                        })).empty())
            return r;
        if (place.country != 0 && !(r = matching([&](const gslb::BackendRt& b) {
                                        return has_country(b) && !other_continent(b);
                                    })).empty())
            return r;
        if (place.continent != 0 &&
            !(r = matching([&](const gslb::BackendRt& b) { return has_continent(b); })).empty())
            return r;
        return failover(all);
    }
    std::vector<std::uint16_t> affinity() const {
        auto all = [](const gslb::BackendRt&) { return true; };
        std::function<bool(const gslb::BackendRt&)> level;
        auto try_level = [&](std::function<bool(const gslb::BackendRt&)> m) {
            if (level) return;
            for (auto i : eligible)
                if (m(family[i])) {
                    level = m;
                    return;
                }
        };
        if (!place.city.empty())
            try_level([&](const gslb::BackendRt& b) {
                return city_of(b, place.city) && !other_continent(b) && !other_country(b) &&
                       !other_subdivision(b);
            });
        if (place.subdivision != 0 && place.country != 0)
            try_level(
                [&](const gslb::BackendRt& b) { return in_sub(b, true) && !other_continent(b); });
        if (place.country != 0)
            try_level(
                [&](const gslb::BackendRt& b) { return has_country(b) && !other_continent(b); });
        if (place.continent != 0)
            try_level([&](const gslb::BackendRt& b) { return has_continent(b); });
        if (level) {
            if (auto n = nearest(level); !n.empty()) return n;
            return failover(level);
        }
        if (auto n = nearest(all); !n.empty()) return n;
        return failover(all);
    }
};

}  // namespace

TEST_CASE("nearest and affinity classes are exact: one class, one answer, for random worlds",
          "[nearest][affinity][mmdb]") {
    // Random records over the test database's places: backends at a few shared sites (so
    // sites hold several backends of mixed priorities), random country / subdivision / city
    // tags, random eligible subsets; every client of the database asked. Whatever two
    // clients share a class must get the same selection, and select() must equal the three
    // steps (what the response cache relies on).
    const double places[][2] = {{48.8566, 2.3522},   {40.7128, -74.0060},  {37.3382, -121.8863},
                                {35.6762, 139.6503}, {47.6062, -122.3321}, {45.764, 4.8357}};
    const char* countries[] = {"US", "FR", "CA", "DE"};
    const char* cities[] = {"Paris", "Oakland", "San Jose", "Lyon"};
    const char* clients[] = {"198.51.100.7", "203.0.113.7", "192.0.2.7",  "192.0.2.200",
                             "198.18.3.4",   "100.64.1.7",  "100.64.2.7", "100.64.3.7",
                             "100.64.4.7",   "100.64.5.7",  "10.0.0.7",   "2001:db8:1::7",
                             "2001:db8:2::7"};
    util::Rng rng(99);
    int compared = 0;
    for (int round = 0; round < 60; ++round) {
        CityWorld w;
        std::vector<gslb::BackendRt> bs;
        const int n = 2 + static_cast<int>(rng.next() % 12);
        for (int i = 0; i < n; ++i) {
            auto b = backend("192.0.2.1", static_cast<std::uint32_t>(i),
                             static_cast<std::int32_t>(rng.next() % 3));
            b.addr.bytes[3] = static_cast<std::uint8_t>(i + 1);
            if (rng.next() % 4 != 0) {
                const auto& p = places[rng.next() % 6];
                b = at("192.0.2.1", static_cast<std::uint32_t>(i), p[0], p[1], b.priority);
                b.addr.bytes[3] = static_cast<std::uint8_t>(i + 1);
            }
            const char* c = countries[rng.next() % 4];
            if (rng.next() % 2) b.countries = {geo::pack_code(c)};
            if (rng.next() % 3 == 0)
                b.subdivisions = {{rng.next() % 2 ? geo::pack_code(c) : std::uint16_t{0},
                                   geo::pack_subdivision(rng.next() % 2 ? "CA" : "IDF")}};
            if (rng.next() % 4 == 0) b.cities = {cities[rng.next() % 4]};
            if (rng.next() % 4 == 0) b.continents = {geo::pack_code(rng.next() % 2 ? "EU" : "NA")};
            bs.push_back(b);
        }
        w.add_record(bs);
        w.finish();
        std::vector<std::uint16_t> eligible;
        for (int i = 0; i < n; ++i)
            if (rng.next() % 4 != 0) eligible.push_back(static_cast<std::uint16_t>(i));
        if (eligible.empty()) eligible.push_back(0);
        const std::pair<const char*, bool> modes[] = {
            {"geoip", false}, {"geoip", true}, {"geoip_affinity", false}};
        for (const auto& mb : modes) {
            const char* mode = mb.first;
            const bool best = mb.second;
            const auto& p = test::policy(mode);
            w.topo->records[0].geo_best_priority = best;
            // the cache keys on (class, variant): the variant carries the client facts a
            // step checked for contradictions
            std::map<std::uint64_t, std::vector<std::uint16_t>> by_class;
            for (const char* c : clients) {
                INFO(mode << (best ? " (geo_priority best)" : "") << " round " << round
                          << " client " << c);
                std::string world_text;
                for (const auto& b : w.topo->records[0].v4)
                    world_text += b.addr.to_string() + " p" + std::to_string(b.priority) +
                                  (b.has_coords ? " @" + std::to_string(b.latitude) : "") + " c" +
                                  std::to_string(b.countries.size()) + " s" +
                                  std::to_string(b.subdivisions.size()) + " city" +
                                  std::to_string(b.cities.size()) + "; ";
                INFO(world_text);
                const auto s = w.select(p, 0, false, eligible, client(c));
                REQUIRE(s.count > 0);
                for (std::size_t k = 0; k < s.count; ++k)
                    CHECK(std::find(eligible.begin(), eligible.end(), s.idx[k]) != eligible.end());
                const Reference ref{w.topo->records[0].v4, eligible,
                                    w.geo->city_db->place(test::ip(c)), best};
                CHECK(picked(s) == (std::string(mode) == "geoip" ? ref.geoip() : ref.affinity()));
                const auto& rec = w.topo->records[0];
                const gslb::ClientInfo who = client(c);
                gslb::SelectContext ctx{w.snap, rec, rec.v4, eligible, who, w.ws};
                gslb::Decision d;
                p.classify(ctx, d);
                d.variant = p.variant(ctx, d);
                gslb::Selection stepped;
                p.select_decided(ctx, d, stepped);
                CHECK(picked(stepped) == picked(s));
                auto [it, fresh] =
                    by_class.emplace(std::uint64_t{d.decision_class} << 32 | d.variant, picked(s));
                if (!fresh) {
                    CHECK(it->second == picked(s));
                    ++compared;
                }
            }
        }
    }
    CHECK(compared > 100);
}

TEST_CASE("geoip_affinity answers a site of any size (no 19-backend limit)", "[affinity][mmdb]") {
    CityWorld w;
    std::vector<gslb::BackendRt> bs;
    for (std::uint32_t i = 0; i < 30; ++i) {
        auto b = at("192.0.2.1", i, kParis[0], kParis[1]);
        b.addr.bytes[3] = static_cast<std::uint8_t>(i + 1);
        b.countries = {geo::pack_code('F', 'R')};
        bs.push_back(b);
    }
    auto ny = at("192.0.2.100", 30, kNewYork[0], kNewYork[1]);
    ny.countries = {geo::pack_code('U', 'S')};
    bs.push_back(ny);
    w.add_record(bs);
    w.finish();
    const auto& aff = test::policy("geoip_affinity");
    std::vector<std::uint16_t> all, some;
    for (std::uint16_t i = 0; i <= 30; ++i) all.push_back(i);
    for (std::uint16_t i = 1; i < 30; i += 3) some.push_back(i);
    std::vector<std::uint16_t> paris(all.begin(), all.end() - 1);

    auto s = w.select(aff, 0, false, all, client("198.51.100.7"));  // Paris: the whole site
    CHECK(picked(s) == paris);
    CHECK(s.decision_class >> 29 == 1);
    some.push_back(30);
    s = w.select(aff, 0, false, some, client("198.51.100.7"));  // only the eligible members
    some.pop_back();
    CHECK(picked(s) == some);
    s = w.select(aff, 0, false, all, client("203.0.113.7"));  // New York: the US level
    CHECK(picked(s) == std::vector<std::uint16_t>{30});
}
