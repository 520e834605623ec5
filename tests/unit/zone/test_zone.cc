// lib/zone: a master file read with libzscanner into a StaticZone, the builder's checks
// (each naming file:line), and resolve(): exact names, empty non-terminals, wildcards
// (RFC 4592), delegations, NXDOMAIN.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <string>

#include "dns/query.hh"
#include "dns/response.hh"
#include "zone/zone.hh"

using namespace gslbd;

namespace {

std::string wire(const char* text) {
    std::uint8_t buf[dns::kMaxNameWire];
    const std::size_t n = dns::name_from_text(text, buf);
    return std::string(reinterpret_cast<const char*>(buf), n);
}

std::string write_file(const std::string& text) {
    char path[] = "/tmp/unit_zone_XXXXXX";
    const int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    std::fclose(fdopen(fd, "w"));
    std::ofstream(path) << text;
    return path;
}

const char* kHead = "$ORIGIN z.test.\n$TTL 300\n@ SOA ns hm 42 1 2 3 4\n@ NS ns\nns A 192.0.2.1\n";

std::shared_ptr<const zone::StaticZone> load(const std::string& body, int gslb = -1,
                                             const char* gslb_name = nullptr) {
    const std::string path = write_file(std::string(kHead) + body);
    const std::string origin = wire("z.test.");
    zone::ZoneBuilder b({reinterpret_cast<const std::uint8_t*>(origin.data()), origin.size()});
    zone::read_master_file(path, "z.test.", b);
    if (gslb_name != nullptr) {
        const std::string n = wire(gslb_name);
        b.add_gslb_name({reinterpret_cast<const std::uint8_t*>(n.data()), n.size()}, gslb,
                        config::SourcePos{"policy.yml", 7, 3});
    }
    auto z = b.build(path);
    std::remove(path.c_str());
    return z;
}

zone::Lookup resolve(const zone::StaticZone& z, const char* name) {
    const std::string n = wire(name);
    const auto* p = reinterpret_cast<const std::uint8_t*>(n.data());
    return z.resolve(p, n.size(), dns::name_hash(p, n.size()));
}

std::string name_of(const zone::StaticZone& z, const zone::Node* n) {
    char buf[300];
    const auto s = z.name_of(*n);
    dns::name_to_text(s.data(), s.size(), buf, sizeof buf);
    return buf;
}

}  // namespace

TEST_CASE("zone: names, ENTs, wildcards, delegations") {
    auto z = load(
        "a.b.c A 192.0.2.2\n*.w A 192.0.2.3\nx.w A 192.0.2.4\nsub NS ns.sub\nns.sub A 192.0.2.5\n"
        "deep.below.sub A 192.0.2.6\nWWW TXT \"t\"\nwww TXT \"t\"\n");
    REQUIRE(z->serial() == 42);
    CHECK(resolve(*z, "a.b.c.z.test.").match == zone::Match::Exact);
    const auto ent = resolve(*z, "b.c.z.test.");
    CHECK(ent.match == zone::Match::Exact);
    CHECK(ent.node->nrr == 0);
    CHECK(resolve(*z, "q.b.c.z.test.").match == zone::Match::NxDomain);
    const auto wild = resolve(*z, "any.w.z.test.");
    CHECK(wild.match == zone::Match::Wildcard);
    CHECK(name_of(*z, wild.node) == "*.w.z.test.");
    CHECK(resolve(*z, "a.b.w.z.test.").match == zone::Match::Wildcard);  // RFC 4592 §2.2.1
    CHECK(resolve(*z, "y.x.w.z.test.").match == zone::Match::NxDomain);  // x.w exists
    const auto ref = resolve(*z, "deep.below.sub.z.test.");
    CHECK(ref.match == zone::Match::Referral);
    CHECK(name_of(*z, ref.cut) == "sub.z.test.");
    CHECK(resolve(*z, "nothing.sub.z.test.").match == zone::Match::Referral);
    CHECK(resolve(*z, "sub.z.test.").exact);
    // one TXT: the same RDATA twice (owner case aside) is one RR
    const auto www = resolve(*z, "www.z.test.");
    REQUIRE(www.match == zone::Match::Exact);
    CHECK(z->rrset(*www.node, 16)->count == 1);
    // canonical order: the apex first, then names by their labels from the right
    CHECK(name_of(*z, &z->nodes()[0]) == "z.test.");
    for (std::size_t i = 1; i < z->nodes().size(); ++i) CHECK(z->nodes()[i].len > 0);
}

TEST_CASE("zone: errors name the file and line") {
    auto expect = [](const std::string& body, const char* what) {
        try {
            load(body);
            FAIL("loaded");
        } catch (const config::ConfigError& e) {
            const std::string msg = e.what();
            INFO(msg);
            CHECK(msg.find(":6") != std::string::npos);
            CHECK(msg.find(what) != std::string::npos);
        }
    };
    expect("www CNAME x\nwww TXT \"y\"\n", "beside other data");
    expect("bad A 1.2.3\n", "IPv4");
    expect("out.other. A 192.0.2.1\n", "outside the zone");
    expect("sub SOA ns hm 1 1 1 1 1\n", "not at the zone's apex");
    try {
        load("www A 192.0.2.9\n", 3, "www.z.test.");
        FAIL("loaded");
    } catch (const config::ConfigError& e) {
        const std::string msg = e.what();
        CHECK(msg.find("policy.yml:7:3") != std::string::npos);
        CHECK(msg.find(":6") != std::string::npos);
    }
}

TEST_CASE("zone: a GSLB name is a node with its record id") {
    auto z = load("lb TXT \"static beside GSLB\"\n", 5, "lb.z.test.");
    const auto l = resolve(*z, "lb.z.test.");
    REQUIRE(l.match == zone::Match::Exact);
    CHECK(l.node->gslb == 5);
    CHECK(z->rrset(*l.node, 16) != nullptr);
}
