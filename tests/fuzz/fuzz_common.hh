#pragma once
/// Shared by the fuzz targets: a check that traps (so libFuzzer and the replay driver both
/// notice), and a walker that reads any DNS message we produced as header + records.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "dns/wire.hh"

#define FUZZ_CHECK(cond)               \
    do {                               \
        if (!(cond)) __builtin_trap(); \
    } while (0)

namespace fuzz {

inline std::uint16_t rd16(const std::uint8_t* p) {
    return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}

/// A query for geo.example.com A with ID `id` and an OPT record (UDP size 1232) up to its
/// RDLENGTH: the caller appends RDLENGTH and the options.
inline std::vector<std::uint8_t> geo_query_with_opt(std::uint16_t id) {
    std::vector<std::uint8_t> q = {static_cast<std::uint8_t>(id >> 8),
                                   static_cast<std::uint8_t>(id),
                                   0x01,
                                   0x00,
                                   0,
                                   1,
                                   0,
                                   0,
                                   0,
                                   0,
                                   0,
                                   1};
    for (const char* l : {"geo", "example", "com"}) {
        q.push_back(static_cast<std::uint8_t>(std::strlen(l)));
        q.insert(q.end(), l, l + std::strlen(l));
    }
    // QTYPE A, QCLASS IN; OPT: root owner, TYPE 41, CLASS 1232, TTL 0
    q.insert(q.end(), {0, 0, 1, 0, 1, 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0});
    return q;
}

struct Walked {
    std::uint16_t id = 0, flags = 0, qd = 0, an = 0, ns = 0, ar = 0;
    unsigned opts = 0;            ///< OPT records seen
    std::uint16_t opt_class = 0;  ///< the OPT's CLASS (advertised size)
    std::uint32_t opt_ttl = 0;    ///< the OPT's TTL (extended RCODE, version, flags)
    std::size_t opt_rdata = 0;    ///< offset of the OPT's RDATA (its options)
    std::uint16_t opt_rdlen = 0;
};

/// Walks a whole response with the wire toolkit's general readers (dns::read_header,
/// skip_question, read_rr: compression pointers only backwards, labels <= 63, names <= 255,
/// RDATA inside the message): header, questions, every record, at most one OPT (root owner,
/// in the additional section), nothing after the last record. Traps on any violation.
inline Walked walk_message(const std::uint8_t* m, std::size_t len) {
    using namespace gslbd::dns;
    Walked w;
    Reader r({m, len});
    Header h;
    FUZZ_CHECK(read_header(r, h));
    w.id = h.id;
    w.flags = h.flags;
    w.qd = h.qdcount;
    w.an = h.ancount;
    w.ns = h.nscount;
    w.ar = h.arcount;
    for (unsigned i = 0; i < w.qd; ++i) FUZZ_CHECK(skip_question(r));
    const unsigned total = 0u + w.an + w.ns + w.ar;
    for (unsigned i = 0; i < total; ++i) {
        std::uint8_t owner[kMaxNameWire];
        RrInfo rr;
        const std::size_t owner_len = read_rr(r, owner, rr);
        FUZZ_CHECK(owner_len != 0);
        if (rr.type == qtype::OPT) {
            ++w.opts;
            FUZZ_CHECK(i >= 0u + w.an + w.ns);  // additional section only
            FUZZ_CHECK(owner_len == 1);
            w.opt_class = rr.rclass;
            w.opt_ttl = rr.ttl;
            w.opt_rdata = rr.rdata;
            w.opt_rdlen = rr.rdlength;
        }
    }
    FUZZ_CHECK(r.ok() && r.pos() == len);
    FUZZ_CHECK(w.opts <= 1);
    return w;
}

}  // namespace fuzz
