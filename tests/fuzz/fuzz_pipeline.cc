// Fuzz target: the whole per-packet path (pipeline::Pipeline::handle: parse, ECS, engine,
// cache, build) on arbitrary messages against a fixed topology (topology.hh). Every
// response must be a well-formed message (header, question, records, one OPT at most,
// nothing after), answer the query's ID and question, and fit the client's size limit
// (UDP: its EDNS size clamped to 512..our 1232; TCP: 65535); nothing may be written past
// that limit. Each message is handled twice, so the second answer may come from the cache.
//
// Input: byte 0 picks the transport (bit 0: TCP), the health state (bits 1-2) and the
// source address (bits 3-5); the rest is the DNS message.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "dns/query.hh"
#include "fuzz_common.hh"
#include "pipeline/pipeline.hh"
#include "topology.hh"

using namespace gslbd;

namespace {

const util::IpAddr& source(unsigned i) {
    static const util::IpAddr sources[8] = {
        *util::IpAddr::parse("127.0.0.1"),       *util::IpAddr::parse("198.51.100.7"),
        *util::IpAddr::parse("198.51.100.200"),  *util::IpAddr::parse("203.0.113.9"),
        *util::IpAddr::parse("2001:db8:100::1"), *util::IpAddr::parse("::1"),
        *util::IpAddr::parse("192.0.2.99"),      *util::IpAddr::parse("2001:db8:ffff::2"),
    };
    return sources[i % 8];
}

void check(const std::uint8_t* msg, std::size_t size, const std::uint8_t* out, std::size_t len,
           bool tcp) {
    dns::Query q;
    const dns::ParseResult r = dns::parse_query({msg, size}, q);
    if (r.status == dns::ParseStatus::Drop) {
        FUZZ_CHECK(len == 0);
        return;
    }
    FUZZ_CHECK(len != 0);
    const std::size_t limit =
        tcp ? dns::kMaxMessage
            : std::max(dns::kMinUdpSize, std::min<std::size_t>(q.max_udp_response(), 1232));
    FUZZ_CHECK(len <= limit);
    for (std::size_t i = limit; i < std::min(limit + 64, dns::kMaxMessage + 64); ++i)
        FUZZ_CHECK(out[i] == 0xEE);  // nothing written past the limit
    const fuzz::Walked w = fuzz::walk_message(out, len);
    FUZZ_CHECK(w.id == q.id);
    FUZZ_CHECK(w.flags & dns::flag::QR);
    FUZZ_CHECK(((w.flags >> 11) & 0x0F) == q.opcode);
    if (tcp) FUZZ_CHECK((w.flags & dns::flag::TC) == 0);
    if (w.flags & dns::flag::TC) FUZZ_CHECK(w.an == 0 && w.ns == 0);
    if (r.question_ok) {
        FUZZ_CHECK(w.qd == 1);
        FUZZ_CHECK(len >= 12u + q.qname_len + 4u);
        FUZZ_CHECK(std::memcmp(out + 12, q.qname.data(), q.qname_len) == 0);  // case kept
        FUZZ_CHECK(fuzz::rd16(out + 12 + q.qname_len) == q.qtype);
        FUZZ_CHECK(fuzz::rd16(out + 14 + q.qname_len) == q.qclass);
    } else {
        FUZZ_CHECK(w.qd == 0);
    }
    if (r.status == dns::ParseStatus::Ok || r.status == dns::ParseStatus::BadVers) {
        FUZZ_CHECK(w.opts == (q.has_edns ? 1u : 0u));
        if (w.opts) FUZZ_CHECK(w.opt_class == 1232);
    }
    if (!q.has_edns) FUZZ_CHECK(w.opts == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    static std::uint8_t out[dns::kMaxMessage + 64];
    const bool tcp = data[0] & 1;
    const auto& holder = fuzz::fixed_topology((data[0] >> 1) & 3);
    const util::IpAddr& src = source(data[0] >> 3);
    const std::uint8_t* msg = data + 1;
    const std::size_t msize = size - 1;
    // A fresh pipeline per input (small cache) keeps every run reproducible from its input.
    pipeline::Pipeline pipe(holder, 1, 16, 1024);
    for (int round = 0; round < 2; ++round) {
        std::memset(out, 0xEE, sizeof out);
        const std::size_t len = pipe.handle({msg, msize}, src, {out, dns::kMaxMessage}, tcp);
        check(msg, msize, out, len, tcp);
        gslb::RcuThread::quiescent();
    }
    const auto& c = pipe.counters();
    FUZZ_CHECK(c.queries == 2 && c.responses + c.dropped == 2);
    return 0;
}
