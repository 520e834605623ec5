// lib/xfr without a network: what an AXFR/IXFR answer means and what it makes of our copy,
// where a multi-message answer ends, and the disk copy.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "dns/response.hh"
#include "xfr/disk.hh"
#include "xfr/ixfr.hh"

using namespace gslbd;
using xfr::Kind;

namespace {

std::string wire(const char* text) {
    std::uint8_t buf[dns::kMaxNameWire];
    const std::size_t n = dns::name_from_text(text, buf);
    return std::string(reinterpret_cast<const char*>(buf), n);
}

const std::string kOrigin = wire("x.test.");

zone::Rr soa(std::uint32_t serial) {
    std::string rd = wire("ns.x.test.") + wire("h.x.test.");
    for (std::uint32_t v : {serial, 3600u, 60u, 86400u, 300u})
        for (int i = 3; i >= 0; --i) rd += static_cast<char>((v >> (8 * i)) & 0xff);
    return {kOrigin, zone::kTypeSOA, 300, rd};
}

zone::Rr a(const char* name, std::uint8_t last) {
    return {wire(name), zone::kTypeA, 60,
            std::string{'\xc0', '\x00', '\x02', static_cast<char>(last)}};
}

zone::Contents zone_of(std::uint32_t serial, std::vector<zone::Rr> rrs) {
    zone::Contents c;
    c.rrs.push_back(soa(serial));
    REQUIRE(zone::soa_timers(c.rrs[0].rdata, c.soa));
    for (auto& r : rrs) c.rrs.push_back(std::move(r));
    return c;
}

bool has(const zone::Contents& c, const zone::Rr& rr) {
    return std::any_of(c.rrs.begin(), c.rrs.end(), [&](const zone::Rr& x) { return x == rr; });
}

}  // namespace

TEST_CASE("serial arithmetic follows RFC 1982") {
    CHECK(xfr::serial_newer(2, 1));
    CHECK_FALSE(xfr::serial_newer(1, 1));
    CHECK_FALSE(xfr::serial_newer(1, 2));
    CHECK(xfr::serial_newer(1, 0xfffffff0u));  // wrapped around
    CHECK_FALSE(xfr::serial_newer(0xfffffff0u, 1));
}

TEST_CASE("AXFR: the whole zone between two SOAs") {
    const std::vector<zone::Rr> s = {soa(5), a("www.x.test.", 1), a("w2.x.test.", 2), soa(5)};
    const auto r = xfr::interpret(s, kOrigin, nullptr, false);
    REQUIRE(r.kind == Kind::Axfr);
    CHECK(r.zone->soa.serial == 5);
    CHECK(r.zone->rrs.size() == 3);
    CHECK(r.zone->rrs.front().type == zone::kTypeSOA);
}

TEST_CASE("AXFR answers that are not whole zones are refused") {
    CHECK_THROWS_WITH(xfr::interpret(std::vector<zone::Rr>{}, kOrigin, nullptr, false),
                      Catch::Contains("empty"));
    CHECK_THROWS_WITH(
        xfr::interpret(std::vector<zone::Rr>{a("www.x.test.", 1), soa(5)}, kOrigin, nullptr, false),
        Catch::Contains("does not start"));
    CHECK_THROWS_WITH(
        xfr::interpret(std::vector<zone::Rr>{soa(5), a("www.x.test.", 1)}, kOrigin, nullptr, false),
        Catch::Contains("truncated"));
    CHECK_THROWS_WITH(
        xfr::interpret(std::vector<zone::Rr>{soa(5), soa(6)}, kOrigin, nullptr, false),
        Catch::Contains("truncated"));
}

TEST_CASE("IXFR: increments applied to our copy") {
    const zone::Contents base = zone_of(1, {a("www.x.test.", 1), a("old.x.test.", 2)});
    // 1 -> 2: delete old, add new; 2 -> 3: add w3
    const std::vector<zone::Rr> s = {
        soa(3), soa(1), a("old.x.test.", 2), soa(2), a("new.x.test.", 3),
        soa(2), soa(3), a("w3.x.test.", 4),  soa(3)};
    const auto r = xfr::interpret(s, kOrigin, &base, true);
    REQUIRE(r.kind == Kind::Ixfr);
    CHECK(r.changes == 3);
    CHECK(r.zone->soa.serial == 3);
    CHECK(r.zone->rrs.front() == soa(3));
    CHECK(r.zone->rrs.size() == 4);
    CHECK(has(*r.zone, a("www.x.test.", 1)));
    CHECK(has(*r.zone, a("new.x.test.", 3)));
    CHECK(has(*r.zone, a("w3.x.test.", 4)));
    CHECK_FALSE(has(*r.zone, a("old.x.test.", 2)));
}

TEST_CASE("IXFR answered as a whole zone, a single SOA, or wrongly") {
    const zone::Contents base = zone_of(1, {a("www.x.test.", 1)});
    SECTION("AXFR form") {
        const std::vector<zone::Rr> s = {soa(2), a("only.x.test.", 9), soa(2)};
        const auto r = xfr::interpret(s, kOrigin, &base, true);
        REQUIRE(r.kind == Kind::Axfr);
        CHECK(r.zone->rrs.size() == 2);
    }
    SECTION("our own serial: up to date") {
        CHECK(xfr::interpret(std::vector<zone::Rr>{soa(1)}, kOrigin, &base, true).kind ==
              Kind::UpToDate);
    }
    SECTION("a newer single SOA: ask AXFR") {
        CHECK(xfr::interpret(std::vector<zone::Rr>{soa(7)}, kOrigin, &base, true).kind ==
              Kind::NeedAxfr);
    }
    SECTION("an increment from another serial") {
        const std::vector<zone::Rr> s = {soa(3), soa(2), soa(3), a("n.x.test.", 1), soa(3)};
        CHECK_THROWS_WITH(xfr::interpret(s, kOrigin, &base, true), Catch::Contains("ours is 1"));
    }
    SECTION("deleting an RR we do not have") {
        const std::vector<zone::Rr> s = {soa(2), soa(1), a("nope.x.test.", 1), soa(2), soa(2)};
        CHECK_THROWS_WITH(xfr::interpret(s, kOrigin, &base, true),
                          Catch::Contains("we do not have"));
    }
    SECTION("serials going backwards") {
        CHECK_THROWS_WITH(xfr::interpret(std::vector<zone::Rr>{soa(0), a("x.x.test.", 1), soa(0)},
                                         kOrigin, &base, true),
                          Catch::Contains("wrong serial order"));
    }
    SECTION("an older single SOA") {
        const zone::Contents newer = zone_of(9, {});
        CHECK_THROWS_WITH(xfr::interpret(std::vector<zone::Rr>{soa(3)}, kOrigin, &newer, true),
                          Catch::Contains("older"));
    }
}

TEST_CASE("the end of a multi-message answer") {
    SECTION("AXFR: the second SOA") {
        xfr::StreamEnd e(false);
        e.add(soa(5));
        CHECK_FALSE(e.complete_at_message_end());
        e.add(a("www.x.test.", 1));
        CHECK_FALSE(e.complete());
        e.add(soa(5));
        CHECK(e.complete());
    }
    SECTION("IXFR increments: the third SOA of the new serial") {
        xfr::StreamEnd e(true);
        for (const auto& rr : {soa(3), soa(1), a("o.x.test.", 1), soa(3), a("n.x.test.", 2)}) {
            e.add(rr);
            CHECK_FALSE(e.complete());
        }
        e.add(soa(3));
        CHECK(e.complete());
    }
    SECTION("IXFR: a single SOA is a whole answer, at the message's end") {
        xfr::StreamEnd e(true);
        e.add(soa(3));
        CHECK(e.complete_at_message_end());
    }
    SECTION("IXFR in AXFR form") {
        xfr::StreamEnd e(true);
        e.add(soa(3));
        e.add(a("w.x.test.", 1));
        e.add(soa(3));
        CHECK(e.complete());
    }
}

TEST_CASE("disk copy: round trip, atomic replace, damage refused") {
    const std::string dir =
        (std::filesystem::temp_directory_path() / ("unit_xfr_" + std::to_string(::getpid())))
            .string();
    std::filesystem::create_directories(dir);
    const zone::Contents c = zone_of(42, {a("www.x.test.", 1), a("w2.x.test.", 2)});
    const auto when = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
    CHECK_FALSE(xfr::read_copy(dir, "x.test.").has_value());
    xfr::write_copy(dir, "x.test.", c, when);
    const auto back = xfr::read_copy(dir, "x.test.");
    REQUIRE(back.has_value());
    CHECK(back->zone.soa.serial == 42);
    CHECK(back->zone.rrs == c.rrs);
    CHECK(back->refreshed == when);
    CHECK_FALSE(std::filesystem::exists(xfr::copy_path(dir, "x.test.") + ".tmp"));
    // another zone's name is not this file
    std::filesystem::copy_file(xfr::copy_path(dir, "x.test."), xfr::copy_path(dir, "y.test."));
    CHECK_THROWS_WITH(xfr::read_copy(dir, "y.test."), Catch::Contains("holds zone x.test."));
    // one flipped byte
    {
        std::fstream f(xfr::copy_path(dir, "x.test."),
                       std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(40);
        f.put('\x7f');
    }
    CHECK_THROWS_WITH(xfr::read_copy(dir, "x.test."), Catch::Contains("checksum"));
    // truncated
    std::filesystem::resize_file(xfr::copy_path(dir, "x.test."), 20);
    CHECK_THROWS(xfr::read_copy(dir, "x.test."));
    std::filesystem::remove_all(dir);
}
