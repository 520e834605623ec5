// The engine's name index: the table itself (collisions, growth, exact-length compare) and
// the index build_topology makes, checked against the zones' own maps through plan().
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "dns/query.hh"
#include "fixture.hh"
#include "gslb/engine.hh"
#include "gslb/name_index.hh"

using namespace gslbd;
using fixture::backend;
using fixture::record;

namespace {

std::vector<std::uint8_t> wire(const std::string& text) {
    return testdns::encode_name(text);
}

gslb::NameInfo info_with(std::int32_t record) {
    gslb::NameInfo i;
    i.record = record;
    return i;
}

std::shared_ptr<config::Config> two_zones() {
    auto cfg = std::make_shared<config::Config>();
    auto z = fixture::zone("example.com.");
    z.ns.push_back({"ns1.example.com.", {fixture::ip("192.0.2.53")}});
    z.records.push_back(record("www.example.com.", kTestAll, {backend("192.0.2.1")}));
    z.records.push_back(record("a.b.c.example.com.", kTestAll, {backend("192.0.2.2")}));
    // listed by the parent, but sub.example.com. is a zone of its own and answers for it
    z.records.push_back(record("x.sub.example.com.", kTestAll, {backend("192.0.2.3")}));
    cfg->zones.push_back(z);
    auto sub = fixture::zone("sub.example.com.");
    sub.records.push_back(record("www.sub.example.com.", kTestAll, {backend("192.0.2.4")}));
    cfg->zones.push_back(sub);
    return cfg;
}

struct Planned {
    const gslb::ZoneRt* zone;
    const gslb::RecordRt* rec;
    const gslb::NsRt* ns;
    bool ent;
};

Planned plan_of(const gslb::Topology& topo, std::shared_ptr<const gslb::Topology> owner,
                const std::string& name, std::uint16_t qtype = dns::qtype::TXT) {
    gslb::Snapshot snap;
    snap.topo = std::move(owner);
    snap.health = gslb::all_up(topo);
    gslb::WorkerState ws(1);
    ws.prepare(topo);
    auto q = fixture::query(name, qtype);
    gslb::Plan p;
    gslb::plan(snap, q, {}, ws, p);
    return {p.zone, p.rec, p.ns, p.ent};
}

/// What the zones' own maps say about `name`, the way the index must: the longest zone
/// containing it, then its record / glue NS / empty non-terminal maps.
Planned maps_of(const gslb::Topology& topo, const std::string& name) {
    auto q = fixture::query(name, dns::qtype::TXT);
    Planned p{topo.find_zone(q.qname_lower.data(), q.qname_len), nullptr, nullptr, false};
    if (p.zone == nullptr) return p;
    const std::string_view key(reinterpret_cast<const char*>(q.qname_lower.data()), q.qname_len);
    if (auto it = p.zone->names->records.find(key); it != p.zone->names->records.end())
        p.rec = &topo.records[it->second];
    if (auto it = p.zone->names->ns_names.find(key); it != p.zone->names->ns_names.end())
        p.ns = &p.zone->ns[it->second];
    p.ent = p.zone->names->ents.count(key) != 0;
    return p;
}

}  // namespace

TEST_CASE("name index: names with one hash are told apart by their bytes", "[name_index]") {
    gslb::NameIndex idx;
    idx.reserve(4);
    const auto a = wire("a.example."), b = wire("b.example."), longer = wire("aa.example.");
    REQUIRE(idx.insert(a.data(), a.size(), 42, info_with(1)));
    REQUIRE(idx.insert(b.data(), b.size(), 42, info_with(2)));            // same hash, same length
    REQUIRE(idx.insert(longer.data(), longer.size(), 42, info_with(3)));  // same hash
    CHECK_FALSE(idx.insert(b.data(), b.size(), 42, info_with(9)));        // already in
    CHECK(idx.size() == 3);
    REQUIRE(idx.find(a.data(), a.size(), 42) != nullptr);
    CHECK(idx.find(a.data(), a.size(), 42)->record == 1);
    CHECK(idx.find(b.data(), b.size(), 42)->record == 2);
    CHECK(idx.find(longer.data(), longer.size(), 42)->record == 3);
    const auto c = wire("c.example.");
    CHECK(idx.find(c.data(), c.size(), 42) == nullptr);  // hash matches, bytes do not
    CHECK(idx.find(a.data(), a.size(), 43) == nullptr);  // bytes match, hash does not
}

TEST_CASE("name index: grows past its reservation and keeps every name", "[name_index]") {
    gslb::NameIndex idx;
    CHECK(idx.find(nullptr, 0, 1) == nullptr);  // never built
    std::vector<std::vector<std::uint8_t>> names;
    for (int i = 0; i < 500; ++i) names.push_back(wire("n" + std::to_string(i) + ".example."));
    for (int i = 0; i < 500; ++i) {
        // every fourth name shares hash 7: long probe runs across the growth
        const std::uint64_t h = i % 4 == 0 ? 7 : dns::name_hash(names[i].data(), names[i].size());
        REQUIRE(idx.insert(names[i].data(), names[i].size(), h, info_with(i)));
    }
    CHECK(idx.size() == 500);
    CHECK(idx.capacity() >= 1000);  // at most half full
    for (int i = 0; i < 500; ++i) {
        const std::uint64_t h = i % 4 == 0 ? 7 : dns::name_hash(names[i].data(), names[i].size());
        const gslb::NameInfo* ni = idx.find(names[i].data(), names[i].size(), h);
        REQUIRE(ni != nullptr);
        CHECK(ni->record == i);
    }
}

TEST_CASE("name hash: lower_and_hash agrees with name_hash of the lower-case name",
          "[name_index]") {
    for (const char* text : {".", "a.", "WwW.ExAmPlE.CoM.", "abc.", "abcdefg.", "abcdefgh.",
                             "x123456789-ABCDEFGHIJ.y.Z."}) {
        const auto w = wire(text);
        std::array<std::uint8_t, dns::kMaxNameWire> in{}, out{}, low{};
        std::copy(w.begin(), w.end(), in.begin());
        const std::uint64_t h = dns::lower_and_hash(in.data(), out.data(), w.size());
        dns::lower_name(in.data(), low.data(), w.size());
        CHECK(std::equal(low.begin(), low.begin() + w.size(), out.begin()));
        CHECK(h == dns::name_hash(low.data(), w.size()));
        CHECK(h != 0);
    }
    const auto x = wire("www.example.com."), y = wire("www.example.org.");
    CHECK(dns::name_hash(x.data(), x.size()) != dns::name_hash(y.data(), y.size()));
}

TEST_CASE("build_topology indexes apexes, records, glue names and empty non-terminals",
          "[name_index]") {
    auto topo = gslb::build_topology(two_zones(), nullptr);
    auto look = [&](const std::string& text) {
        const auto w = wire(text);
        return topo->names.find(w.data(), w.size(), dns::name_hash(w.data(), w.size()));
    };
    const auto zone_name = [&](const gslb::NameInfo* ni) {
        return std::string(topo->zones.at(ni->zone).name.view());
    };
    const std::string example(reinterpret_cast<const char*>(wire("example.com.").data()),
                              wire("example.com.").size());

    const gslb::NameInfo* apex = look("example.com.");
    REQUIRE(apex != nullptr);
    CHECK(apex->apex);
    CHECK(apex->record == -1);
    CHECK(zone_name(apex) == example);

    const gslb::NameInfo* www = look("www.example.com.");
    REQUIRE(www != nullptr);
    CHECK_FALSE(www->apex);
    REQUIRE(www->record >= 0);
    CHECK(topo->records.at(www->record).cfg->name == "www.example.com.");

    const gslb::NameInfo* ns = look("ns1.example.com.");
    REQUIRE(ns != nullptr);
    CHECK(ns->ns == 0);
    CHECK(ns->record == -1);

    for (const char* ent : {"b.c.example.com.", "c.example.com."}) {
        const gslb::NameInfo* e = look(ent);
        REQUIRE(e != nullptr);
        CHECK(e->ent);
        CHECK(e->record == -1);
    }

    // a name the parent lists under a longer zone: the longer zone answers, without it
    const gslb::NameInfo* x = look("x.sub.example.com.");
    REQUIRE(x != nullptr);
    CHECK(x->record == -1);
    CHECK(topo->zones.at(x->zone).name.len == wire("sub.example.com.").size());
    const gslb::NameInfo* sub_apex = look("sub.example.com.");
    REQUIRE(sub_apex != nullptr);
    CHECK(sub_apex->apex);
    CHECK_FALSE(sub_apex->ent);  // an apex, not an empty non-terminal of the parent

    CHECK(look("nope.example.com.") == nullptr);
    CHECK(look("example.org.") == nullptr);
    CHECK(look("WWW.example.com.") == nullptr);  // the index holds lower-case names only
}

TEST_CASE("plan through the index agrees with plan through the zone maps", "[name_index]") {
    auto topo = gslb::build_topology(two_zones(), nullptr);
    REQUIRE_FALSE(topo->names.empty());

    const std::vector<std::string> names = {"example.com.",
                                            "EXAMPLE.com.",
                                            "www.example.com.",
                                            "WwW.ExAmPlE.cOm.",
                                            "ns1.example.com.",
                                            "NS1.example.com.",
                                            "c.example.com.",
                                            "b.C.example.com.",
                                            "a.b.c.example.com.",
                                            "A.B.C.EXAMPLE.COM.",
                                            "x.sub.example.com.",
                                            "sub.example.com.",
                                            "www.sub.example.com.",
                                            "WWW.SUB.example.com.",
                                            "nope.example.com.",
                                            "a.nope.example.com.",
                                            "deep.x.sub.example.com.",
                                            "example.org.",
                                            "com.",
                                            ".",
                                            "www.example.co.",
                                            "wwww.example.com.",
                                            "ww.example.com."};
    int indexed_hits = 0;
    for (const auto& n : names) {
        for (std::uint16_t qtype : {dns::qtype::A, dns::qtype::TXT, dns::qtype::NS}) {
            INFO(n << " type " << qtype);
            const Planned a = plan_of(*topo, topo, n, qtype);
            const Planned b = maps_of(*topo, n);
            CHECK(a.zone == b.zone);
            CHECK(a.rec == b.rec);
            CHECK(a.ns == b.ns);
            CHECK(a.ent == b.ent);
            if (a.rec != nullptr) ++indexed_hits;
        }
    }
    CHECK(indexed_hits == 6 * 3);  // www, a.b.c, www.sub in two spellings each, 3 types

    // fixture::query() leaves qname_hash 0 (as a Query filled by hand): plan() hashes itself.
    const Planned www = plan_of(*topo, topo, "WWW.EXAMPLE.COM.", dns::qtype::A);
    REQUIRE(www.rec != nullptr);
    CHECK(www.rec->cfg->name == "www.example.com.");
}

TEST_CASE("index_names makes a topology assembled by hand answerable", "[name_index]") {
    // Built from a config, then copied by hand without its index: the engine finds nothing
    // until index_names() fills it (the copy's maps still point into `built`, which lives on).
    auto built = gslb::build_topology(two_zones(), nullptr);
    auto topo = std::make_shared<gslb::Topology>(*built);
    topo->names = gslb::NameIndex{};
    CHECK(plan_of(*topo, topo, "www.example.com.").rec == nullptr);
    gslb::index_names(*topo);
    CHECK(topo->names.size() == built->names.size());
    const Planned www = plan_of(*topo, topo, "www.example.com.");
    REQUIRE(www.rec != nullptr);
    CHECK(www.rec->cfg->name == "www.example.com.");
    CHECK(plan_of(*topo, topo, "c.example.com.").ent);
}
