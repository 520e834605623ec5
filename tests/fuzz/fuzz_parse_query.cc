// Fuzz target: dns::parse_query on arbitrary bytes, differentially against the general
// parser it falls back to (the fast path must fill the Query exactly as the general one
// would), and, whenever it yields something to answer, a response built with
// dns::ResponseWriter. Any broken invariant traps, so libFuzzer (clang) and the replay
// driver (every compiler) both notice.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "dns/query.hh"
#include "dns/response.hh"
#include "fuzz_common.hh"

using namespace gslbd::dns;
using fuzz::rd16;

namespace {

/// Outcomes over the whole run, so a replay that never reaches both accepted and rejected
/// inputs fails instead of passing without testing much.
unsigned long g_by_status[5];

/// The fast path and the general parser agree on every field a later stage reads.
void check_same(const Query& a, const Query& b, ParseResult ra, ParseResult rb) {
    FUZZ_CHECK(ra.status == rb.status && ra.question_ok == rb.question_ok);
    if (ra.status == ParseStatus::Drop) return;
    FUZZ_CHECK(a.id == b.id && a.flags == b.flags && a.opcode == b.opcode);
    if (ra.question_ok) {
        FUZZ_CHECK(a.qtype == b.qtype && a.qclass == b.qclass);
        FUZZ_CHECK(a.qname_len == b.qname_len && a.qname_labels == b.qname_labels);
        FUZZ_CHECK(std::memcmp(a.qname.data(), b.qname.data(), a.qname_len) == 0);
        FUZZ_CHECK(std::memcmp(a.qname_lower.data(), b.qname_lower.data(), a.qname_len) == 0);
        FUZZ_CHECK(a.qname_hash == b.qname_hash && a.qname_hash != 0);
        FUZZ_CHECK(a.qname_hash == name_hash(a.qname_lower.data(), a.qname_len));
        FUZZ_CHECK(a.question_end == b.question_end);
    }
    if (ra.status != ParseStatus::Ok && ra.status != ParseStatus::BadVers) return;
    FUZZ_CHECK(a.has_edns == b.has_edns && a.edns_version == b.edns_version);
    FUZZ_CHECK(a.do_bit == b.do_bit && a.udp_size == b.udp_size);
    FUZZ_CHECK(a.ecs.present == b.ecs.present);
    if (a.ecs.present) {
        FUZZ_CHECK(a.ecs.family == b.ecs.family && a.ecs.source_prefix == b.ecs.source_prefix);
        FUZZ_CHECK(a.ecs.scope_prefix == b.ecs.scope_prefix && a.ecs.addr == b.ecs.addr);
    }
}

/// Length of an uncompressed wire name at `p` (no pointers allowed), 0 if malformed.
std::size_t plain_name(const std::uint8_t* p, std::size_t avail) {
    std::size_t i = 0;
    while (i < avail) {
        const std::uint8_t l = p[i];
        if (l == 0) return i + 1 <= kMaxNameWire ? i + 1 : 0;
        if (l > kMaxLabel) return 0;
        i += 1u + l;
    }
    return 0;
}

/// Walks a response we built and checks it is well formed: counts match the records,
/// owners are plain names or the pointer to offset 12, RDATA lengths stay inside, an OPT
/// appears at most once and last, nothing follows the last record.
void check_response(const std::uint8_t* m, std::size_t len, const Query& q, bool question,
                    const ResponseWriter& w, bool want_opt) {
    FUZZ_CHECK(len >= kHeaderSize);
    const std::uint16_t flags = rd16(m + 2);
    FUZZ_CHECK(rd16(m) == q.id);
    FUZZ_CHECK(flags & flag::QR);
    FUZZ_CHECK(((flags & flag::TC) != 0) == w.truncated());
    const std::uint16_t qd = rd16(m + 4), an = rd16(m + 6), ns = rd16(m + 8), ar = rd16(m + 10);
    FUZZ_CHECK(qd == (question ? 1 : 0));
    FUZZ_CHECK(an == w.count(Section::Answer));
    FUZZ_CHECK(ns == w.count(Section::Authority));
    FUZZ_CHECK(ar == w.count(Section::Additional) + (want_opt ? 1 : 0));
    if (w.truncated()) FUZZ_CHECK(an == 0 && ns == 0 && ar == (want_opt ? 1 : 0));
    std::size_t pos = kHeaderSize;
    if (question) {
        const std::size_t n = plain_name(m + pos, len - pos);
        FUZZ_CHECK(n == q.qname_len);
        FUZZ_CHECK(std::memcmp(m + pos, q.qname.data(), n) == 0);  // case preserved
        pos += n;
        FUZZ_CHECK(len - pos >= 4);
        FUZZ_CHECK(rd16(m + pos) == q.qtype && rd16(m + pos + 2) == q.qclass);
        pos += 4;
    }
    const unsigned total = an + ns + ar;
    unsigned opts = 0;
    for (unsigned i = 0; i < total; ++i) {
        FUZZ_CHECK(pos < len);
        if ((m[pos] & 0xC0) == 0xC0) {
            FUZZ_CHECK(len - pos >= 2 && rd16(m + pos) == 0xC00C && question);
            pos += 2;
        } else {
            const std::size_t n = plain_name(m + pos, len - pos);
            FUZZ_CHECK(n != 0);
            pos += n;
        }
        FUZZ_CHECK(len - pos >= 10);
        const std::uint16_t type = rd16(m + pos);
        const std::uint16_t rdlen = rd16(m + pos + 8);
        pos += 10;
        FUZZ_CHECK(len - pos >= rdlen);
        if (type == qtype::OPT) {
            ++opts;
            FUZZ_CHECK(i == total - 1);
            FUZZ_CHECK(m[pos - 11] == 0);  // root owner
        }
        pos += rdlen;
    }
    FUZZ_CHECK(pos == len);
    FUZZ_CHECK(opts == (want_opt ? 1u : 0u));
}

void check_query(const std::uint8_t* data, std::size_t size, const Query& q, ParseResult r) {
    if (size < kHeaderSize) FUZZ_CHECK(r.status == ParseStatus::Drop);
    if (r.question_ok) {
        FUZZ_CHECK(q.qname_len >= 1 && q.qname_len <= kMaxNameWire);
        FUZZ_CHECK(q.qname[q.qname_len - 1] == 0);
        FUZZ_CHECK(plain_name(q.qname.data(), q.qname_len) == q.qname_len);
        FUZZ_CHECK(q.question_end <= size);
        std::uint8_t low[kMaxNameWire];
        lower_name(q.qname.data(), low, q.qname_len);
        FUZZ_CHECK(std::memcmp(low, q.qname_lower.data(), q.qname_len) == 0);
    }
    if (r.status == ParseStatus::Ok || r.status == ParseStatus::BadVers) FUZZ_CHECK(r.question_ok);
    if (r.status == ParseStatus::BadVers) FUZZ_CHECK(q.has_edns && q.edns_version != 0);
    if (q.has_edns) FUZZ_CHECK(q.udp_size >= kMinUdpSize);
    if (r.status == ParseStatus::Ok) {
        FUZZ_CHECK(q.opcode == 0 && (q.flags & flag::QR) == 0);
        FUZZ_CHECK(q.edns_version == 0);
        if (q.ecs.present) {
            const unsigned max = q.ecs.family == 1 ? 32 : 128;
            FUZZ_CHECK(q.ecs.family == 1 || q.ecs.family == 2);
            FUZZ_CHECK(q.ecs.source_prefix <= max && q.ecs.scope_prefix == 0);
            for (unsigned bit = q.ecs.source_prefix; bit < 128; ++bit)
                FUZZ_CHECK(((q.ecs.addr[bit / 8] >> (7 - bit % 8)) & 1) == 0);
        }
    }
    // The general parser on a dirty Query: same outcome, same fields.
    {
        Query g;
        std::memset(static_cast<void*>(&g), 0x5A, sizeof g);
        check_same(q, g, r, detail::parse_query_general({data, size}, g));
    }
    // Parsing is a pure function of the bytes: a dirty Query gives the same answer.
    Query again;
    std::memset(static_cast<void*>(&again), 0xA5, sizeof again);
    const ParseResult r2 = parse_query({data, size}, again);
    FUZZ_CHECK(r2.status == r.status && r2.question_ok == r.question_ok);
    FUZZ_CHECK(again.has_edns == q.has_edns && again.ecs.present == q.ecs.present);
    if (r.question_ok)
        FUZZ_CHECK(std::memcmp(again.qname.data(), q.qname.data(), q.qname_len) == 0);
}

struct Built {
    std::size_t len;
    bool truncated;
    unsigned rrs;
};

Built build_and_check(const std::uint8_t* data, std::size_t size, const Query& q, ParseResult r,
                      std::size_t limit) {
    static std::uint8_t buf[kMaxMessage + 1];  // one guard byte past the writer's span
    static const std::uint8_t zone[] = {7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0};
    static const std::uint8_t ns1[] = {3,   'n', 's', '1', 7,   'e', 'x', 'a', 'm',
                                       'p', 'l', 'e', 3,   'c', 'o', 'm', 0};
    const std::uint8_t a[4] = {192, 0, 2, 1};
    const std::uint8_t aaaa[16] = {0x20, 0x01, 0x0d, 0xb8};
    std::memset(buf, 0xEE, sizeof buf);
    ResponseWriter w({buf, kMaxMessage}, limit);
    const bool question = r.question_ok;
    if (question) {
        w.begin(q, rcode_for(r.status), r.status == ParseStatus::Ok);
    } else {
        w.begin_header_only(q.id, q.flags, Rcode::FormErr);
    }
    // A hash of the input steers how much we write, so every mutation can reach truncation.
    std::uint32_t h = 2166136261u;  // FNV-1a
    for (std::size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 16777619u;
    const std::size_t rrs = h % 64;
    if (r.status == ParseStatus::Ok) {
        const NameRef owner =
            q.qname_len > 1 ? NameRef::qname() : NameRef::of({q.qname_lower.data(), q.qname_len});
        for (std::size_t i = 0; i < rrs; ++i) {
            switch (i % 4) {
                case 0:
                    w.add_a(Section::Answer, owner, 60, a);
                    break;
                case 1:
                    w.add_aaaa(Section::Answer, owner, 60, aaaa);
                    break;
                case 2:
                    w.add_txt(Section::Answer, owner, 60,
                              std::string_view(reinterpret_cast<const char*>(data), size));
                    break;
                case 3:
                    w.add_cname(Section::Answer, owner, 60, NameRef::of(zone));
                    break;
            }
        }
        const SoaData soa{zone, ns1, 1, 2, 3, 4, 5};
        w.add_soa(Section::Authority, NameRef::of(zone), 300, soa);
        w.add_ns(Section::Authority, NameRef::of(zone), 300, NameRef::of(ns1));
        w.add_hinfo_rfc8482(Section::Additional, NameRef::qname(), 1);
        FUZZ_CHECK(!w.add_a(Section::Answer, owner, 60, a));  // out of order: refused
        // Without set_opt() the writer still owes the OPT that begin() reserved.
        if (h & 0x10000)
            w.set_opt(1232, q.do_bit, q.ecs.present ? &q.ecs : nullptr,
                      static_cast<std::uint8_t>(h >> 8));
    } else if (q.has_edns) {
        w.set_opt(1232, q.do_bit, nullptr, 0);
    }
    const std::size_t len = w.finish();
    FUZZ_CHECK(len > 0 && len <= kMaxMessage);
    const std::size_t eff_limit = limit < kMinUdpSize ? kMinUdpSize : limit;
    FUZZ_CHECK(len <= eff_limit);
    FUZZ_CHECK(buf[eff_limit] == 0xEE);  // nothing written past the limit
    FUZZ_CHECK(w.finish() == len);
    check_response(buf, len, q, question, w, q.has_edns);
    if (w.truncated()) {
        // Exactly header, question and OPT remain.
        const bool ecs_echoed = r.status == ParseStatus::Ok && q.ecs.present;
        const std::size_t opt =
            q.has_edns ? 11 + (ecs_echoed ? 8 + (q.ecs.source_prefix + 7u) / 8u : 0) : 0;
        FUZZ_CHECK(len == kHeaderSize + (question ? q.qname_len + 4u : 0u) + opt);
    }
    // The OPT carries BADVERS in its TTL's top byte; the header keeps RCODE 0.
    if (r.status == ParseStatus::BadVers) {
        FUZZ_CHECK((buf[3] & 0x0F) == 0);
        FUZZ_CHECK(buf[len - 11 + 5] == 1);
    }
    return {
        len, w.truncated(),
        0u + w.count(Section::Answer) + w.count(Section::Authority) + w.count(Section::Additional)};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Query q;
    const ParseResult r = parse_query({data, size}, q);
    check_query(data, size, q, r);
    ++g_by_status[static_cast<unsigned>(r.status)];
    if (r.status == ParseStatus::Drop) return 0;
    build_and_check(data, size, q, r, q.max_udp_response());
    const Built tcp = build_and_check(data, size, q, r, kMaxMessage);
    if (!tcp.truncated && tcp.rrs > 0 && tcp.len > kMinUdpSize) {
        // The same answer with the limit at its exact size fits; one byte less truncates
        // (this is what makes the OPT reservation honest).
        const Built exact = build_and_check(data, size, q, r, tcp.len);
        FUZZ_CHECK(!exact.truncated && exact.len == tcp.len);
        const Built below = build_and_check(data, size, q, r, tcp.len - 1);
        FUZZ_CHECK(below.truncated && below.len < tcp.len);
    }
    return 0;
}

extern "C" int FuzzReplaySummary(unsigned long inputs) {
    std::printf("%lu inputs: Ok %lu, Drop %lu, FormErr %lu, NotImp %lu, BadVers %lu\n", inputs,
                g_by_status[0], g_by_status[1], g_by_status[2], g_by_status[3], g_by_status[4]);
    if (g_by_status[0] == 0 || g_by_status[1] == 0 || g_by_status[2] == 0) {
        std::fprintf(stderr, "replay did not reach accepted, dropped and rejected inputs\n");
        return 1;
    }
    return 0;
}
