// lib/cache on its own: keys, collisions, eviction, generations, expiry, the wire patch.
#include <catch2/catch.hpp>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "../gslb/decode.hh"
#include "cache/cache.hh"
#include "dns/query.hh"

using namespace gslbd;

namespace {

/// A key over its own name storage.
struct OwnedKey {
    std::vector<std::uint8_t> name;
    cache::Key key;
    explicit OwnedKey(const std::string& text, std::uint16_t qtype = 1, std::uint32_t cls = 0,
                      std::uint32_t variant = 0) {
        name = testdns::encode_name(text);
        key.qname = name.data();
        key.qname_len = static_cast<std::uint8_t>(name.size());
        key.qtype = qtype;
        key.qclass = 1;
        key.decision_class = cls;
        key.variant = variant;
    }
    OwnedKey(const OwnedKey& o) : name(o.name), key(o.key) { key.qname = name.data(); }
};

/// One A RR (owner = pointer to the question) with `ttl` and address 192.0.2.`last`.
std::vector<std::uint8_t> a_rr(std::uint32_t ttl, std::uint8_t last) {
    return {0xC0, 0x0C, 0, 1, 0, 1, static_cast<std::uint8_t>(ttl >> 24),
            static_cast<std::uint8_t>(ttl >> 16), static_cast<std::uint8_t>(ttl >> 8),
            static_cast<std::uint8_t>(ttl), 0, 4, 192, 0, 2, last};
}

cache::Answer answer_of(const std::vector<std::uint8_t>& rrs, std::uint16_t n = 1) {
    cache::Answer a;
    a.flags = dns::flag::QR | dns::flag::AA;
    a.counts[0] = n;
    a.rrs = rrs;
    return a;
}

std::uint8_t last_byte(const cache::Answer& a) { return a.rrs.empty() ? 0 : a.rrs.back(); }

}  // namespace

TEST_CASE("a hit needs every key field equal", "[cache]") {
    cache::Cache c(1024, 256, 42);
    OwnedKey k("www.example.com.", 1, 7, 3);
    auto rr = a_rr(30, 1);
    REQUIRE(c.insert(k.key, 1, 100, answer_of(rr)));
    cache::Answer out;
    REQUIRE(c.lookup(k.key, 1, 100, out));
    CHECK(out.counts[0] == 1);
    CHECK(std::vector<std::uint8_t>(out.rrs.begin(), out.rrs.end()) == rr);

    auto differs = [&](auto&& change) {
        OwnedKey o(k);
        change(o);
        cache::Answer x;
        return !c.lookup(o.key, 1, 100, x);
    };
    CHECK(differs([](OwnedKey& o) { o.name[1] = 'v'; }));  // wvw.example.com.
    CHECK(differs([](OwnedKey& o) { o.key.qtype = 28; }));
    CHECK(differs([](OwnedKey& o) { o.key.qclass = 255; }));
    CHECK(differs([](OwnedKey& o) { o.key.do_bit = true; }));
    CHECK(differs([](OwnedKey& o) { o.key.decision_class = 8; }));
    CHECK(differs([](OwnedKey& o) { o.key.variant = 2; }));
    CHECK(differs([](OwnedKey& o) {
        o.name = testdns::encode_name("www.example.co.");
        o.key.qname = o.name.data();
        o.key.qname_len = static_cast<std::uint8_t>(o.name.size());
    }));
    CHECK(c.counters().hits == 1);
    CHECK(c.counters().misses == 7);
    CHECK(c.counters().inserts == 1);
}

TEST_CASE("the hash depends on the seed", "[cache]") {
    cache::Cache a(64, 256, 1), b(64, 256, 2);
    OwnedKey k("www.example.com.");
    CHECK(a.hash_of(k.key) != b.hash_of(k.key));
    CHECK(a.hash_of(k.key) == a.hash_of(OwnedKey("www.example.com.").key));
}

TEST_CASE("a tag collision is told apart by the full key", "[cache]") {
    // One bucket, so every key shares it; search for two names whose 32-bit tags collide
    // (birthday bound: ~77k names for even odds, 400k make it near certain).
    cache::Cache c(8, 256, 7);
    REQUIRE(c.entries() == 8);
    std::map<std::uint32_t, int> seen;
    int first = -1, second = -1;
    for (int i = 0; i < 400000 && first < 0; ++i) {
        OwnedKey k("n" + std::to_string(i) + ".example.com.");
        auto tag = static_cast<std::uint32_t>(c.hash_of(k.key) >> 32);
        auto [it, fresh] = seen.emplace(tag, i);
        if (!fresh) {
            first = it->second;
            second = i;
        }
    }
    REQUIRE(first >= 0);
    OwnedKey ka("n" + std::to_string(first) + ".example.com.");
    OwnedKey kb("n" + std::to_string(second) + ".example.com.");
    REQUIRE(c.hash_of(ka.key) >> 32 == c.hash_of(kb.key) >> 32);

    auto ra = a_rr(30, 1), rb = a_rr(30, 2);
    REQUIRE(c.insert(ka.key, 1, 0, answer_of(ra)));
    cache::Answer out;
    CHECK_FALSE(c.lookup(kb.key, 1, 0, out));  // same tag, other name: a miss
    REQUIRE(c.insert(kb.key, 1, 0, answer_of(rb)));
    REQUIRE(c.lookup(ka.key, 1, 0, out));
    CHECK(last_byte(out) == 1);
    REQUIRE(c.lookup(kb.key, 1, 0, out));
    CHECK(last_byte(out) == 2);
}

TEST_CASE("a full bucket keeps every key apart and evicts by CLOCK", "[cache]") {
    cache::Cache c(8, 256, 3);  // one bucket of 8 ways
    std::vector<OwnedKey> keys;
    std::vector<std::vector<std::uint8_t>> rrs;
    for (int i = 0; i < 8; ++i) {
        keys.emplace_back("k" + std::to_string(i) + ".example.com.");
        rrs.push_back(a_rr(30, static_cast<std::uint8_t>(i + 1)));
        REQUIRE(c.insert(keys.back().key, 1, 0, answer_of(rrs.back())));
    }
    cache::Answer out;
    for (int i = 0; i < 8; ++i) {
        REQUIRE(c.lookup(keys[i].key, 1, 0, out));
        CHECK(last_byte(out) == i + 1);
    }
    CHECK(c.counters().evictions == 0);

    SECTION("hot entries survive a stream of new names") {
        // k1 and k5 are hit between inserts; everything else is cold. (The first insert
        // finds every bit set by the loop above, sweeps them clear and takes way 0.)
        for (int i = 0; i < 200; ++i) {
            OwnedKey cold("cold" + std::to_string(i) + ".example.com.");
            auto rr = a_rr(30, 200);
            REQUIRE(c.insert(cold.key, 1, 0, answer_of(rr)));
            REQUIRE(c.lookup(keys[1].key, 1, 0, out));
            CHECK(last_byte(out) == 2);
            REQUIRE(c.lookup(keys[5].key, 1, 0, out));
            CHECK(last_byte(out) == 6);
        }
        CHECK(c.counters().evictions == 200);
        for (int i : {0, 2, 3, 4, 6, 7}) CHECK_FALSE(c.lookup(keys[i].key, 1, 0, out));
        // the newest cold one is still there
        OwnedKey newest("cold199.example.com.");
        CHECK(c.lookup(newest.key, 1, 0, out));
    }
    SECTION("without hits the oldest go first") {
        OwnedKey extra("extra.example.com.");
        auto rr = a_rr(30, 99);
        // every way was hit once above: the first sweep clears them all, then way 0 goes
        REQUIRE(c.insert(extra.key, 1, 0, answer_of(rr)));
        CHECK(c.counters().evictions == 1);
        CHECK_FALSE(c.lookup(keys[0].key, 1, 0, out));
        CHECK(c.lookup(extra.key, 1, 0, out));
        for (int i = 1; i < 8; ++i) CHECK(c.lookup(keys[i].key, 1, 0, out));
    }
}

TEST_CASE("another generation makes an entry a miss at once", "[cache]") {
    cache::Cache c(64, 256, 9);
    OwnedKey k("www.example.com.");
    auto rr = a_rr(300, 1);
    REQUIRE(c.insert(k.key, 5, 0, answer_of(rr)));
    cache::Answer out;
    REQUIRE(c.lookup(k.key, 5, 0, out));
    CHECK_FALSE(c.lookup(k.key, 6, 0, out));
    CHECK(c.counters().generation_misses == 1);
    // the stale entry was dropped: the old generation does not see it either
    CHECK_FALSE(c.lookup(k.key, 5, 0, out));
    CHECK(c.counters().generation_misses == 1);
    CHECK(c.counters().misses == 2);
    auto rr2 = a_rr(300, 2);
    REQUIRE(c.insert(k.key, 6, 0, answer_of(rr2)));
    REQUIRE(c.lookup(k.key, 6, 0, out));
    CHECK(last_byte(out) == 2);
}

TEST_CASE("entries expire after the smallest TTL of their records", "[cache]") {
    cache::Cache c(64, 256, 9);
    OwnedKey k("www.example.com.");
    auto rr = a_rr(300, 1);
    auto more = a_rr(30, 2);
    rr.insert(rr.end(), more.begin(), more.end());
    REQUIRE(cache::min_ttl(rr, 2, 99) == 30);
    REQUIRE(c.insert(k.key, 1, 1000, answer_of(rr, 2)));
    cache::Answer out;
    CHECK(c.lookup(k.key, 1, 1029, out));
    CHECK_FALSE(c.lookup(k.key, 1, 1030, out));
    CHECK(c.counters().expired == 1);

    SECTION("TTL 0 is never stored, nor an answer larger than a slot") {
        auto zero = a_rr(0, 1);
        CHECK_FALSE(c.insert(k.key, 1, 0, answer_of(zero)));
        std::vector<std::uint8_t> big;
        for (int i = 0; i < 20; ++i) {
            auto one = a_rr(30, static_cast<std::uint8_t>(i));
            big.insert(big.end(), one.begin(), one.end());
        }
        CHECK_FALSE(c.insert(k.key, 1, 0, answer_of(big, 20)));  // 320 bytes > 256 slot
        CHECK(c.counters().uncacheable == 2);
        CHECK_FALSE(c.lookup(k.key, 1, 0, out));
        cache::Cache roomy(64, 512, 9);
        CHECK(roomy.insert(k.key, 1, 0, answer_of(big, 20)));
    }
    SECTION("answers without records live kNoRecordTtl") {
        cache::Answer none;
        none.flags = 5;  // REFUSED
        REQUIRE(c.insert(k.key, 1, 0, none));
        CHECK(c.lookup(k.key, 1, cache::Cache::kNoRecordTtl - 1, out));
        CHECK_FALSE(c.lookup(k.key, 1, cache::Cache::kNoRecordTtl, out));
    }
}

TEST_CASE("min_ttl reads uncompressed owners and rejects malformed bytes", "[cache]") {
    std::vector<std::uint8_t> rr = {3, 'f', 'o', 'o', 0, 0, 1, 0, 1, 0, 0, 0, 77, 0, 4, 1, 2, 3, 4};
    CHECK(cache::min_ttl(rr, 1, 5) == 77);
    CHECK(cache::min_ttl({}, 0, 5) == 5);
    CHECK(cache::min_ttl(rr, 2, 5) == 0);  // count beyond the bytes
    rr.push_back(0);
    CHECK(cache::min_ttl(rr, 1, 5) == 0);  // trailing garbage
}

TEST_CASE("a disabled cache stores nothing and counts nothing", "[cache]") {
    cache::Cache c(0, 0, 1);
    CHECK_FALSE(c.enabled());
    OwnedKey k("www.example.com.");
    auto rr = a_rr(30, 1);
    CHECK_FALSE(c.insert(k.key, 1, 0, answer_of(rr)));
    cache::Answer out;
    CHECK_FALSE(c.lookup(k.key, 1, 0, out));
    CHECK(c.counters().misses == 0);
    CHECK(c.bytes() == 0);
}

TEST_CASE("bad sizes are refused at construction", "[cache]") {
    CHECK_THROWS_AS(cache::Cache(64, 100, 1), std::invalid_argument);
    CHECK_THROWS_AS(cache::Cache(64, 64, 1), std::invalid_argument);
    cache::Cache ok(10, 128, 1);
    CHECK(ok.entries() == 16);  // rounded up to whole buckets
    CHECK(ok.bytes() == 2 * (64 + 8 * 128));
}

TEST_CASE("write_response patches ID, case, OPT and TC", "[cache]") {
    dns::Query q;
    q.id = 0xABCD;
    q.flags = dns::flag::RD | dns::flag::CD;
    q.qtype = 1;
    q.qclass = 1;
    auto wire = testdns::encode_name("WwW.Example.COM.");
    std::memcpy(q.qname.data(), wire.data(), wire.size());
    q.qname_len = static_cast<std::uint8_t>(wire.size());
    q.has_edns = true;
    q.do_bit = true;
    q.ecs.present = true;
    q.ecs.family = 1;
    q.ecs.source_prefix = 20;
    q.ecs.addr = {198, 51, 96};

    std::vector<std::uint8_t> rrs;
    for (int i = 0; i < 30; ++i) {
        auto one = a_rr(30, static_cast<std::uint8_t>(i));
        rrs.insert(rrs.end(), one.begin(), one.end());
    }
    auto a = answer_of(rrs, 30);  // 480 bytes of RRs
    std::vector<std::uint8_t> out(4096);
    bool tc = true;
    std::size_t n = cache::write_response(a, q, 1232, &q.ecs, 24, out, 1232, tc);
    REQUIRE(n > 0);
    CHECK_FALSE(tc);
    auto m = testdns::decode({out.data(), n});
    CHECK(m.id == 0xABCD);
    CHECK(m.qr());
    CHECK(m.aa());
    CHECK(m.rd());
    CHECK((m.flags & dns::flag::CD) != 0);
    CHECK(m.qname == "WwW.Example.COM.");
    CHECK(m.answer.size() == 30);
    CHECK(m.answer[0].name == "WwW.Example.COM.");
    REQUIRE(m.opt.present);
    CHECK(m.opt.udp_size == 1232);
    CHECK(m.opt.do_bit);
    REQUIRE(m.opt.ecs);
    CHECK(m.opt.ecs_source == 20);
    CHECK(m.opt.ecs_scope == 20);  // 24 clamped to the source
    CHECK(m.opt.ecs_addr == std::vector<std::uint8_t>{198, 51, 96});

    n = cache::write_response(a, q, 1232, &q.ecs, 24, out, 512, tc);
    CHECK(tc);
    CHECK(n <= 512);
    m = testdns::decode({out.data(), n});
    CHECK(m.tc());
    CHECK(m.answer.empty());
    CHECK(m.opt.present);

    q.has_edns = false;  // no OPT in, none out
    n = cache::write_response(a, q, 1232, nullptr, 0, out, 512, tc);
    m = testdns::decode({out.data(), n});
    CHECK(m.tc());
    CHECK_FALSE(m.opt.present);
    CHECK(m.arcount == 0);
}
