#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "geo_test.hh"

using namespace geo_test;
using gslbd::geo::LocationMap;

namespace {

LocationEntry entry(const char* subnet, const char* loc, int line = 1) {
    auto p = IpPrefix::parse(subnet);
    REQUIRE(p.has_value());
    return LocationEntry{*p, loc, {"map.yml", line, 5}};
}

}  // namespace

TEST_CASE("longest prefix wins and the scope is honest", "[geo][lpm]") {
    std::vector<LocationEntry> es = {entry("10.0.0.0/8", "A"), entry("10.1.0.0/16", "B")};
    LocationMap m(es);
    const auto a = m.id_of("A"), b = m.id_of("B");
    REQUIRE(a == 0);
    REQUIRE(b == 1);

    auto r = m.lookup(ip("10.2.3.4"));
    CHECK(r.id == a);
    CHECK(r.matched == 8);
    CHECK(r.prefix >= 15);
    CHECK_FALSE(intersects(block(ip("10.2.3.4"), r.prefix), es[1].prefix));

    r = m.lookup(ip("10.1.2.3"));
    CHECK(r.id == b);
    CHECK(r.matched == 16);
    CHECK(r.prefix == 16);

    r = m.lookup(ip("11.0.0.1"));
    CHECK(r.id == -1);
    CHECK(r.matched == 0);
    for (const auto& e : es) CHECK_FALSE(intersects(block(ip("11.0.0.1"), r.prefix), e.prefix));
    // the block is as large as the map allows: 11/8 is the sibling half of 10/8
    CHECK(r.prefix == 8);

    r = m.lookup(ip("10.255.255.255"));
    CHECK(r.id == a);
    CHECK_FALSE(intersects(block(ip("10.255.255.255"), r.prefix), es[1].prefix));
}

TEST_CASE("overlaps are resolved by prefix length, not by order", "[geo][lpm]") {
    std::vector<LocationEntry> fwd = {
        entry("198.51.100.0/24", "us"), entry("198.51.100.128/25", "eu"),
        entry("198.51.100.200/32", "host"), entry("0.0.0.0/0", "default")};
    std::vector<LocationEntry> rev(fwd.rbegin(), fwd.rend());
    LocationMap f(fwd), r(rev);
    for (const char* a : {"198.51.100.1", "198.51.100.129", "198.51.100.200", "198.51.100.201",
                          "8.8.8.8", "198.51.101.0"}) {
        auto x = f.lookup(ip(a)), y = r.lookup(ip(a));
        CAPTURE(a);
        REQUIRE(x.id >= 0);
        REQUIRE(y.id >= 0);
        CHECK(f.name_of(x.id) == r.name_of(y.id));
        CHECK(x.matched == y.matched);
        CHECK(x.prefix == y.prefix);
    }
    CHECK(f.name_of(f.lookup(ip("198.51.100.1")).id) == "us");
    CHECK(f.name_of(f.lookup(ip("198.51.100.129")).id) == "eu");
    auto h = f.lookup(ip("198.51.100.200"));
    CHECK(f.name_of(h.id) == "host");
    CHECK(h.prefix == 32);
    CHECK(h.matched == 32);
    CHECK(f.name_of(f.lookup(ip("8.8.8.8")).id) == "default");
}

TEST_CASE("location ids are dense, in order of first appearance", "[geo][lpm]") {
    LocationMap m({entry("10.0.0.0/8", "x"), entry("2001:db8::/32", "y"), entry("10.1.0.0/16", "x"),
                   entry("192.0.2.0/24", "z")});
    CHECK(m.size() == 3);
    CHECK(m.id_of("x") == 0);
    CHECK(m.id_of("y") == 1);
    CHECK(m.id_of("z") == 2);
    CHECK(m.id_of("w") == -1);
    CHECK(m.id_of("") == -1);
    CHECK(m.name_of(1) == "y");
    CHECK_THROWS_AS(m.name_of(3), std::out_of_range);
}

TEST_CASE("IPv4 and IPv6 entries are kept apart", "[geo][lpm]") {
    LocationMap v4only({entry("0.0.0.0/0", "four")});
    CHECK(v4only.lookup(ip("1.2.3.4")).id == 0);
    auto r = v4only.lookup(ip("2001:db8::1"));
    CHECK(r.id == -1);

    LocationMap v6only({entry("::/0", "six")});
    CHECK(v6only.lookup(ip("2001:db8::1")).id == 0);
    CHECK(v6only.lookup(ip("1.2.3.4")).id == -1);
    CHECK(v6only.lookup(ip("0.0.0.0")).id == -1);

    // same bits, different families
    LocationMap both({entry("10.0.0.0/8", "v4"), entry("a00::/8", "v6")});
    CHECK(both.name_of(both.lookup(ip("10.9.9.9")).id) == "v4");
    CHECK(both.name_of(both.lookup(ip("a00::1")).id) == "v6");
    CHECK(both.lookup(ip("b00::1")).id == -1);

    CHECK(both.lookup(IpAddr{}).id == -1);
}

TEST_CASE("IPv4-mapped IPv6 addresses use the IPv4 entries", "[geo][lpm]") {
    LocationMap m({entry("198.51.100.0/24", "v4"), entry("::/0", "v6any")});
    auto r = m.lookup(ip("::ffff:198.51.100.7"));
    REQUIRE(r.id == m.id_of("v4"));
    CHECK(r.matched == 96 + 24);
    CHECK(r.prefix == 96 + 24);

    r = m.lookup(ip("::ffff:203.0.113.1"));
    CHECK(r.id == -1);
    CHECK(r.prefix >= 96);
    CHECK_FALSE(intersects(block(ip("::ffff:203.0.113.1"), r.prefix),
                           *IpPrefix::parse("::ffff:198.51.100.0/120")));

    // a non-mapped address: its block must stay clear of ::ffff:0:0/96
    r = m.lookup(ip("::1"));
    CHECK(r.id == m.id_of("v6any"));
    CHECK_FALSE(intersects(block(ip("::1"), r.prefix), *IpPrefix::parse("::ffff:0:0/96")));
    r = m.lookup(ip("2001:db8::1"));
    CHECK(r.id == m.id_of("v6any"));
    CHECK_FALSE(intersects(block(ip("2001:db8::1"), r.prefix), *IpPrefix::parse("::ffff:0:0/96")));
}

TEST_CASE("duplicate subnets", "[geo][lpm]") {
    SECTION("same subnet, same location is fine") {
        LocationMap m({entry("10.0.0.0/8", "a", 2), entry("10.0.0.0/8", "a", 5)});
        CHECK(m.size() == 1);
        CHECK(m.lookup(ip("10.1.1.1")).id == 0);
    }
    SECTION("same subnet, different location names both places") {
        std::vector<LocationEntry> es = {entry("10.0.0.0/8", "a", 2), entry("192.0.2.0/24", "c", 3),
                                         entry("10.0.0.0/8", "b", 5)};
        try {
            LocationMap m(es);
            FAIL("no ConfigError");
        } catch (const ConfigError& e) {
            std::string what = e.what();
            CAPTURE(what);
            CHECK(e.pos().line == 5);
            CHECK(e.pos().file == "map.yml");
            CHECK(what.find("map.yml:5:5") == 0);
            CHECK(what.find("line 2") != std::string::npos);
            CHECK(what.find("10.0.0.0/8") != std::string::npos);
            CHECK(what.find("'a'") != std::string::npos);
            CHECK(what.find("'b'") != std::string::npos);
        }
    }
    SECTION("the same bits in two families are not duplicates") {
        LocationMap m({entry("0.0.0.0/0", "a"), entry("::/0", "b")});
        CHECK(m.size() == 2);
    }
    SECTION("IPv6 duplicate") {
        CHECK_THROWS_AS(
            LocationMap({entry("2001:db8::/48", "a", 1), entry("2001:db8::/48", "b", 9)}),
            ConfigError);
    }
}

// ---------------------------------------------------------------------------------------
// Random maps against a naive longest-prefix match.

namespace {

using u128 = unsigned __int128;

struct Net {
    u128 lo = 0, hi = 0;  // inclusive range, in the family's own width
    unsigned len = 0;
    int loc = 0;
};

IpAddr from_int(u128 v, unsigned family) {
    IpAddr a;
    a.family = static_cast<std::uint8_t>(family);
    std::size_t n = family == 4 ? 4 : 16;
    for (std::size_t i = 0; i < n; ++i)
        a.bytes[n - 1 - i] = static_cast<std::uint8_t>(v >> (8 * i));
    return a;
}

Net make_net(u128 addr, unsigned len, unsigned width, int loc) {
    Net n;
    n.len = len;
    n.loc = loc;
    unsigned host_bits = width - len;
    u128 host = host_bits == 128 ? ~u128(0) : (u128(1) << host_bits) - 1;
    n.lo = addr & ~host;
    n.hi = n.lo | host;
    return n;
}

struct Naive {
    std::vector<Net> v4, v6;
    static int lpm(const std::vector<Net>& nets, u128 x) {
        int best = -1, best_len = -1;
        for (const auto& n : nets)
            if (x >= n.lo && x <= n.hi && static_cast<int>(n.len) > best_len) {
                best = n.loc;
                best_len = static_cast<int>(n.len);
            }
        return best;
    }
    static constexpr u128 kMappedLo = u128(0xffff) << 32;
    static constexpr u128 kMappedHi = kMappedLo | 0xffffffffu;
    int answer(u128 x, unsigned family) const {
        if (family == 4) return lpm(v4, x);
        if (x >= kMappedLo && x <= kMappedHi) return lpm(v4, x & 0xffffffffu);
        return lpm(v6, x);
    }
    // Every point where the naive answer may change, so checking them (plus the block's
    // ends) covers every constant piece of the block.
    std::vector<u128> breakpoints(unsigned family) const {
        std::vector<u128> p;
        auto add = [&](u128 lo, u128 hi) {
            p.push_back(lo);
            p.push_back(hi);
            p.push_back(lo - 1);
            p.push_back(hi + 1);
        };
        for (const auto& n : v4) {
            if (family == 4)
                add(n.lo, n.hi);
            else
                add(kMappedLo | n.lo, kMappedLo | n.hi);
        }
        if (family == 6) {
            for (const auto& n : v6) add(n.lo, n.hi);
            add(kMappedLo, kMappedHi);
        }
        return p;
    }
};

void check_block(const LocationMap& m, const Naive& naive, u128 x, unsigned family,
                 std::mt19937_64& rng) {
    const unsigned width = family == 4 ? 32 : 128;
    IpAddr a = from_int(x, family);
    auto r = m.lookup(a);
    CAPTURE(a.to_string(), r.id, int(r.prefix), int(r.matched));
    REQUIRE(r.id == naive.answer(x, family));
    REQUIRE(r.prefix >= r.matched);
    REQUIRE(r.prefix <= width);
    Net b = make_net(x, r.prefix, width, 0);
    auto same = [&](u128 y) {
        if (y < b.lo || y > b.hi) return;
        if (width == 32 && y > 0xffffffffu) return;
        INFO("address in block: " << from_int(y, family).to_string());
        REQUIRE(naive.answer(y, family) == r.id);
        REQUIRE(m.lookup(from_int(y, family)).id == r.id);
    };
    same(b.lo);
    same(b.hi);
    for (u128 y : naive.breakpoints(family)) same(y);
    u128 size_minus_1 = b.hi - b.lo;
    if (size_minus_1 < 4096) {
        for (u128 y = b.lo;; ++y) {
            same(y);
            if (y == b.hi) break;
        }
    } else {
        for (int i = 0; i < 64; ++i) {
            u128 off = (u128(rng()) << 64 | rng()) & size_minus_1;
            same(b.lo + off);
        }
    }
}

}  // namespace

TEST_CASE("random maps: every address in the returned block gets the same answer",
          "[geo][lpm][random]") {
    std::mt19937_64 rng(Catch::rngSeed() ? Catch::rngSeed() : 0x5eed);
    const char* names[] = {"l0", "l1", "l2", "l3", "l4", "l5"};
    for (int round = 0; round < 200; ++round) {
        Naive naive;
        std::vector<LocationEntry> entries;
        std::set<std::pair<std::pair<std::uint64_t, std::uint64_t>, unsigned>> seen;
        int n = 1 + static_cast<int>(rng() % 30);
        for (int i = 0; i < n; ++i) {
            bool v6 = rng() % 3 == 0;
            unsigned width = v6 ? 128 : 32;
            u128 base;
            unsigned len;
            if (!v6) {
                // mostly inside 10.0.0.0/20 so entries overlap and nest
                base = rng() % 8 ? (u128(0x0a000000) | (rng() & 0xfff)) : u128(rng() & 0xffffffffu);
                unsigned pick = static_cast<unsigned>(rng() % 10);
                len = pick == 0 ? static_cast<unsigned>(rng() % 33)
                                : 20 + static_cast<unsigned>(rng() % 13);
            } else {
                // 2001:db8:0:X::/64 neighbourhood with nesting, plus a few short prefixes
                base = (u128(0x20010db800000000ull) << 64) | (u128(rng() & 0xff) << 64) |
                       (rng() & 0xff);
                unsigned pick = static_cast<unsigned>(rng() % 10);
                len = pick == 0  ? static_cast<unsigned>(rng() % 129)
                      : pick < 5 ? 56 + static_cast<unsigned>(rng() % 9)
                                 : 120 + static_cast<unsigned>(rng() % 9);
            }
            int loc = static_cast<int>(rng() % 6);
            Net net = make_net(base, len, width, loc);
            auto key = std::make_pair(std::make_pair(static_cast<std::uint64_t>(net.lo >> 64),
                                                     static_cast<std::uint64_t>(net.lo)),
                                      len + (v6 ? 1000u : 0u));
            if (!seen.insert(key).second) continue;  // conflicting duplicates are tested above
            (v6 ? naive.v6 : naive.v4).push_back(net);
            IpPrefix p{from_int(net.lo, v6 ? 6 : 4), static_cast<std::uint8_t>(len)};
            entries.push_back(LocationEntry{p, names[loc], {"rand.yml", i + 1, 1}});
        }
        LocationMap m(entries);
        // naive locations are indices into `names`; translate to the map's ids
        auto to_ids = [&](std::vector<Net>& nets) {
            for (auto& net : nets) net.loc = m.id_of(names[net.loc]);
        };
        to_ids(naive.v4);
        to_ids(naive.v6);

        for (int q = 0; q < 40; ++q) {
            unsigned kind = static_cast<unsigned>(rng() % 6);
            if (kind <= 2) {
                u128 x;
                if (kind == 0)
                    x = 0x0a000000u | (rng() & 0xfff);
                else if (kind == 1)
                    x = rng() & 0xffffffffu;
                else if (!naive.v4.empty()) {
                    const Net& e = naive.v4[rng() % naive.v4.size()];
                    u128 pts[] = {e.lo, e.hi, e.lo - 1, e.hi + 1};
                    x = pts[rng() % 4] & 0xffffffffu;
                } else
                    x = rng() & 0xffffffffu;
                check_block(m, naive, x, 4, rng);
            } else {
                u128 x;
                if (kind == 3)
                    x = (u128(0x20010db800000000ull) << 64) | (u128(rng() & 0xff) << 64) |
                        (rng() & 0xff);
                else if (kind == 4)
                    x = Naive::kMappedLo | (0x0a000000u | (rng() & 0xfff));
                else if (!naive.v6.empty()) {
                    const Net& e = naive.v6[rng() % naive.v6.size()];
                    u128 pts[] = {e.lo, e.hi, e.lo - 1, e.hi + 1};
                    x = pts[rng() % 4];
                } else
                    x = u128(rng()) << 64 | rng();
                check_block(m, naive, x, 6, rng);
            }
        }
    }
}
