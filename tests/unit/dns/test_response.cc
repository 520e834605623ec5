#include <catch2/catch.hpp>

#include <string>

#include "dns/query.hh"
#include "dns/response.hh"
#include "wire.hh"

using namespace gslbd::dns;
using namespace wire;

namespace {

Query parsed(const Bytes& b, ParseStatus want = ParseStatus::Ok) {
    Query q;
    const auto r = parse_query({b.data(), b.size()}, q);
    REQUIRE(r.status == want);
    return q;
}

Bytes name(std::string_view text) {
    std::uint8_t buf[kMaxNameWire];
    const std::size_t n = name_from_text(text, buf);
    REQUIRE(n > 0);
    return Bytes(buf, buf + n);
}

std::span<const std::uint8_t> sp(const Bytes& b) {
    return {b.data(), b.size()};
}

struct Built {
    Bytes bytes;
    bool truncated;
};

template <class F>
Built build(const Query& q, Rcode rc, bool aa, std::size_t limit, F&& body) {
    Bytes buf(65535, 0xEE);  // poison: any byte we forget to write shows up
    ResponseWriter w({buf.data(), buf.size()}, limit);
    w.begin(q, rc, aa);
    body(w);
    const std::size_t n = w.finish();
    buf.resize(n);
    return {buf, w.truncated()};
}

const std::uint8_t kA[4] = {192, 0, 2, 1};
const std::uint8_t kA2[4] = {192, 0, 2, 2};
const std::uint8_t kAaaa[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

const Bytes kQueryA = cat({hex(kHdr), hex(kQname), hex(kTypeA)});
const std::string kQuestion = std::string(kQname) + " 00 01 00 01";
const char* kHdrAA1 = "12 34 85 00 00 01 00 01 00 00 00 00";  // QR AA RD, AN=1

struct Fixture {
    const char* what;
    Bytes got;
    Bytes want;
};

}  // namespace

TEST_CASE("ResponseWriter: byte-exact responses") {
    const Query qa = parsed(kQueryA);
    const Query qaaaa = parsed(cat({hex(kHdr), hex(kQname), hex("00 1c 00 01")}));
    const Query qtxt = parsed(cat({hex(kHdr), hex(kQname), hex("00 10 00 01")}));
    const Query qany = parsed(cat({hex(kHdr), hex(kQname), hex("00 ff 00 01")}));
    const Bytes example = name("Example.COM.");
    const Bytes ns1 = name("ns1.example.com");
    const Bytes host = name("hostmaster.example.com.");
    const Bytes target = name("www.example.net.");
    const SoaData soa{sp(ns1), sp(host), 2024010101, 7200, 3600, 1209600, 300};

    const char* soa_rr =
        "07 65 78 61 6d 70 6c 65 03 63 6f 6d 00 00 06 00 01 00 00 0e 10 00 3d"
        " 03 6e 73 31 07 65 78 61 6d 70 6c 65 03 63 6f 6d 00"
        " 0a 68 6f 73 74 6d 61 73 74 65 72 07 65 78 61 6d 70 6c 65 03 63 6f 6d 00"
        " 78 a3 f1 75 00 00 1c 20 00 00 0e 10 00 12 75 00 00 00 01 2c";

    const std::vector<Fixture> fixtures = {
        {"A",
         build(qa, Rcode::NoError, true, 512,
               [&](ResponseWriter& w) {
                   REQUIRE(w.add_a(Section::Answer, NameRef::qname(), 300, kA));
               })
             .bytes,
         hex(std::string(kHdrAA1) + kQuestion + "c0 0c 00 01 00 01 00 00 01 2c 00 04 c0 00 02 01")},
        {"AAAA",
         build(qaaaa, Rcode::NoError, true, 512,
               [&](ResponseWriter& w) {
                   REQUIRE(w.add_aaaa(Section::Answer, NameRef::qname(), 60, kAaaa));
               })
             .bytes,
         hex(std::string(kHdrAA1) + kQname + " 00 1c 00 01" +
             "c0 0c 00 1c 00 01 00 00 00 3c 00 10 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 "
             "01")},
        {"TXT",
         build(qtxt, Rcode::NoError, true, 512,
               [&](ResponseWriter& w) {
                   REQUIRE(w.add_txt(Section::Answer, NameRef::qname(), 30, "hello"));
               })
             .bytes,
         hex(std::string(kHdrAA1) + kQname + " 00 10 00 01" +
             "c0 0c 00 10 00 01 00 00 00 1e 00 06 05 68 65 6c 6c 6f")},
        {"empty TXT is one empty character-string",
         build(qtxt, Rcode::NoError, true, 512,
               [&](ResponseWriter& w) {
                   REQUIRE(w.add_txt(Section::Answer, NameRef::qname(), 30, ""));
               })
             .bytes,
         hex(std::string(kHdrAA1) + kQname + " 00 10 00 01" +
             "c0 0c 00 10 00 01 00 00 00 1e 00 01 00")},
        {"NXDOMAIN with SOA in authority",
         build(qa, Rcode::NxDomain, true, 512,
               [&](ResponseWriter& w) {
                   REQUIRE(w.add_soa(Section::Authority, NameRef::of(sp(example)), 3600, soa));
               })
             .bytes,
         hex(std::string("12 34 85 03 00 01 00 00 00 01 00 00") + kQuestion + soa_rr)},
        {"SOA answer at the apex",
         build(qa, Rcode::NoError, true, 512,
               [&](ResponseWriter& w) {
                   REQUIRE(w.add_soa(Section::Answer, NameRef::of(sp(example)), 3600, soa));
               })
             .bytes,
         hex(std::string(kHdrAA1) + kQuestion + soa_rr)},
        {"NS answer and CNAME",
         build(qa, Rcode::NoError, false, 512,
               [&](ResponseWriter& w) {
                   REQUIRE(w.add_cname(Section::Answer, NameRef::qname(), 120,
                                       NameRef::of(sp(target))));
                   REQUIRE(w.add_ns(Section::Authority, NameRef::of(sp(example)), 86400,
                                    NameRef::of(sp(ns1))));
               })
             .bytes,
         hex(std::string("12 34 81 00 00 01 00 01 00 01 00 00") + kQuestion +
             "c0 0c 00 05 00 01 00 00 00 78 00 11 03 77 77 77 07 65 78 61 6d 70 6c 65 03 6e 65 74 "
             "00"
             "07 65 78 61 6d 70 6c 65 03 63 6f 6d 00 00 02 00 01 00 01 51 80 00 11"
             " 03 6e 73 31 07 65 78 61 6d 70 6c 65 03 63 6f 6d 00")},
        {"HINFO RFC 8482 for ANY",
         build(qany, Rcode::NoError, true, 512,
               [&](ResponseWriter& w) {
                   REQUIRE(w.add_hinfo_rfc8482(Section::Answer, NameRef::qname(), 3600));
               })
             .bytes,
         hex(std::string(kHdrAA1) + kQname + " 00 ff 00 01" +
             "c0 0c 00 0d 00 01 00 00 0e 10 00 09 07 52 46 43 38 34 38 32 00")},
    };
    for (const auto& f : fixtures) {
        INFO(f.what << "\n got: " << to_hex(f.got) << "\nwant: " << to_hex(f.want));
        CHECK(f.got == f.want);
    }
}

TEST_CASE("ResponseWriter: question echoed with the client's letter case, ID/RD/CD copied") {
    const Query q =
        parsed(cat({hex("ab cd 01 10 00 01 00 00 00 00 00 00"), hex(kQnameMixed), hex(kTypeA)}));
    const auto r = build(q, Rcode::NoError, true, 512, [&](ResponseWriter& w) {
        REQUIRE(w.add_a(Section::Answer, NameRef::qname(), 300, kA));
    });
    CHECK(r.bytes == hex(std::string("ab cd 85 10 00 01 00 01 00 00 00 00") + kQnameMixed +
                         " 00 01 00 01 c0 0c 00 01 00 01 00 00 01 2c 00 04 c0 00 02 01"));
}

TEST_CASE("ResponseWriter: OPT echo with ECS scope") {
    const Query q = parsed(query_with_additional(1, hex(kOptEcs)));
    const std::string hdr = "12 34 85 00 00 01 00 01 00 00 00 01";
    const std::string a_rr = "c0 0c 00 01 00 01 00 00 01 2c 00 04 c0 00 02 01";

    SECTION("scope as decided") {
        const auto r = build(q, Rcode::NoError, true, q.max_udp_response(), [&](ResponseWriter& w) {
            REQUIRE(w.add_a(Section::Answer, NameRef::qname(), 300, kA));
            w.set_opt(1232, q.do_bit, &q.ecs, 16);
        });
        CHECK(to_hex(r.bytes) ==
              to_hex(hex(hdr + kQuestion + a_rr +
                         "00 00 29 04 d0 00 00 80 00 00 0b 00 08 00 07 00 01 18 10 c0 00 02")));
    }
    SECTION("scope clamped to the source prefix, our UDP size, DO not set") {
        const auto r = build(q, Rcode::NoError, true, q.max_udp_response(), [&](ResponseWriter& w) {
            REQUIRE(w.add_a(Section::Answer, NameRef::qname(), 300, kA));
            w.set_opt(4096, false, &q.ecs, 40);
        });
        CHECK(to_hex(r.bytes) ==
              to_hex(hex(hdr + kQuestion + a_rr +
                         "00 00 29 10 00 00 00 00 00 00 0b 00 08 00 07 00 01 18 18 c0 00 02")));
    }
    SECTION("without set_opt: default size, DO echoed, ECS echoed with scope 0") {
        const auto r = build(q, Rcode::NoError, true, q.max_udp_response(), [&](ResponseWriter& w) {
            REQUIRE(w.add_a(Section::Answer, NameRef::qname(), 300, kA));
        });
        CHECK(to_hex(r.bytes) ==
              to_hex(hex(hdr + kQuestion + a_rr +
                         "00 00 29 04 d0 00 00 80 00 00 0b 00 08 00 07 00 01 18 00 c0 00 02")));
    }
    SECTION("ECS not echoed when set_opt gets none") {
        const auto r = build(q, Rcode::NoError, true, q.max_udp_response(), [&](ResponseWriter& w) {
            REQUIRE(w.add_a(Section::Answer, NameRef::qname(), 300, kA));
            w.set_opt(1232, true, nullptr, 0);
        });
        CHECK(to_hex(r.bytes) ==
              to_hex(hex(hdr + kQuestion + a_rr + "00 00 29 04 d0 00 00 80 00 00 00")));
    }
}

TEST_CASE("ResponseWriter: no OPT for a query without EDNS, even if set_opt is called") {
    const Query q = parsed(kQueryA);
    const auto r = build(q, Rcode::NoError, true, 512, [&](ResponseWriter& w) {
        REQUIRE(w.add_a(Section::Answer, NameRef::qname(), 300, kA));
        w.set_opt(1232, true, nullptr, 0);
    });
    CHECK(r.bytes == hex(std::string(kHdrAA1) + kQuestion +
                         "c0 0c 00 01 00 01 00 00 01 2c 00 04 c0 00 02 01"));
}

TEST_CASE("ResponseWriter: BADVERS goes to the OPT TTL, header RCODE 0") {
    const Query q = parsed(query_with_additional(1, hex("00 00 29 10 00 00 01 00 00 00 00")),
                           ParseStatus::BadVers);
    const auto r = build(q, Rcode::BadVers, false, q.max_udp_response(),
                         [&](ResponseWriter& w) { w.set_opt(1232, q.do_bit, nullptr, 0); });
    CHECK(to_hex(r.bytes) == to_hex(hex(std::string("12 34 81 00 00 01 00 00 00 00 00 01") +
                                        kQuestion + "00 00 29 04 d0 01 00 00 00 00 00")));
}

TEST_CASE("ResponseWriter: set_rcode rewrites header and extended RCODE") {
    const Query q = parsed(query_with_additional(1, hex(kOpt)));
    const auto r = build(q, Rcode::NoError, true, 4096, [&](ResponseWriter& w) {
        w.set_rcode(Rcode::BadVers);
        w.set_rcode(Rcode::Refused);
        w.set_opt(1232, false, nullptr, 0);
    });
    CHECK(to_hex(r.bytes) == to_hex(hex(std::string("12 34 85 05 00 01 00 00 00 00 00 01") +
                                        kQuestion + "00 00 29 04 d0 00 00 00 00 00 00")));
}

TEST_CASE("ResponseWriter: FORMERR header only and NOTIMP with the question") {
    std::uint8_t buf[512];
    SECTION("header only") {
        ResponseWriter w({buf, sizeof buf}, 512);
        w.begin_header_only(0x1234, 0x0110, Rcode::FormErr);
        const std::size_t n = w.finish();
        CHECK(to_hex(Bytes(buf, buf + n)) == to_hex(hex("12 34 81 11 00 00 00 00 00 00 00 00")));
        // No question to point at: a qname owner is refused without touching the message.
        CHECK_FALSE(w.add_a(Section::Answer, NameRef::qname(), 1, kA));
    }
    SECTION("NOTIMP echoes opcode and question") {
        const Query q =
            parsed(cat({hex("12 34 11 00 00 01 00 00 00 00 00 00"), hex(kQnameMixed), hex(kTypeA)}),
                   ParseStatus::NotImp);
        ResponseWriter w({buf, sizeof buf}, 512);
        w.begin(q, Rcode::NotImp, false);
        const std::size_t n = w.finish();
        CHECK(to_hex(Bytes(buf, buf + n)) ==
              to_hex(hex(std::string("12 34 91 04 00 01 00 00 00 00 00 00") + kQnameMixed +
                         " 00 01 00 01")));
    }
}

TEST_CASE("ResponseWriter: truncation at 512 without EDNS") {
    const Query q = parsed(kQueryA);
    int added = 0;
    const auto r = build(q, Rcode::NoError, true, q.max_udp_response(), [&](ResponseWriter& w) {
        // 33 bytes of header+question, 16 per A RR: 29 fit in 512 (497 bytes), the 30th not.
        while (w.add_a(Section::Answer, NameRef::qname(), 300, kA)) ++added;
        CHECK(w.truncated());
        CHECK(w.count(Section::Answer) == 29);
        CHECK_FALSE(w.add_a(Section::Additional, NameRef::qname(), 300, kA));
    });
    CHECK(added == 29);
    CHECK(r.truncated);
    CHECK(to_hex(r.bytes) ==
          to_hex(hex(std::string("12 34 87 00 00 01 00 00 00 00 00 00") + kQuestion)));
}

TEST_CASE("ResponseWriter: 29 A records fill 512 bytes without truncation") {
    const Query q = parsed(kQueryA);
    const auto r = build(q, Rcode::NoError, true, 512, [&](ResponseWriter& w) {
        for (int i = 0; i < 29; ++i) REQUIRE(w.add_a(Section::Answer, NameRef::qname(), 300, kA));
    });
    CHECK_FALSE(r.truncated);
    CHECK(r.bytes.size() == 497);
    CHECK(r.bytes[7] == 29);
    CHECK((r.bytes[2] & 0x02) == 0);
}

TEST_CASE("ResponseWriter: truncation at the EDNS size keeps the OPT") {
    const Query q = parsed(query_with_additional(1, hex(kOptEcs)));
    REQUIRE(q.max_udp_response() == 1232);
    int added = 0;
    const auto r = build(q, Rcode::NoError, true, q.max_udp_response(), [&](ResponseWriter& w) {
        // 33 + 22 (OPT with ECS /24) + 16 n <= 1232  =>  n <= 73
        while (w.add_a(Section::Answer, NameRef::qname(), 300, kA2)) ++added;
        w.set_opt(1232, q.do_bit, &q.ecs, 24);
    });
    CHECK(added == 73);
    CHECK(r.truncated);
    CHECK(to_hex(r.bytes) ==
          to_hex(hex(std::string("12 34 87 00 00 01 00 00 00 00 00 01") + kQuestion +
                     "00 00 29 04 d0 00 00 80 00 00 0b 00 08 00 07 00 01 18 18 c0 00 02")));
}

TEST_CASE("ResponseWriter: a full EDNS answer stays within the limit with its OPT") {
    const Query q = parsed(query_with_additional(1, hex(kOptEcs)));
    std::size_t n = 0;
    const auto r = build(q, Rcode::NoError, true, 600, [&](ResponseWriter& w) {
        for (int i = 0; i < 34; ++i) REQUIRE(w.add_a(Section::Answer, NameRef::qname(), 1, kA));
        n = w.count(Section::Answer);
    });
    CHECK(n == 34);  // 33 + 34*16 + 22 = 599
    CHECK_FALSE(r.truncated);
    CHECK(r.bytes.size() == 599);
}

TEST_CASE("ResponseWriter: long TXT is split into 255-byte character-strings") {
    const Query q = parsed(cat({hex(kHdr), hex(kQname), hex("00 10 00 01")}));
    const std::string text(300, 'x');
    const auto r = build(q, Rcode::NoError, true, 4096, [&](ResponseWriter& w) {
        REQUIRE(w.add_txt(Section::Answer, NameRef::qname(), 1, text));
    });
    const std::size_t rr = 33;
    REQUIRE(r.bytes.size() == rr + 12 + 302);
    CHECK(r.bytes[rr + 10] == 0x01);  // RDLENGTH 302
    CHECK(r.bytes[rr + 11] == 0x2e);
    CHECK(r.bytes[rr + 12] == 255);
    CHECK(r.bytes[rr + 12 + 256] == 45);
    CHECK(std::string(r.bytes.begin() + rr + 13, r.bytes.begin() + rr + 13 + 255) ==
          std::string(255, 'x'));
}

TEST_CASE("ResponseWriter: caller mistakes are refused without damage") {
    const Query q = parsed(kQueryA);
    const Bytes bad = hex("03 61 62");  // no root label
    const auto r = build(q, Rcode::NoError, true, 512, [&](ResponseWriter& w) {
        CHECK_FALSE(w.add_a(Section::Answer, NameRef::of(sp(bad)), 1, kA));
        CHECK_FALSE(w.add_cname(Section::Answer, NameRef::qname(), 1, NameRef::of(sp(bad))));
        REQUIRE(w.add_a(Section::Authority, NameRef::qname(), 1, kA));
        CHECK_FALSE(w.add_a(Section::Answer, NameRef::qname(), 1, kA));  // out of order
        CHECK_FALSE(w.truncated());
        CHECK(w.count(Section::Answer) == 0);
        CHECK(w.count(Section::Authority) == 1);
    });
    CHECK(r.bytes == hex(std::string("12 34 85 00 00 01 00 00 00 01 00 00") + kQuestion +
                         "c0 0c 00 01 00 01 00 00 00 01 00 04 c0 00 02 01"));
}

TEST_CASE("ResponseWriter: finish twice returns the same message") {
    const Query q = parsed(query_with_additional(1, hex(kOpt)));
    Bytes buf(1024);
    ResponseWriter w({buf.data(), buf.size()}, 1024);
    w.begin(q, Rcode::NoError, true);
    REQUIRE(w.add_a(Section::Answer, NameRef::qname(), 1, kA));
    const std::size_t n1 = w.finish();
    const Bytes first(buf.begin(), buf.begin() + n1);
    CHECK(w.finish() == n1);
    CHECK(Bytes(buf.begin(), buf.begin() + n1) == first);
    CHECK(first[11] == 1);  // ARCOUNT: the OPT, once
}

TEST_CASE("ResponseWriter: too small a buffer writes nothing") {
    const Query q = parsed(kQueryA);
    std::uint8_t buf[100];
    ResponseWriter w({buf, sizeof buf}, 512);
    w.begin(q, Rcode::NoError, true);
    CHECK_FALSE(w.add_a(Section::Answer, NameRef::qname(), 1, kA));
    CHECK(w.finish() == 0);
}
