// Fuzz target: the EDNS COOKIE option (RFC 7873, server cookies as RFC 9018 makes them), as
// the parser and the edge guard read it. The input is a control part and the payload of one
// COOKIE option in an otherwise valid query for geo.example.com:
//   byte 0: bits 0-1 the config (tests/fuzz/data: no cookies, cookies, cookies enforced),
//           bit 2 TCP, bits 3-4 the source address, bit 5 "forge": replace the server part by
//           a real server cookie for this client, source and time (so the valid path is
//           reached), bit 6 forge it under the previous secret, bit 7 then flip one bit of it;
//   bytes 1-2: the forged cookie's age in seconds (signed), byte 3: which bit to flip;
//   the rest: the option payload (client cookie, then the server cookie).
// Checked against an independent reading of RFC 7873 / RFC 9018:
//  - a payload of 8 or 16..40 bytes parses and is kept exactly; any other length is FORMERR,
//    whatever the configuration;
//  - without cookies configured, the answer carries no COOKIE option;
//  - with cookies, a server cookie counts as valid exactly when it is the 16-byte version 1
//    cookie one of the two secrets makes for this client cookie, source and its own
//    timestamp, no older than an hour and no more than five minutes ahead;
//  - enforced, a UDP query without a valid one gets BADCOOKIE (extended RCODE 23) and no
//    answer; otherwise the answer is NOERROR;
//  - every answer to a query with a cookie echoes the client cookie with a fresh server
//    cookie that is itself valid; every response walks as a DNS message inside its limit.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <vector>

#include "dns/query.hh"
#include "edge/cookie.hh"
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

// The secrets of tests/fuzz/data/cookies.yml and cookies-enforce.yml.
constexpr std::uint8_t kCurrent[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
constexpr std::uint8_t kPrevious[16] = {0xf0, 0xe0, 0xd0, 0xc0, 0xb0, 0xa0, 0x90, 0x80,
                                        0x70, 0x60, 0x50, 0x40, 0x30, 0x20, 0x10, 0x00};

std::uint32_t wall_now() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);  // the clock the pipeline reads
    return static_cast<std::uint32_t>(ts.tv_sec);
}

/// RFC 9018 4: the cookie this server would have made at the cookie's own timestamp under
/// either secret, and that timestamp within an hour back and five minutes ahead of `now`.
bool cookie_valid(const std::uint8_t* client, const std::uint8_t* server, std::size_t len,
                  const util::IpAddr& src, std::uint32_t now) {
    if (len != 16) return false;
    const std::uint32_t ts = std::uint32_t{server[4]} << 24 | std::uint32_t{server[5]} << 16 |
                             std::uint32_t{server[6]} << 8 | server[7];
    const auto age = static_cast<std::int32_t>(now - ts);
    if (age > 3600 || age < -300) return false;
    for (const std::uint8_t* key : {kCurrent, kPrevious}) {
        std::uint8_t mine[16];
        edge::make_server_cookie(key, client, src, ts, mine);
        if (std::memcmp(mine, server, 16) == 0) return true;
    }
    return false;
}

/// The COOKIE option in the OPT RDATA at `rd` (`n` bytes), or null; its length in `len`.
const std::uint8_t* find_cookie(const std::uint8_t* rd, std::size_t n, std::size_t& len) {
    std::size_t i = 0;
    while (i + 4 <= n) {
        const unsigned code = fuzz::rd16(rd + i), olen = fuzz::rd16(rd + i + 2);
        FUZZ_CHECK(i + 4 + olen <= n);
        if (code == 10) {
            len = olen;
            return rd + i + 4;
        }
        i += 4 + olen;
    }
    FUZZ_CHECK(i == n);
    return nullptr;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 4 || size > 4 + 64) return 0;
    const std::uint8_t ctl = data[0];
    const auto variant = static_cast<fuzz::Variant>((ctl & 3) == 3 ? 1 : ctl & 3);
    const bool cookies = variant != fuzz::Variant::Plain;
    const bool enforce = variant == fuzz::Variant::CookiesEnforce;
    const bool tcp = ctl & 4;
    static const util::IpAddr sources[4] = {
        *util::IpAddr::parse("127.0.0.1"), *util::IpAddr::parse("198.51.100.7"),
        *util::IpAddr::parse("2001:db8::1"), *util::IpAddr::parse("203.0.113.9")};
    const util::IpAddr& src = sources[(ctl >> 3) & 3];
    const auto age = static_cast<std::int16_t>(fuzz::rd16(data + 1));

    Bytes opt(data + 4, data + size);
    const std::uint32_t t0 = wall_now();
    if ((ctl & 0x20) && opt.size() >= 8) {
        opt.resize(24);
        edge::make_server_cookie((ctl & 0x40) ? kPrevious : kCurrent, opt.data(), src,
                                 t0 - static_cast<std::uint32_t>(std::int32_t{age}),
                                 opt.data() + 8);
        if (ctl & 0x80)
            opt[8 + data[3] % 128 / 8] ^= static_cast<std::uint8_t>(1u << (data[3] % 8));
    }
    const std::size_t optlen = opt.size();
    const bool well_formed = optlen == 8 || (optlen >= 16 && optlen <= 40);

    Bytes q = fuzz::geo_query_with_opt(0x4321);
    put16(q, static_cast<unsigned>(4 + optlen));
    put16(q, 10);
    put16(q, static_cast<unsigned>(optlen));
    q.insert(q.end(), opt.begin(), opt.end());

    dns::Query pq;
    const dns::ParseResult r = dns::parse_query(q, pq);
    FUZZ_CHECK(r.status == (well_formed ? dns::ParseStatus::Ok : dns::ParseStatus::FormErr));
    if (well_formed)
        FUZZ_CHECK(pq.cookie_len == optlen &&
                   std::memcmp(pq.cookie.data(), opt.data(), optlen) == 0);

    static std::uint8_t out[dns::kMaxMessage];
    pipeline::Pipeline pipe(fuzz::fixed_topology(0, variant), 1, 16, 1024);
    const std::size_t len = pipe.handle(q, src, {out, sizeof out}, tcp);
    gslb::RcuThread::quiescent();
    const std::uint32_t t1 = wall_now();
    FUZZ_CHECK(len >= 12 && len <= (tcp ? dns::kMaxMessage : 1232));
    const fuzz::Walked w = fuzz::walk_message(out, len);
    FUZZ_CHECK(w.id == 0x4321 && w.qd == 1 && w.opts == 1);
    const unsigned rcode = (w.flags & 0x0F) | (w.opt_ttl >> 24) << 4;
    if (!well_formed) {
        FUZZ_CHECK(rcode == 1);  // FORMERR
        return 0;
    }

    std::size_t clen = 0;
    const std::uint8_t* c = find_cookie(out + w.opt_rdata, w.opt_rdlen, clen);
    if (!cookies) {
        FUZZ_CHECK(c == nullptr && rcode == 0 && w.an > 0);
        return 0;
    }
    const edge::Counters& n = pipe.edge_counters();
    FUZZ_CHECK(n.cookie_queries == 1);
    // At a second boundary the pipeline's clock may read t0 or t1: judge only when both agree.
    const bool v0 = cookie_valid(opt.data(), opt.data() + 8, optlen - 8, src, t0);
    const bool v1 = cookie_valid(opt.data(), opt.data() + 8, optlen - 8, src, t1);
    if (v0 == v1) {
        FUZZ_CHECK(n.cookie_valid == (v0 ? 1u : 0u));
        const bool bad = enforce && !v0 && !tcp;
        FUZZ_CHECK(rcode == (bad ? 23u : 0u));
        FUZZ_CHECK(bad ? w.an == 0 : w.an > 0);
    }
    // The fresh cookie: our client cookie, then a valid server cookie of the current secret.
    FUZZ_CHECK(c != nullptr && clen == 24 && std::memcmp(c, opt.data(), 8) == 0);
    const std::uint32_t ts =
        std::uint32_t{c[12]} << 24 | std::uint32_t{c[13]} << 16 | std::uint32_t{c[14]} << 8 | c[15];
    FUZZ_CHECK(ts == t0 || ts == t1);
    std::uint8_t mine[16];
    edge::make_server_cookie(kCurrent, c, src, ts, mine);
    FUZZ_CHECK(std::memcmp(mine, c + 8, 16) == 0);
    return 0;
}
