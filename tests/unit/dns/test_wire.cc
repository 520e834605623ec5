#include <catch2/catch.hpp>

#include <array>
#include <vector>

#include "dns/response.hh"
#include "dns/wire.hh"
#include "wire.hh"

using namespace gslbd::dns;
using wire::Bytes;
using wire::cat;
using wire::hex;

namespace {

Reader reader(const Bytes& b) {
    return Reader({b.data(), b.size()});
}

/// A message whose question name is www.example.com at offset 12, followed by `tail`.
Bytes with_question(const Bytes& tail) {
    return cat({hex(wire::kHdr), hex(wire::kQname), hex(wire::kTypeA), tail});
}
constexpr std::size_t kAfterQuestion = 12 + 17 + 4;

Ecs ecs_of(std::uint16_t family, std::uint8_t source, std::initializer_list<std::uint8_t> addr) {
    Ecs e;
    e.present = true;
    e.family = family;
    e.source_prefix = source;
    std::size_t i = 0;
    for (auto b : addr) e.addr[i++] = b;
    return e;
}

Bytes opt_bytes(std::uint16_t udp, std::uint8_t ext_rcode, bool do_bit, const Ecs* ecs,
                std::uint8_t scope) {
    Bytes out(opt_size(ecs));
    const std::uint8_t* end = write_opt(out.data(), udp, ext_rcode, do_bit, ecs, scope);
    REQUIRE(end == out.data() + out.size());
    return out;
}

}  // namespace

TEST_CASE("Reader: integers in network order, exactly to the end") {
    const Bytes b = hex("01 02 03 04 05 06 07");
    Reader r = reader(b);
    CHECK(r.u8() == 0x01);
    CHECK(r.u16() == 0x0203);
    CHECK(r.u32() == 0x04050607u);
    CHECK(r.ok());
    CHECK(r.pos() == 7);
    CHECK(r.left() == 0);
}

TEST_CASE("Reader: the first failure sticks") {
    const Bytes b = hex("01 02 03");
    Reader r = reader(b);
    CHECK(r.u16() == 0x0102);
    CHECK(r.u16() == 0);  // one byte left: fails, moves nothing
    CHECK_FALSE(r.ok());
    CHECK(r.pos() == 2);
    CHECK(r.left() == 0);
    CHECK(r.u8() == 0);  // would fit, but the error sticks
    CHECK(r.bytes(0) == nullptr);
    r.seek(0);
    CHECK(r.pos() == 2);
    CHECK_FALSE(r.ok());
}

TEST_CASE("Reader: skip, seek and bytes are bounds-checked") {
    const Bytes b = hex("aa bb cc dd");
    Reader r = reader(b);
    const std::uint8_t* p = r.bytes(2);
    REQUIRE(p == b.data());
    r.seek(4);  // the end itself is a valid position
    CHECK(r.ok());
    CHECK(r.left() == 0);
    r.seek(1);
    r.skip(3);
    CHECK(r.ok());
    r.skip(1);
    CHECK_FALSE(r.ok());

    Reader s = reader(b);
    s.seek(5);
    CHECK_FALSE(s.ok());
    Reader t = reader(b);
    CHECK(t.bytes(5) == nullptr);
    CHECK_FALSE(t.ok());
    CHECK(t.pos() == 0);
}

TEST_CASE("Reader::skip_name: labels, a pointer ends the name, malformed names fail") {
    SECTION("plain") {
        const Bytes b = cat({hex(wire::kQname), hex("ff")});
        Reader r = reader(b);
        r.skip_name();
        CHECK(r.ok());
        CHECK(r.pos() == 17);
    }
    SECTION("labels then a pointer, which is not followed") {
        const Bytes b = hex("03 77 77 77 c0 ff 01");
        Reader r = reader(b);
        r.skip_name();
        CHECK(r.ok());
        CHECK(r.pos() == 6);
    }
    SECTION("truncated label, truncated pointer, missing root") {
        for (const char* h : {"03 77 77", "c0", "03 77 77 77", ""}) {
            const Bytes b = hex(h);
            Reader r = reader(b);
            r.skip_name();
            CHECK_FALSE(r.ok());
        }
    }
    SECTION("reserved label types") {
        for (const char* h : {"40 00", "80 00"}) {
            const Bytes b = hex(h);
            Reader r = reader(b);
            r.skip_name();
            CHECK_FALSE(r.ok());
        }
    }
    SECTION("over 255 bytes") {
        Bytes b;
        for (int i = 0; i < 5; ++i) {
            b.push_back(63);
            b.insert(b.end(), 63, 'a');
        }
        b.push_back(0);
        Reader r = reader(b);
        r.skip_name();
        CHECK_FALSE(r.ok());
    }
}

TEST_CASE("read_name: plain and compressed names") {
    // question www.example.com at 12; then "mail" + pointer to "example.com" (offset 16)
    const Bytes b = with_question(hex("04 6d 61 69 6c c0 10 | 00 01"));
    Reader r = reader(b);
    r.seek(12);
    std::uint8_t out[kMaxNameWire];
    std::uint8_t labels = 0;
    REQUIRE(read_name(r, out, &labels) == 17);
    CHECK(Bytes(out, out + 17) == hex(wire::kQname));
    CHECK(labels == 3);
    CHECK(r.pos() == 29);

    r.seek(kAfterQuestion);
    REQUIRE(read_name(r, out, &labels) == 18);
    CHECK(Bytes(out, out + 18) == wire::labels({"mail", "example", "com"}));
    CHECK(labels == 3);
    CHECK(r.pos() == kAfterQuestion + 7);  // after the pointer, not where it led
    CHECK(r.u16() == 1);

    // validate only
    r.seek(kAfterQuestion);
    CHECK(read_name(r, nullptr) == 18);
    CHECK(r.ok());
}

TEST_CASE("read_name: pointer loops and bad targets fail and stick") {
    std::uint8_t out[kMaxNameWire];
    const auto fails = [&](const Bytes& b, std::size_t at) {
        Reader r = reader(b);
        r.seek(at);
        const bool failed = read_name(r, out) == 0 && !r.ok();
        return failed && read_name(r, out) == 0;  // and stays failed
    };
    // a pointer to itself
    CHECK(fails(with_question(hex("c0 21")), kAfterQuestion));
    // a forward pointer
    CHECK(fails(with_question(hex("c0 23 00")), kAfterQuestion));
    // two pointers pointing at each other: A -> B -> A
    CHECK(fails(with_question(hex("c0 23 c0 21")), kAfterQuestion));
    CHECK(fails(with_question(hex("c0 23 c0 21")), kAfterQuestion + 2));
    // a label run that ends in a pointer back into itself
    CHECK(fails(with_question(hex("01 61 c0 21")), kAfterQuestion));
    // into the header
    CHECK(fails(with_question(hex("c0 05")), kAfterQuestion));
    // a pointer cut off at the end of the message
    CHECK(fails(with_question(hex("c0")), kAfterQuestion));
    // reserved label types
    CHECK(fails(with_question(hex("40 00")), kAfterQuestion));
    CHECK(fails(with_question(hex("80 00")), kAfterQuestion));
}

TEST_CASE("read_name: a name over 255 bytes after decompression fails") {
    // name1 at 33: three 63-byte labels and a pointer to www.example.com = 209 bytes;
    // name2 after it: one more 63-byte label and a pointer to name1 = 273 bytes
    Bytes tail;
    for (int i = 0; i < 3; ++i) {
        tail.push_back(63);
        tail.insert(tail.end(), 63, 'a');
    }
    tail.insert(tail.end(), {0xC0, 12});
    const std::size_t name2 = kAfterQuestion + tail.size();
    tail.push_back(63);
    tail.insert(tail.end(), 63, 'b');
    tail.insert(tail.end(), {0xC0, static_cast<std::uint8_t>(kAfterQuestion)});
    const Bytes b = with_question(tail);
    std::uint8_t out[kMaxNameWire];

    Reader ok = reader(b);
    ok.seek(kAfterQuestion);
    CHECK(read_name(ok, out) == 3 * 64 + 17);
    CHECK(ok.pos() == name2);

    Reader r = reader(b);
    r.seek(name2);
    CHECK(read_name(r, out) == 0);
    CHECK_FALSE(r.ok());
}

TEST_CASE("Writer: bounds, network order, sticky error") {
    std::array<std::uint8_t, 8> buf{};
    Writer w(buf);
    w.u16(0x0102);
    w.u32(0x03040506u);
    CHECK(w.ok());
    CHECK(w.pos() == 6);
    CHECK(w.left() == 2);
    w.u32(0xffffffffu);  // does not fit: nothing written
    CHECK_FALSE(w.ok());
    CHECK(w.pos() == 6);
    CHECK(w.left() == 0);
    w.u8(0xee);  // would fit, but the error sticks
    CHECK(w.pos() == 6);
    CHECK(Bytes(buf.begin(), buf.end()) == hex("01 02 03 04 05 06 00 00"));
    CHECK(w.claim(0) == nullptr);

    w.reset();
    CHECK(w.ok());
    CHECK(w.pos() == 0);
    std::uint8_t* p = w.claim(8);
    REQUIRE(p == buf.data());
    CHECK(w.left() == 0);
    CHECK(w.claim(1) == nullptr);
}

TEST_CASE("Writer: bytes, patch16 and rewind stay inside what was written") {
    std::array<std::uint8_t, 16> buf{};
    Writer w(buf);
    const Bytes name = hex(wire::kQname);
    w.bytes(name.data(), 10);
    w.u16(0);
    w.patch16(10, 0xbeef);
    CHECK(w.ok());
    CHECK(buf[10] == 0xbe);
    CHECK(buf[11] == 0xef);
    CHECK(w.written().size() == 12);

    w.patch16(11, 1);  // would reach past what was written
    CHECK_FALSE(w.ok());

    Writer v(buf);
    v.bytes(name.data(), 4);
    v.rewind(2);
    CHECK(v.ok());
    CHECK(v.pos() == 2);
    v.rewind(3);  // forwards is not a rewind
    CHECK_FALSE(v.ok());

    Writer big(buf);
    big.bytes(name);  // 17 bytes into 16
    CHECK_FALSE(big.ok());
    CHECK(big.pos() == 0);
}

TEST_CASE("ECS address length and OPT size") {
    CHECK(ecs_addr_len(0) == 0);
    CHECK(ecs_addr_len(1) == 1);
    CHECK(ecs_addr_len(24) == 3);
    CHECK(ecs_addr_len(25) == 4);
    CHECK(ecs_addr_len(128) == 16);
    CHECK(ecs_addr_len(255) == 16);  // never past the address array
    CHECK(opt_size(nullptr) == kOptFixed);
    Ecs absent;
    CHECK(opt_size(&absent) == kOptFixed);
    const Ecs e = ecs_of(1, 24, {192, 0, 2});
    CHECK(opt_size(&e) == kOptFixed + 4 + 4 + 3);
}

TEST_CASE("write_opt: the fixtures' OPT records byte for byte") {
    // the same bytes test_query.cc parses as kOptEcs: UDP 1232, DO, ECS 192.0.2.0/24
    const Ecs e = ecs_of(1, 24, {192, 0, 2});
    CHECK(opt_bytes(1232, 0, true, &e, 0) == hex(wire::kOptEcs));
    // no options; UDP 4096 as in kOpt
    CHECK(opt_bytes(4096, 0, false, nullptr, 0) == hex(wire::kOpt));
    Ecs absent;
    CHECK(opt_bytes(4096, 0, false, &absent, 0) == hex(wire::kOpt));
}

TEST_CASE("write_opt: UDP size floor, extended RCODE, scope clamp, IPv6") {
    // our size below 512 is raised; BADVERS (16) puts 1 in the TTL's top byte
    CHECK(opt_bytes(100, 1, false, nullptr, 0) == hex("00 00 29 02 00 01 00 00 00 00 00"));
    // scope above the source prefix is clamped to it
    const Ecs v4 = ecs_of(1, 24, {192, 0, 2});
    CHECK(opt_bytes(1232, 0, false, &v4, 32) ==
          hex("00 00 29 04 d0 00 00 00 00 00 0b | 00 08 00 07 00 01 18 18 c0 00 02"));
    // 2001:db8:aa00::/40, scope 36: five address bytes
    const Ecs v6 = ecs_of(2, 40, {0x20, 0x01, 0x0d, 0xb8, 0xaa});
    CHECK(opt_bytes(4096, 0, true, &v6, 36) ==
          hex("00 00 29 10 00 00 00 80 00 00 0d | 00 08 00 09 00 02 28 24 20 01 0d b8 aa"));
    // through a Writer: too little room writes nothing
    std::vector<std::uint8_t> buf(64);
    Writer w({buf.data(), 20});
    put_opt(w, 1232, 0, false, &v6, 0);
    CHECK_FALSE(w.ok());
    CHECK(w.pos() == 0);
}

TEST_CASE("read_header / read_rr decode what ResponseWriter wrote") {
    Query q;
    const Bytes in =
        cat({hex(wire::kHdrAr1), hex(wire::kQnameMixed), hex(wire::kTypeA), hex(wire::kOptEcs)});
    REQUIRE(parse_query({in.data(), in.size()}, q).status == ParseStatus::Ok);
    std::vector<std::uint8_t> buf(1232);
    ResponseWriter rw(buf, q.max_udp_response());
    rw.begin(q, Rcode::NoError, true);
    const std::uint8_t a[4] = {192, 0, 2, 1};
    REQUIRE(rw.add_a(Section::Answer, NameRef::qname(), 300, a));
    std::uint8_t zone[kMaxNameWire];
    const std::size_t zlen = name_from_text("example.com", zone);
    REQUIRE(rw.add_ns(Section::Authority, NameRef::of({zone, zlen}), 86400, NameRef::qname()));
    rw.set_opt(1232, true, &q.ecs, 20);
    const std::size_t n = rw.finish();

    Reader r({buf.data(), n});
    Header h;
    REQUIRE(read_header(r, h));
    CHECK(h.id == 0x1234);
    CHECK((h.flags & flag::QR) != 0);
    CHECK((h.flags & flag::AA) != 0);
    CHECK(h.rcode() == 0);
    CHECK(h.qdcount == 1);
    CHECK(h.ancount == 1);
    CHECK(h.nscount == 1);
    CHECK(h.arcount == 1);
    REQUIRE(skip_question(r));

    std::uint8_t owner[kMaxNameWire];
    RrInfo rr;
    REQUIRE(read_rr(r, owner, rr) == 17);
    CHECK(Bytes(owner, owner + 17) == hex(wire::kQnameMixed));  // the client's case
    CHECK(rr.type == qtype::A);
    CHECK(rr.rclass == kClassIN);
    CHECK(rr.ttl == 300);
    REQUIRE(rr.rdlength == 4);
    CHECK(Bytes(buf.data() + rr.rdata, buf.data() + rr.rdata + 4) == hex("c0 00 02 01"));

    REQUIRE(read_rr(r, owner, rr) == zlen);
    CHECK(rr.type == qtype::NS);
    Reader target({buf.data(), n});
    target.seek(rr.rdata);
    std::uint8_t t[kMaxNameWire];
    CHECK(read_name(target, t) == 17);
    CHECK(target.pos() == rr.rdata + rr.rdlength);

    REQUIRE(read_rr(r, owner, rr) == 1);
    CHECK(rr.type == qtype::OPT);
    CHECK(rr.rclass == 1232);
    CHECK(rr.ttl == 0x8000);
    // the ECS option echoed with the scope (20 <= source 24)
    CHECK(Bytes(buf.data() + rr.rdata, buf.data() + rr.rdata + rr.rdlength) ==
          hex("00 08 00 07 00 01 18 14 c0 00 02"));
    CHECK(r.left() == 0);
    CHECK(r.ok());
}

TEST_CASE("read_rr: RDATA past the end of the message fails") {
    const Bytes b = with_question(hex("c0 0c 00 01 00 01 00 00 01 2c 00 05 c0 00 02 01"));
    Reader r = reader(b);
    r.seek(kAfterQuestion);
    RrInfo rr;
    CHECK(read_rr(r, nullptr, rr) == 0);
    CHECK_FALSE(r.ok());
    // every truncation of a good record fails the same way, never reading past the end
    const Bytes good = with_question(hex("c0 0c 00 01 00 01 00 00 01 2c 00 04 c0 00 02 01"));
    for (std::size_t len = kAfterQuestion; len < good.size(); ++len) {
        Reader c({good.data(), len});
        c.seek(kAfterQuestion);
        CHECK(read_rr(c, nullptr, rr) == 0);
    }
    Reader full = reader(good);
    full.seek(kAfterQuestion);
    CHECK(read_rr(full, nullptr, rr) == 17);  // the owner's decompressed length
    CHECK(full.left() == 0);
}
