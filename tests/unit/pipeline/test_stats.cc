// The one summing function for pipeline counters (add_relaxed), and answering in place
// (query and response in one buffer, as the DPDK backend does in the mbuf).
#include <catch2/catch.hpp>
#include <cstddef>
#include <cstring>
#include <thread>
#include <vector>

#include "../gslb/fixture.hh"
#include "pipeline/pipeline.hh"

using namespace gslbd;

namespace {

template <class T>
constexpr std::size_t words(std::size_t end) {
    static_assert(std::is_standard_layout_v<T>);
    return end / sizeof(std::uint64_t);
}
// Counters hold nothing but 64-bit counters; these are the used bytes before the padding.
constexpr std::size_t kPipelineWords = words<pipeline::Counters>(
    offsetof(pipeline::Counters, by_qtype) + sizeof(pipeline::Counters::by_qtype));
constexpr std::size_t kCacheWords =
    words<cache::Counters>(offsetof(cache::Counters, uncacheable) + sizeof(std::uint64_t));

template <class T>
void fill(T& c, std::size_t n, std::uint64_t base) {
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint64_t v = base + i;
        std::memcpy(reinterpret_cast<unsigned char*>(&c) + i * 8, &v, 8);
    }
}

template <class T>
std::vector<std::uint64_t> values(const T& c, std::size_t n) {
    std::vector<std::uint64_t> v(n);
    std::memcpy(v.data(), &c, n * 8);
    return v;
}

std::vector<std::uint8_t> query(const std::string& name, std::uint16_t qtype, bool edns,
                                std::uint16_t flags = 0x0100) {
    std::vector<std::uint8_t> p;
    auto u16 = [&p](unsigned v) {
        p.push_back(static_cast<std::uint8_t>(v >> 8));
        p.push_back(static_cast<std::uint8_t>(v));
    };
    u16(0x1234);
    u16(flags);
    u16(1);
    u16(0);
    u16(0);
    u16(edns ? 1 : 0);
    const auto n = testdns::encode_name(name);
    p.insert(p.end(), n.begin(), n.end());
    u16(qtype);
    u16(1);
    if (edns) {  // OPT with ECS 192.0.2.0/24
        p.push_back(0);
        u16(41);
        u16(1232);
        u16(0);
        u16(0);
        u16(11);
        u16(8);
        u16(7);
        u16(1);
        p.push_back(24);
        p.push_back(0);
        p.insert(p.end(), {192, 0, 2});
    }
    return p;
}

/// The first publish into `holder`: nothing to retire, so no grace period to wait for.
void publish(gslb::SnapshotHolder& holder) {
    auto cfg = std::make_shared<config::Config>();
    auto z = fixture::zone("example.com.");
    z.ns.push_back({"ns1.example.com.", {fixture::ip("192.0.2.53")}});
    z.records.push_back(
        fixture::record("www.example.com.", kTestAll,
                        {fixture::backend("192.0.2.10"), fixture::backend("2001:db8::10")}));
    cfg->zones.push_back(z);
    auto s = std::make_unique<gslb::Snapshot>();
    s->generation = 1;
    s->topo = gslb::build_topology(std::move(cfg), nullptr);
    s->health = gslb::all_up(*s->topo);
    holder.publish(std::move(s));
}

}  // namespace

TEST_CASE("add_relaxed sums every pipeline and cache counter, queries by type included") {
    REQUIRE(kPipelineWords == 15 + pipeline::kQtypeSlots);
    pipeline::Counters from, into;
    fill(from, kPipelineWords, 1000);
    fill(into, kPipelineWords, 1);
    pipeline::add_relaxed(into, from);
    const auto got = values(into, kPipelineWords);
    for (std::size_t i = 0; i < kPipelineWords; ++i) CHECK(got[i] == 1001 + 2 * i);

    REQUIRE(kCacheWords == 7);
    cache::Counters cf, ci;
    fill(cf, kCacheWords, 50);
    pipeline::add_relaxed(ci, cf);
    pipeline::add_relaxed(ci, cf);
    const auto cgot = values(ci, kCacheWords);
    for (std::size_t i = 0; i < kCacheWords; ++i) CHECK(cgot[i] == 2 * (50 + i));
}

TEST_CASE("a query answered in place gives the same bytes as in a separate buffer") {
    gslb::SnapshotHolder holder;
    publish(holder);
    const util::IpAddr src = fixture::ip("198.51.100.7");
    const std::vector<std::vector<std::uint8_t>> queries = {
        query("WWW.example.com.", 1, false),          // answer, client's letter case
        query("www.example.com.", 28, true),          // EDNS + ECS echoed with a scope
        query("nope.example.com.", 1, true),          // NXDOMAIN with the SOA
        query("www.example.com.", 1, false, 0x2900),  // opcode 5: NOTIMP
    };
    // The query at `shift` bytes after the response's start: 0 as for most frames, 4 as
    // for an IPv4 query with options (the reply's header is shorter).
    const std::size_t cache_entries = GENERATE(std::size_t{0}, std::size_t{1024});
    const std::size_t shift = GENERATE(std::size_t{0}, std::size_t{4});
    pipeline::Pipeline apart(holder, 7, cache_entries, 256);
    pipeline::Pipeline in_place(holder, 7, cache_entries, 256);
    // Answered on a reader thread of its own (this one may be registered by another test).
    std::vector<std::vector<std::uint8_t>> want, got;
    std::thread([&] {
        gslb::RcuThread reader;
        for (int round = 0; round < 2; ++round) {  // with a cache: a miss, then a hit
            for (const auto& q : queries) {
                std::vector<std::uint8_t> out(1500);
                out.resize(apart.handle(q, src, out, false));
                want.push_back(out);

                std::vector<std::uint8_t> buf(1500 + shift);
                std::memcpy(buf.data() + shift, q.data(), q.size());
                buf.resize(in_place.handle({buf.data() + shift, q.size()}, src, {buf.data(), 1500},
                                           false));
                got.push_back(buf);
                gslb::RcuThread::quiescent();
            }
        }
    }).join();
    REQUIRE(want.size() == 2 * queries.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
        CHECK(want[i].size() > 12);
        CHECK(got[i] == want[i]);
    }
    pipeline::Counters a, b;
    pipeline::add_relaxed(a, apart.counters());
    pipeline::add_relaxed(b, in_place.counters());
    CHECK(a.queries == b.queries);
    CHECK(a.by_qtype == b.by_qtype);
}
