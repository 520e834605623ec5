#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "dns/query.hh"
#include "wire.hh"

using namespace gslbd::dns;
using namespace wire;

namespace {

ParseResult parse(const Bytes& b, Query& q) {
    return parse_query({b.data(), b.size()}, q);
}

const char* status_name(ParseStatus s) {
    switch (s) {
        case ParseStatus::Ok:
            return "Ok";
        case ParseStatus::Drop:
            return "Drop";
        case ParseStatus::FormErr:
            return "FormErr";
        case ParseStatus::NotImp:
            return "NotImp";
        case ParseStatus::BadVers:
            return "BadVers";
    }
    return "?";
}

Bytes ecs_option(unsigned family, unsigned source, unsigned scope, const Bytes& addr) {
    return cat({u16(kOptionEcs), u16(4 + static_cast<unsigned>(addr.size())), u16(family),
                Bytes{static_cast<std::uint8_t>(source), static_cast<std::uint8_t>(scope)}, addr});
}

Bytes query_with_options(const Bytes& options) {
    return query_with_additional(1, opt_with(options));
}

Bytes long_label(std::size_t n) {
    return Bytes(n, 'a');
}

/// Wire name of exactly `total` bytes (root included) made of 63-byte labels plus a rest.
Bytes name_of_length(std::size_t total) {
    Bytes out;
    std::size_t left = total - 1;
    while (left > 0) {
        std::size_t l = left - 1 > 63 ? 63 : left - 1;
        if (left - (l + 1) == 1) --l;  // never leave a single byte: it cannot hold a label
        out.push_back(static_cast<std::uint8_t>(l));
        out.insert(out.end(), l, 'a');
        left -= l + 1;
    }
    out.push_back(0);
    return out;
}

struct Case {
    const char* what;
    Bytes packet;
    ParseStatus status;
    bool question_ok;
};

}  // namespace

TEST_CASE("parse_query: table of accepted and rejected packets") {
    const Bytes q0 = cat({hex(kHdr), hex(kQname), hex(kTypeA)});
    const Bytes name255 = name_of_length(255);
    const Bytes name256 = name_of_length(256);
    REQUIRE(name255.size() == 255);
    REQUIRE(name256.size() == 256);
    const Bytes tsig_like = cat({labels({"key"}), hex("00 fa 00 ff 00 00 00 00 00 03 01 02 03")});
    const Bytes cookie = cat({u16(kOptionCookie), u16(8), hex("01 02 03 04 05 06 07 08")});

    const std::vector<Case> cases = {
        {"plain A query", q0, ParseStatus::Ok, true},
        {"0x20 mixed case", cat({hex(kHdr), hex(kQnameMixed), hex(kTypeA)}), ParseStatus::Ok, true},
        {"root qname", cat({hex(kHdr), hex("00 00 02 00 01")}), ParseStatus::Ok, true},
        {"name of 255 bytes", cat({hex(kHdr), name255, hex(kTypeA)}), ParseStatus::Ok, true},
        {"EDNS without options", query_with_additional(1, hex(kOpt)), ParseStatus::Ok, true},
        {"EDNS with ECS", query_with_additional(1, hex(kOptEcs)), ParseStatus::Ok, true},
        {"ECS /0, no address bytes", query_with_options(ecs_option(1, 0, 0, {})), ParseStatus::Ok,
         true},
        {"ECS v6 /56", query_with_options(ecs_option(2, 56, 0, hex("20 01 0d b8 00 01 00"))),
         ParseStatus::Ok, true},
        {"ECS /20 with bits only inside the prefix",
         query_with_options(ecs_option(1, 20, 0, hex("c0 00 10"))), ParseStatus::Ok, true},
        {"cookie skipped, ECS after it",
         query_with_options(cat({cookie, ecs_option(1, 24, 0, hex("c0 00 02"))})), ParseStatus::Ok,
         true},
        {"TSIG-like record skipped", query_with_additional(1, tsig_like), ParseStatus::Ok, true},
        {"OPT then TSIG-like record", query_with_additional(2, cat({hex(kOpt), tsig_like})),
         ParseStatus::Ok, true},
        {"additional owner compressed to qname",
         query_with_additional(1, hex("c0 0c 00 10 00 01 00 00 00 00 00 00")), ParseStatus::Ok,
         true},

        {"empty packet", {}, ParseStatus::Drop, false},
        {"short packet (11 bytes)", hex("12 34 01 00 00 01 00 00 00 00 00"), ParseStatus::Drop,
         false},
        {"QR=1 (a response)",
         cat({hex("12 34 81 00 00 01 00 00 00 00 00 00"), hex(kQname), hex(kTypeA)}),
         ParseStatus::Drop, false},

        {"opcode STATUS",
         cat({hex("12 34 11 00 00 01 00 00 00 00 00 00"), hex(kQname), hex(kTypeA)}),
         ParseStatus::NotImp, true},
        {"opcode UPDATE with records",
         cat({hex("12 34 28 00 00 01 00 01 00 00 00 00"), hex(kQname), hex("00 06 00 01")}),
         ParseStatus::NotImp, true},
        {"opcode NOTIFY, unparsable question",
         cat({hex("12 34 21 00 00 01 00 00 00 00 00 00"), hex("c0 0c 00 06 00 01")}),
         ParseStatus::NotImp, false},
        {"EDNS version 1", query_with_additional(1, hex("00 00 29 10 00 00 01 00 00 00 00")),
         ParseStatus::BadVers, true},

        {"header only (QDCOUNT 0)", hex("12 34 01 00 00 00 00 00 00 00 00 00"),
         ParseStatus::FormErr, false},
        {"QDCOUNT 2",
         cat({hex("12 34 01 00 00 02 00 00 00 00 00 00"), hex(kQname), hex(kTypeA), hex(kQname),
              hex(kTypeA)}),
         ParseStatus::FormErr, false},
        {"QDCOUNT 1 but no question bytes", hex(kHdr), ParseStatus::FormErr, false},
        {"question cut in QTYPE", cat({hex(kHdr), hex(kQname), hex("00 01 00")}),
         ParseStatus::FormErr, false},
        {"ANCOUNT 1",
         cat({hex("12 34 01 00 00 01 00 01 00 00 00 00"), hex(kQname), hex(kTypeA),
              hex("c0 0c 00 01 00 01 00 00 00 3c 00 04 c0 00 02 01")}),
         ParseStatus::FormErr, true},
        {"NSCOUNT 1", cat({hex("12 34 01 00 00 01 00 00 00 01 00 00"), hex(kQname), hex(kTypeA)}),
         ParseStatus::FormErr, true},
        {"pointer loop (qname points to itself)", cat({hex(kHdr), hex("c0 0c"), hex(kTypeA)}),
         ParseStatus::FormErr, false},
        {"pointer loop in additional owner",
         query_with_additional(1, hex("c0 21 00 01 00 01 00 00 00 00 00 00")), ParseStatus::FormErr,
         true},
        {"two-step pointer loop in additional owner",
         // owner at 33: label "a" then a pointer to 37, which points back to 33
         query_with_additional(1, hex("01 61 c0 25 c0 21 00 01 00 01 00 00 00 00 00 00")),
         ParseStatus::FormErr, true},
        {"forward pointer", cat({hex(kHdr), hex("c0 12"), hex(kTypeA), hex("01 61 00")}),
         ParseStatus::FormErr, false},
        {"pointer into the header", cat({hex(kHdr), hex("c0 02"), hex(kTypeA)}),
         ParseStatus::FormErr, false},
        {"pointer out of bounds",
         query_with_additional(1, hex("ff ff 00 01 00 01 00 00 00 00 00 00")), ParseStatus::FormErr,
         true},
        {"pointer cut after first byte", cat({hex(kHdr), hex("03 77 77 77 c0")}),
         ParseStatus::FormErr, false},
        {"label length 64", cat({hex(kHdr), Bytes{64}, long_label(64), hex("00"), hex(kTypeA)}),
         ParseStatus::FormErr, false},
        {"label type 0x80", cat({hex(kHdr), hex("80 61 00"), hex(kTypeA)}), ParseStatus::FormErr,
         false},
        {"label runs past the end", cat({hex(kHdr), hex("3f 61 61")}), ParseStatus::FormErr, false},
        {"name of 256 bytes", cat({hex(kHdr), name256, hex(kTypeA)}), ParseStatus::FormErr, false},
        {"name over 255 through a pointer",
         cat({hex(kHdrAr1), name255, hex(kTypeA),
              hex("01 61 c0 0c 00 01 00 01 00 00 00 00 00 00")}),
         ParseStatus::FormErr, true},
        {"two OPT records", query_with_additional(2, cat({hex(kOpt), hex(kOpt)})),
         ParseStatus::FormErr, true},
        {"OPT not owned by the root",
         query_with_additional(1, hex("01 61 00 00 29 10 00 00 00 00 00 00 00")),
         ParseStatus::FormErr, true},
        {"OPT RDATA shorter than RDLENGTH",
         query_with_additional(1, hex("00 00 29 10 00 00 00 00 00 00 0b 00 08 00 07")),
         ParseStatus::FormErr, true},
        {"option longer than OPT RDATA",
         query_with_additional(1, hex("00 00 29 10 00 00 00 00 00 00 04 00 08 00 07")),
         ParseStatus::FormErr, true},
        {"option header cut inside RDATA",
         query_with_additional(1, hex("00 00 29 10 00 00 00 00 00 00 02 00 08")),
         ParseStatus::FormErr, true},
        {"OPT fixed part cut", query_with_additional(1, hex("00 00 29 10 00 00")),
         ParseStatus::FormErr, true},
        {"ECS family 3", query_with_options(ecs_option(3, 24, 0, hex("c0 00 02"))),
         ParseStatus::FormErr, true},
        {"ECS source 33 for IPv4", query_with_options(ecs_option(1, 33, 0, hex("c0 00 02 01 00"))),
         ParseStatus::FormErr, true},
        {"ECS source 129 for IPv6", query_with_options(ecs_option(2, 129, 0, Bytes(17, 0))),
         ParseStatus::FormErr, true},
        {"ECS address too long for the prefix",
         query_with_options(ecs_option(1, 24, 0, hex("c0 00 02 00"))), ParseStatus::FormErr, true},
        {"ECS address too short for the prefix",
         query_with_options(ecs_option(1, 24, 0, hex("c0 00"))), ParseStatus::FormErr, true},
        {"ECS bits set beyond the source prefix",
         query_with_options(ecs_option(1, 20, 0, hex("c0 00 18"))), ParseStatus::FormErr, true},
        {"ECS nonzero scope", query_with_options(ecs_option(1, 24, 16, hex("c0 00 02"))),
         ParseStatus::FormErr, true},
        {"ECS option shorter than its fixed part",
         query_with_options(cat({u16(kOptionEcs), u16(3), hex("00 01 18")})), ParseStatus::FormErr,
         true},
        {"ECS twice",
         query_with_options(
             cat({ecs_option(1, 24, 0, hex("c0 00 02")), ecs_option(1, 24, 0, hex("c0 00 02"))})),
         ParseStatus::FormErr, true},
        {"additional RDATA past the end",
         query_with_additional(1, hex("00 00 10 00 01 00 00 00 00 00 05 61")), ParseStatus::FormErr,
         true},
        {"ARCOUNT larger than the records present", query_with_additional(2, hex(kOpt)),
         ParseStatus::FormErr, true},
        {"trailing garbage after the question", cat({q0, hex("00")}), ParseStatus::FormErr, true},
        {"trailing garbage after OPT", query_with_additional(1, cat({hex(kOpt), hex("de ad")})),
         ParseStatus::FormErr, true},
    };

    for (const auto& c : cases) {
        INFO(c.what << ": " << to_hex(c.packet));
        Query q;
        const ParseResult r = parse(c.packet, q);
        CHECK(std::string(status_name(r.status)) == status_name(c.status));
        CHECK(r.question_ok == c.question_ok);
        if (r.question_ok) {
            REQUIRE(q.qname_len >= 1);
            CHECK(q.qname[q.qname_len - 1] == 0);
            CHECK(q.question_end <= c.packet.size());
        }
    }
}

TEST_CASE("parse_query: header and question fields") {
    const Bytes pkt =
        cat({hex("be ef 01 10 00 01 00 00 00 00 00 00"), hex(kQnameMixed), hex("00 1c 00 01")});
    Query q;
    const auto r = parse(pkt, q);
    REQUIRE(r.status == ParseStatus::Ok);
    CHECK(q.id == 0xbeef);
    CHECK(q.flags == 0x0110);
    CHECK(q.opcode == 0);
    CHECK(q.qtype == qtype::AAAA);
    CHECK(q.qclass == kClassIN);
    CHECK(q.qname_len == 17);
    CHECK(q.qname_labels == 3);
    CHECK(q.question_end == pkt.size());
    CHECK(Bytes(q.qname.begin(), q.qname.begin() + q.qname_len) == hex(kQnameMixed));
    CHECK(Bytes(q.qname_lower.begin(), q.qname_lower.begin() + q.qname_len) == hex(kQname));
    CHECK_FALSE(q.has_edns);
    CHECK(q.max_udp_response() == 512);
}

TEST_CASE("parse_query: root name has zero labels") {
    Query q;
    REQUIRE(parse(cat({hex(kHdr), hex("00 00 06 00 01")}), q).status == ParseStatus::Ok);
    CHECK(q.qname_len == 1);
    CHECK(q.qname_labels == 0);
    CHECK(q.qtype == qtype::SOA);
}

TEST_CASE("parse_query: EDNS fields and ECS") {
    Query q;
    REQUIRE(parse(query_with_additional(1, hex(kOptEcs)), q).status == ParseStatus::Ok);
    CHECK(q.has_edns);
    CHECK(q.edns_version == 0);
    CHECK(q.do_bit);
    CHECK(q.udp_size == 1232);
    CHECK(q.max_udp_response() == 1232);
    CHECK(q.ecs.present);
    CHECK(q.ecs.family == 1);
    CHECK(q.ecs.source_prefix == 24);
    CHECK(q.ecs.scope_prefix == 0);
    CHECK(q.ecs.addr[0] == 192);
    CHECK(q.ecs.addr[1] == 0);
    CHECK(q.ecs.addr[2] == 2);
    CHECK(q.ecs.addr[3] == 0);

    SECTION("IPv6 address is zero padded") {
        REQUIRE(parse(query_with_options(ecs_option(2, 56, 0, hex("20 01 0d b8 00 01 00"))), q)
                    .status == ParseStatus::Ok);
        CHECK(q.ecs.family == 2);
        CHECK(q.ecs.source_prefix == 56);
        CHECK(q.ecs.addr[3] == 0xb8);
        for (std::size_t i = 7; i < 16; ++i) CHECK(q.ecs.addr[i] == 0);
    }
    SECTION("a reused Query forgets the previous EDNS state") {
        REQUIRE(parse(cat({hex(kHdr), hex(kQname), hex(kTypeA)}), q).status == ParseStatus::Ok);
        CHECK_FALSE(q.has_edns);
        CHECK_FALSE(q.do_bit);
        CHECK_FALSE(q.ecs.present);
        CHECK(q.udp_size == 512);
    }
}

TEST_CASE("parse_query: UDP size below 512 is clamped to 512") {
    Query q;
    REQUIRE(parse(query_with_additional(1, hex("00 00 29 00 64 00 00 00 00 00 00")), q).status ==
            ParseStatus::Ok);
    CHECK(q.has_edns);
    CHECK(q.udp_size == 512);
    CHECK_FALSE(q.do_bit);
}

TEST_CASE("parse_query: BADVERS keeps the question and EDNS basics") {
    Query q;
    const auto r = parse(query_with_additional(1, hex("00 00 29 10 00 00 01 80 00 00 00")), q);
    CHECK(r.status == ParseStatus::BadVers);
    CHECK(r.question_ok);
    CHECK(q.has_edns);
    CHECK(q.edns_version == 1);
    CHECK(q.do_bit);
    CHECK(q.udp_size == 4096);
}

TEST_CASE("parse_query: NOTIMP keeps the opcode and question for the echo") {
    Query q;
    const auto r = parse(
        cat({hex("12 34 21 00 00 01 00 00 00 00 00 00"), hex(kQnameMixed), hex("00 06 00 01")}), q);
    CHECK(r.status == ParseStatus::NotImp);
    REQUIRE(r.question_ok);
    CHECK(q.opcode == 4);
    CHECK(q.qtype == qtype::SOA);
    CHECK(Bytes(q.qname.begin(), q.qname.begin() + q.qname_len) == hex(kQnameMixed));
}

TEST_CASE("lower_name lowers ASCII letters only") {
    const Bytes in = hex("03 41 5a 7a 02 c1 5b 00");  // "AZz" "\xc1[" root
    Bytes out(in.size());
    lower_name(in.data(), out.data(), in.size());
    CHECK(out == hex("03 61 7a 7a 02 c1 5b 00"));
}

namespace {

/// Everything parse_query() promises about `q` after `r`, as text, for comparing two parses.
std::string fields(const ParseResult& r, const Query& q) {
    std::string s = std::string(status_name(r.status)) + (r.question_ok ? " q" : " -");
    if (r.status == ParseStatus::Drop) return s;
    s += " id=" + std::to_string(q.id) + " flags=" + std::to_string(q.flags) +
         " opcode=" + std::to_string(q.opcode);
    if (r.question_ok) {
        s += " type=" + std::to_string(q.qtype) + " class=" + std::to_string(q.qclass) +
             " len=" + std::to_string(q.qname_len) + " labels=" + std::to_string(q.qname_labels) +
             " end=" + std::to_string(q.question_end) + " hash=" + std::to_string(q.qname_hash) +
             " name=" + to_hex(Bytes(q.qname.begin(), q.qname.begin() + q.qname_len)) +
             " lower=" + to_hex(Bytes(q.qname_lower.begin(), q.qname_lower.begin() + q.qname_len));
    }
    if (r.status == ParseStatus::Ok) {
        s += " edns=" + std::to_string(q.has_edns) + " v=" + std::to_string(q.edns_version) +
             " do=" + std::to_string(q.do_bit) + " udp=" + std::to_string(q.udp_size) +
             " ecs=" + std::to_string(q.ecs.present);
        if (q.ecs.present) {
            s += " fam=" + std::to_string(q.ecs.family) +
                 " src=" + std::to_string(q.ecs.source_prefix) +
                 " addr=" + to_hex(Bytes(q.ecs.addr.begin(), q.ecs.addr.end()));
        }
    }
    return s;
}

}  // namespace

TEST_CASE("parse_query: the common-shape fast path agrees with the general reader") {
    const Bytes mixed_long = cat({Bytes{5, 'W', 'w', 'W', '-', 'Z'}, name_of_length(200)});
    const std::vector<Bytes> seeds = {
        hex(std::string(kHdr) + kQname + kTypeA),
        hex(std::string(kHdr) + kQnameMixed + kTypeA),
        hex(std::string(kHdrAr1) + kQname + kTypeA + kOpt),
        hex(std::string(kHdrAr1) + kQnameMixed + kTypeA + kOptEcs),
        query_with_options(cat({u16(kOptionCookie), u16(8), Bytes(8, 0xab)})),
        cat({hex(kHdr), name_of_length(255), hex(kTypeA)}),
        cat({hex(kHdr), mixed_long, hex(kTypeA)}),
        cat({hex(kHdr), Bytes{0}, hex(kTypeA)}),                        // root
        cat({hex(kHdrAr1), Bytes{1, 'A', 0}, hex(kTypeA), hex(kOpt)}),  // 3-byte name
        cat({hex(kHdrAr1), Bytes{4, 'A', 'b', 'C', 'd', 0}, hex(kTypeA), hex(kOpt)}),
    };
    std::size_t packets = 0, fast_ok = 0;
    auto compare = [&](const Bytes& b) {
        Query a, g;
        const ParseResult ra = parse_query({b.data(), b.size()}, a);
        const ParseResult rg = detail::parse_query_general({b.data(), b.size()}, g);
        INFO(to_hex(b));
        REQUIRE(fields(ra, a) == fields(rg, g));
        ++packets;
        if (ra.status == ParseStatus::Ok) ++fast_ok;
    };
    for (const Bytes& seed : seeds) {
        compare(seed);
        for (std::size_t i = 0; i < seed.size(); ++i) {
            for (std::uint8_t v : {std::uint8_t{0}, std::uint8_t{1}, std::uint8_t{0x29},
                                   std::uint8_t{0x3f}, std::uint8_t{0x40}, std::uint8_t{0xc0},
                                   std::uint8_t{0xff}, static_cast<std::uint8_t>(seed[i] + 1)}) {
                Bytes m = seed;
                m[i] = v;
                compare(m);
            }
            compare(Bytes(seed.begin(), seed.begin() + static_cast<long>(i)));  // truncated
        }
        Bytes longer = seed;
        longer.push_back(0);
        compare(longer);  // trailing garbage
    }
    CHECK(packets > 2000);
    CHECK(fast_ok > 100);  // the mutations left plenty of valid packets to compare
}

TEST_CASE("parse_query: a hash for the lower-case name whatever the client's case") {
    Query a, b;
    REQUIRE(parse(hex(std::string(kHdr) + kQname + kTypeA), a).status == ParseStatus::Ok);
    REQUIRE(parse(hex(std::string(kHdr) + kQnameMixed + kTypeA), b).status == ParseStatus::Ok);
    CHECK(a.qname_hash != 0);
    CHECK(a.qname_hash == b.qname_hash);
    CHECK(a.qname_hash == name_hash(a.qname_lower.data(), a.qname_len));
}
