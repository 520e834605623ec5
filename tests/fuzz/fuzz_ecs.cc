// Fuzz target: EDNS options as gslbd reads them, ECS (RFC 7871) above all. The input is
// the payload of one ECS option, put into an otherwise valid query for geo.example.com
// (optionally between a cookie and a padding option); byte 0 picks those, the source
// address and the health state. Checked against an independent reading of RFC 7871 6:
//  - parse_query accepts the query exactly when the option is valid (length >= 4, family
//    1 or 2, source <= 32/128, scope 0, address of ceil(source/8) bytes, no bits set past
//    the source prefix), and then reports the same family, prefix and address;
//  - the pipeline's answer echoes that option (family, source, address) with a scope no
//    larger than the source, 0 when the source address is not trusted; an invalid option
//    gets FORMERR.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "dns/query.hh"
#include "fuzz_common.hh"
#include "pipeline/pipeline.hh"
#include "topology.hh"

using namespace gslbd;

namespace {

using Bytes = std::vector<std::uint8_t>;

void put16(Bytes& b, unsigned v) {
    b.push_back(static_cast<std::uint8_t>(v >> 8));
    b.push_back(static_cast<std::uint8_t>(v));
}

/// RFC 7871 6 read independently of lib/dns.
bool ecs_valid(const std::uint8_t* p, std::size_t n) {
    if (n < 4) return false;
    const unsigned family = fuzz::rd16(p), source = p[2], scope = p[3];
    if (family != 1 && family != 2) return false;
    if (source > (family == 1 ? 32u : 128u) || scope != 0) return false;
    if (n - 4 != (source + 7) / 8) return false;
    for (unsigned bit = source; bit < 8 * (n - 4); ++bit)
        if (p[4 + bit / 8] & (0x80 >> (bit % 8))) return false;
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1 || size > 1 + 200) return 0;
    const std::uint8_t ctl = data[0];
    const std::uint8_t* opt = data + 1;
    const std::size_t optlen = size - 1;
    // The three trusted sources first (ECS trust in tests/fuzz/data/gslbd.yml).
    static const util::IpAddr sources[4] = {
        *util::IpAddr::parse("127.0.0.1"), *util::IpAddr::parse("198.51.100.7"),
        *util::IpAddr::parse("2001:db8::1"), *util::IpAddr::parse("203.0.113.9")};
    const util::IpAddr& src = sources[(ctl >> 2) & 3];
    const bool trusted = ((ctl >> 2) & 3) != 3;

    Bytes q = fuzz::geo_query_with_opt(0x1234);
    Bytes rd;
    if (ctl & 1) {  // a client cookie: skipped by the parser
        put16(rd, 10);
        put16(rd, 8);
        rd.insert(rd.end(), 8, 0xC0);
    }
    put16(rd, 8);
    put16(rd, static_cast<unsigned>(optlen));
    rd.insert(rd.end(), opt, opt + optlen);
    if (ctl & 2) {  // padding
        put16(rd, 12);
        put16(rd, 3);
        rd.insert(rd.end(), 3, 0);
    }
    put16(q, static_cast<unsigned>(rd.size()));
    q.insert(q.end(), rd.begin(), rd.end());

    dns::Query pq;
    const dns::ParseResult r = dns::parse_query(q, pq);
    const bool valid = ecs_valid(opt, optlen);
    FUZZ_CHECK((r.status == dns::ParseStatus::Ok) == valid);
    FUZZ_CHECK(r.status == dns::ParseStatus::Ok || r.status == dns::ParseStatus::FormErr);
    if (valid) {
        FUZZ_CHECK(pq.ecs.present && pq.ecs.family == fuzz::rd16(opt));
        FUZZ_CHECK(pq.ecs.source_prefix == opt[2] && pq.ecs.scope_prefix == 0);
        FUZZ_CHECK(std::memcmp(pq.ecs.addr.data(), opt + 4, optlen - 4) == 0);
        for (std::size_t i = optlen - 4; i < 16; ++i) FUZZ_CHECK(pq.ecs.addr[i] == 0);
    }

    static std::uint8_t out[dns::kMaxMessage];
    pipeline::Pipeline pipe(fuzz::fixed_topology(ctl >> 5), 1, 16, 1024);
    const std::size_t len = pipe.handle(q, src, {out, sizeof out}, false);
    gslb::RcuThread::quiescent();
    FUZZ_CHECK(len >= 12 && len <= 1232);
    const fuzz::Walked w = fuzz::walk_message(out, len);
    FUZZ_CHECK((w.flags & 0x0F) == (valid ? 0 : 1));  // NOERROR or FORMERR
    if (!valid) return 0;
    FUZZ_CHECK(w.opts == 1);
    // The OPT is the last record: find its RDATA from the end.
    const std::size_t ecs_len = 4 + (optlen - 4);
    const std::size_t opt_rd = 4 + ecs_len;
    FUZZ_CHECK(len >= 11 + opt_rd);
    const std::uint8_t* o = out + len - opt_rd;
    FUZZ_CHECK(fuzz::rd16(o - 2) == opt_rd);
    FUZZ_CHECK(fuzz::rd16(o) == 8 && fuzz::rd16(o + 2) == ecs_len);
    FUZZ_CHECK(fuzz::rd16(o + 4) == fuzz::rd16(opt) && o[6] == opt[2]);
    const unsigned scope = o[7];
    FUZZ_CHECK(scope <= opt[2]);
    if (!trusted) FUZZ_CHECK(scope == 0);
    FUZZ_CHECK(std::memcmp(o + 8, opt + 4, optlen - 4) == 0);
    return 0;
}
