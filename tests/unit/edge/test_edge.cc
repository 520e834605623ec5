#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "dns/query.hh"
#include "edge/cookie.hh"
#include "edge/guard.hh"
#include "edge/prefix_table.hh"
#include "edge/siphash.hh"

using namespace gslbd;
using namespace gslbd::edge;

namespace {

std::vector<std::uint8_t> hex(const std::string& h) {
    std::vector<std::uint8_t> out;
    for (std::size_t i = 0; i + 1 < h.size(); i += 2)
        out.push_back(static_cast<std::uint8_t>(std::stoi(h.substr(i, 2), nullptr, 16)));
    return out;
}

std::string to_hex(const std::uint8_t* p, std::size_t n) {
    static const char* d = "0123456789abcdef";
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
        s += d[p[i] >> 4];
        s += d[p[i] & 15];
    }
    return s;
}

util::IpAddr ip(const char* t) {
    return *util::IpAddr::parse(t);
}
util::IpPrefix pre(const char* t) {
    return *util::IpPrefix::parse(t);
}

}  // namespace

TEST_CASE("SipHash-2-4 matches the reference vectors") {
    std::uint8_t key[16], msg[64];
    for (int i = 0; i < 16; ++i) key[i] = static_cast<std::uint8_t>(i);
    for (int i = 0; i < 64; ++i) msg[i] = static_cast<std::uint8_t>(i);
    CHECK(siphash24(key, msg, 0) == 0x726fdb47dd0e0e31ull);
    CHECK(siphash24(key, msg, 15) == 0xa129ca6149be45e5ull);
    CHECK(siphash24(key, msg, 8) == 0x93f5f5799a932462ull);
}

TEST_CASE("RFC 9018 Appendix A.1 server cookie") {
    const auto secret = hex("e5e973e5a6b2a43f48e7dc849e37bfcf");
    const auto client = hex("2464c4abcf10c957");
    std::uint8_t out[16];
    make_server_cookie(secret.data(), client.data(), ip("198.51.100.100"), 1559731985, out);
    CHECK(to_hex(out, 16) == "010000005cf79f111f8130c3eee29480");

    CookieSecrets s;
    std::memcpy(s.current.data(), secret.data(), 16);
    CHECK(server_cookie_valid(s, client.data(), out, 16, ip("198.51.100.100"), 1559731985 + 10));
    // another address, too old, too far ahead, wrong length, tampered
    CHECK_FALSE(server_cookie_valid(s, client.data(), out, 16, ip("198.51.100.101"), 1559731985));
    CHECK_FALSE(
        server_cookie_valid(s, client.data(), out, 16, ip("198.51.100.100"), 1559731985 + 3601));
    CHECK_FALSE(
        server_cookie_valid(s, client.data(), out, 16, ip("198.51.100.100"), 1559731985 - 301));
    CHECK_FALSE(server_cookie_valid(s, client.data(), out, 8, ip("198.51.100.100"), 1559731985));
    out[15] ^= 1;
    CHECK_FALSE(server_cookie_valid(s, client.data(), out, 16, ip("198.51.100.100"), 1559731985));
}

TEST_CASE("a cookie of the previous secret stays valid after rotation") {
    CookieSecrets old_s;
    old_s.current.fill(7);
    const auto client = hex("0102030405060708");
    std::uint8_t sc[16];
    make_server_cookie(old_s.current.data(), client.data(), ip("2001:db8::1"), 1000, sc);
    CookieSecrets rotated;
    rotated.current.fill(9);
    CHECK_FALSE(server_cookie_valid(rotated, client.data(), sc, 16, ip("2001:db8::1"), 1001));
    rotated.previous = old_s.current;
    rotated.has_previous = true;
    CHECK(server_cookie_valid(rotated, client.data(), sc, 16, ip("2001:db8::1"), 1001));
}

TEST_CASE("PrefixTable: longest prefix wins, both families") {
    PrefixTable t;
    CHECK(t.lookup(ip("10.0.0.1")) == 0);
    t.add(pre("10.0.0.0/8"), 1);
    t.add(pre("10.1.0.0/16"), 2);
    t.add(pre("10.1.2.3/32"), 3);
    t.add(pre("0.0.0.0/0"), 4);
    t.add(pre("2001:db8::/32"), 5);
    t.add(pre("2001:db8:1:2:3::/80"), 6);
    t.freeze();
    CHECK(t.lookup(ip("10.9.9.9")) == 1);
    CHECK(t.lookup(ip("10.1.9.9")) == 2);
    CHECK(t.lookup(ip("10.1.2.3")) == 3);
    CHECK(t.lookup(ip("11.0.0.1")) == 4);
    CHECK(t.lookup(ip("2001:db8:ffff::1")) == 5);
    CHECK(t.lookup(ip("2001:db8:1:2:3:4::1")) == 6);
    CHECK(t.lookup(ip("2001:db9::1")) == 0);  // no ::/0: IPv4's /0 does not match IPv6
    CHECK(t.lookup(ip("::ffff:10.1.2.3")) == 0);
}

TEST_CASE("PrefixTable: prefixes shorter than the leading-bits filter match their whole range") {
    PrefixTable t;
    t.add(pre("96.0.0.0/3"), 1);     // first octets 96..127
    t.add(pre("200.1.0.0/16"), 2);   // first octet 200 only
    t.add(pre("2000::/3"), 3);       // first 12 bits 0x200..0x3ff
    t.add(pre("fc00::/7"), 4);       // 0xfc0..0xfdf
    t.add(pre("fe80::/10"), 5);      // 0xfe8..0xfeb
    t.add(pre("ff02::1:2/128"), 6);  // 0xff0 only
    t.freeze();
    CHECK(t.lookup(ip("95.255.255.255")) == 0);
    CHECK(t.lookup(ip("96.0.0.0")) == 1);
    CHECK(t.lookup(ip("127.255.1.1")) == 1);
    CHECK(t.lookup(ip("128.0.0.1")) == 0);
    CHECK(t.lookup(ip("200.1.200.1")) == 2);
    CHECK(t.lookup(ip("200.2.0.1")) == 0);  // octet 200 is marked, the /16 is not there
    CHECK(t.lookup(ip("201.1.0.1")) == 0);
    CHECK(t.lookup(ip("1fff::1")) == 0);
    CHECK(t.lookup(ip("2000::1")) == 3);
    CHECK(t.lookup(ip("3fff:ffff::1")) == 3);
    CHECK(t.lookup(ip("4000::1")) == 0);
    CHECK(t.lookup(ip("fc00::1")) == 4);
    CHECK(t.lookup(ip("fdff::1")) == 4);
    CHECK(t.lookup(ip("fe00::1")) == 0);
    CHECK(t.lookup(ip("fe80::1")) == 5);
    CHECK(t.lookup(ip("febf::1")) == 5);
    CHECK(t.lookup(ip("fec0::1")) == 0);
    CHECK(t.lookup(ip("ff02::1:2")) == 6);
    CHECK(t.lookup(ip("ff02::1:3")) == 0);
    CHECK(t.lookup(ip("ff12::1:2")) == 0);
}

TEST_CASE("RRL: rate per second, window-bounded debt, slip") {
    config::Config cfg;
    cfg.edge.rrl.enabled = true;
    cfg.edge.rrl.responses_per_second = 5;
    cfg.edge.rrl.nodata_per_second = 5;
    cfg.edge.rrl.nxdomains_per_second = 5;
    cfg.edge.rrl.errors_per_second = 5;
    cfg.edge.rrl.window = 2;
    cfg.edge.rrl.slip = 2;
    cfg.edge.rrl.exempt = {pre("192.0.2.0/24")};
    auto rules = build_rules(cfg);
    REQUIRE(rules);
    Guard g(1024);
    const auto a = ip("198.51.100.7"), same24 = ip("198.51.100.200"), other = ip("203.0.113.1");
    int pass = 0, drop = 0, slip = 0;
    for (int i = 0; i < 20; ++i) {
        const Verdict v = g.rrl(*rules, i % 2 ? a : same24, RrlClass::Answer, 42, 100);
        pass += v == Verdict::Pass;
        drop += v == Verdict::Drop;
        slip += v == Verdict::Slip;
    }
    CHECK(pass == 5);  // one /24 shares the account
    CHECK(slip == 7);  // every 2nd limited response
    CHECK(drop == 8);
    // another name, another /24, an exempt prefix: own accounts
    CHECK(g.rrl(*rules, a, RrlClass::Answer, 43, 100) == Verdict::Pass);
    CHECK(g.rrl(*rules, other, RrlClass::Answer, 42, 100) == Verdict::Pass);
    for (int i = 0; i < 50; ++i)
        CHECK(g.rrl(*rules, ip("192.0.2.9"), RrlClass::Answer, 42, 100) == Verdict::Pass);
    // debt is capped at window * rate = 10: after 2 s of credit (10) the class still owes,
    // after 3 s it is answered again
    CHECK(g.rrl(*rules, a, RrlClass::Answer, 42, 102) != Verdict::Pass);
    CHECK(g.rrl(*rules, a, RrlClass::Answer, 42, 105) == Verdict::Pass);
}

TEST_CASE("RRL log_only counts and passes") {
    config::Config cfg;
    cfg.edge.rrl.enabled = true;
    cfg.edge.rrl.responses_per_second = 1;
    cfg.edge.rrl.log_only = true;
    auto rules = build_rules(cfg);
    Guard g(64);
    for (int i = 0; i < 10; ++i)
        CHECK(g.rrl(*rules, ip("198.51.100.1"), RrlClass::Answer, 1, 5) == Verdict::Pass);
    CHECK(g.counters.rrl_would_limit == 9);
}

TEST_CASE("no edge config builds no rules; ACL default and rules") {
    config::Config cfg;
    CHECK(build_rules(cfg) == nullptr);
    cfg.edge.acl.push_back({pre("198.51.100.0/24"), config::AclAction::Drop, {}});
    cfg.edge.acl.push_back({pre("198.51.100.128/25"), config::AclAction::Refuse, {}});
    auto r = build_rules(cfg);
    REQUIRE(r);
    CHECK(Guard::acl(*r, ip("198.51.100.1")) == kAclDrop);
    CHECK(Guard::acl(*r, ip("198.51.100.200")) == kAclRefuse);
    CHECK(Guard::acl(*r, ip("192.0.2.1")) == kAclAllow);
}

TEST_CASE("append_cookie extends the OPT record") {
    // header (1 question, 1 additional) + root question + OPT with no options
    std::vector<std::uint8_t> m = {0x12, 0x34, 0x81, 0x00, 0, 1,  0, 0,    0, 0, 0, 1, 0, 0,
                                   1,    0,    1,    0,    0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0};
    const std::size_t len = m.size();
    m.resize(512);
    const auto client = hex("0102030405060708");
    std::uint8_t server[16];
    std::memset(server, 0xab, 16);
    const std::size_t n = append_cookie(m, len, client.data(), server);
    REQUIRE(n == len + kCookieOptionLen);
    CHECK(m[len - 2] == 0);
    CHECK(m[len - 1] == kCookieOptionLen);
    CHECK(m[len] == 0);
    CHECK(m[len + 1] == 10);
    CHECK(m[len + 3] == 24);
    CHECK(std::memcmp(&m[len + 4], client.data(), 8) == 0);
    // no OPT: unchanged
    std::vector<std::uint8_t> bare = {0x12, 0x34, 0x81, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1};
    const std::size_t blen = bare.size();
    bare.resize(512);
    CHECK(append_cookie(bare, blen, client.data(), server) == blen);
}

TEST_CASE("COOKIE option lengths: 8 and 16..40 parse, others are FORMERR") {
    auto query = [](std::size_t cookie_len) {
        std::vector<std::uint8_t> m = {0, 1, 0, 0, 0, 1, 0, 0,  0, 0,    0, 1, 1, 'a',
                                       0, 0, 1, 0, 1, 0, 0, 41, 4, 0xd0, 0, 0, 0, 0};
        const std::size_t rdlen = 4 + cookie_len;
        m.push_back(static_cast<std::uint8_t>(rdlen >> 8));
        m.push_back(static_cast<std::uint8_t>(rdlen));
        m.push_back(0);
        m.push_back(10);
        m.push_back(0);
        m.push_back(static_cast<std::uint8_t>(cookie_len));
        for (std::size_t i = 0; i < cookie_len; ++i) m.push_back(static_cast<std::uint8_t>(i));
        return m;
    };
    for (std::size_t len : {0, 1, 7, 9, 15, 41}) {
        dns::Query q;
        CHECK(dns::parse_query(query(len), q).status == dns::ParseStatus::FormErr);
    }
    for (std::size_t len : {8, 16, 24, 40}) {
        dns::Query q;
        CHECK(dns::parse_query(query(len), q).status == dns::ParseStatus::Ok);
        CHECK(q.cookie_len == len);
        CHECK(q.cookie[7] == 7);
    }
    dns::Query q;
    const std::vector<std::uint8_t> plain = {0, 1, 0, 0,   0, 1, 0, 0, 0, 0,
                                             0, 0, 1, 'a', 0, 0, 1, 0, 1};
    CHECK(dns::parse_query(plain, q).status == dns::ParseStatus::Ok);
    CHECK(q.cookie_len == 0);
}
