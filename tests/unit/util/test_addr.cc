#include <catch2/catch.hpp>

#include "util/addr.hh"
#include "util/random.hh"

using namespace gslbd::util;

TEST_CASE("IpAddr parses v4 and v6 and rejects junk") {
    auto a = IpAddr::parse("192.0.2.7");
    REQUIRE(a);
    CHECK(a->family == 4);
    CHECK(a->to_string() == "192.0.2.7");
    auto b = IpAddr::parse("2001:db8::5");
    REQUIRE(b);
    CHECK(b->family == 6);
    CHECK(b->to_string() == "2001:db8::5");
    CHECK_FALSE(IpAddr::parse("256.1.1.1"));
    CHECK_FALSE(IpAddr::parse("1.2.3"));
    CHECK_FALSE(IpAddr::parse(""));
    CHECK_FALSE(IpAddr::parse("2001:db8:::1"));
}

TEST_CASE("IpPrefix parsing, strictness and containment") {
    auto p = IpPrefix::parse("10.1.0.0/16");
    REQUIRE(p);
    CHECK(p->len == 16);
    CHECK(p->contains(*IpAddr::parse("10.1.200.3")));
    CHECK_FALSE(p->contains(*IpAddr::parse("10.2.0.1")));
    CHECK_FALSE(p->contains(*IpAddr::parse("::1")));
    CHECK_FALSE(IpPrefix::parse("10.1.0.1/16"));  // host bits set
    CHECK(IpPrefix::parse("10.1.0.1/16", false)->to_string() == "10.1.0.0/16");
    CHECK_FALSE(IpPrefix::parse("10.0.0.0/33"));
    CHECK(IpPrefix::parse("2001:db8::/32")->contains(*IpAddr::parse("2001:db8:ffff::1")));
    CHECK(IpPrefix::parse("0.0.0.0/0")->contains(*IpAddr::parse("203.0.113.9")));
    CHECK(IpPrefix::parse("192.0.2.9")->len == 32);
}

TEST_CASE("SockAddrText parses host:port forms") {
    CHECK(SockAddrText::parse("127.0.0.1:5353", 53)->port == 5353);
    CHECK(SockAddrText::parse("127.0.0.1", 53)->port == 53);
    auto v6 = SockAddrText::parse("[::1]:5353", 53);
    REQUIRE(v6);
    CHECK(v6->addr.family == 6);
    CHECK(v6->port == 5353);
    CHECK(SockAddrText::parse("::1", 53)->port == 53);
    CHECK_FALSE(SockAddrText::parse("127.0.0.1:0", 53));
    CHECK_FALSE(SockAddrText::parse("127.0.0.1:70000", 53));
    CHECK_FALSE(SockAddrText::parse("[::1", 53));
}

TEST_CASE("Rng::uniform stays in range and covers it") {
    Rng r(42);
    int seen[7] = {};
    for (int i = 0; i < 7000; ++i) {
        auto v = r.uniform(7);
        REQUIRE(v < 7);
        ++seen[v];
    }
    for (int c : seen) CHECK(c > 800);
}
