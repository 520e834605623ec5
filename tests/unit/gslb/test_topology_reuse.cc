// A rebuild of the topology shares what did not change (issue 20): the backend arrays and ids
// of unchanged records, and the names when they are the same at the same positions; every case
// answers as a fresh build does.
#include <catch2/catch.hpp>

#include "engine_env.hh"
#include "fixture.hh"
#include "gslb/engine.hh"

using namespace gslbd;
using engine_env::addrs;
using engine_env::Env;
using engine_env::make_config;
using engine_env::rec_of;
using fixture::backend;
using fixture::ip;
using fixture::record;
using testdns::Msg;

TEST_CASE("a rebuild keeps the backends of unchanged records: shared arrays, same ids") {
    auto a_cfg = make_config();
    Env a(a_cfg);
    // the next configuration shares every Record object but the ones it changes
    auto b_cfg = std::make_shared<config::Config>(*a_cfg);
    auto& recs = b_cfg->zones[0].records;
    recs.edit(0).backends[1].address = ip("192.0.2.12");  // www: changed
    recs.edit(0).backends[1].address_text = "192.0.2.12";
    config::RecordList rest;  // v4only removed, a new record in the middle
    for (std::size_t i = 0; i < recs.size(); ++i) {
        if (i == 1) continue;
        if (i == 3) rest.push_back(record("new.example.com.", kTestAll, {backend("192.0.2.33")}));
        rest.push_back(recs.shared(i));
    }
    recs = rest;
    auto inc = gslb::build_topology(b_cfg, nullptr, nullptr, a.topo.get());
    auto fresh = gslb::build_topology(b_cfg, nullptr);

    CHECK(inc->records_shared == inc->records.size() - 2);  // all but www and new
    std::vector<std::uint32_t> ids;
    for (const auto& r : inc->records) {
        for (const auto* fam : {&r.v4, &r.v6})
            for (const auto& b : *fam) ids.push_back(b.id);
        if (r.cfg->name == "www.example.com." || r.cfg->name == "new.example.com.") continue;
        const gslb::RecordRt& old = rec_of(*a.topo, r.cfg->name);
        CHECK(r.v4.shares(old.v4));
        CHECK(r.v6.shares(old.v6));
    }
    std::sort(ids.begin(), ids.end());
    CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());  // unique
    CHECK(ids.back() < inc->backend_count);
    CHECK(inc->backend_count <= a.topo->backend_count + 1);  // freed ids are taken again
    CHECK(inc->backends == fresh->backends);

    // the same answers as a topology built from nothing
    Env x(b_cfg), y(b_cfg);
    x.topo = inc;
    x.snap.topo = inc;
    x.snap.health = gslb::all_up(*inc);
    x.ws.prepare(*inc);
    for (const auto& r : fresh->records) {
        for (std::uint16_t qt : {dns::qtype::A, dns::qtype::AAAA}) {
            INFO(r.cfg->name << " " << qt);
            const Msg m1 = x.ask(r.cfg->name, qt), m2 = y.ask(r.cfg->name, qt);
            CHECK(m1.rcode() == m2.rcode());
            CHECK(addrs(m1.answer) == addrs(m2.answer));
        }
    }
    // a backend down by its id in the rebuilt topology: the answers follow
    const auto& www = rec_of(*inc, "www.example.com.");
    x.set_down(www.v4[0]);
    y.set_down(rec_of(*y.topo, "www.example.com.").v4[0]);
    CHECK(addrs(x.ask("www.example.com.", dns::qtype::A).answer) ==
          addrs(y.ask("www.example.com.", dns::qtype::A).answer));
}

namespace {

/// `inc` (built with a previous topology) answers as a topology built from nothing out of the
/// same configuration: every record, its CNAME fallback, empty non-terminals, glue NS names,
/// names that do not exist.
void check_as_fresh(const std::shared_ptr<const gslb::Topology>& inc,
                    const std::shared_ptr<config::Config>& cfg) {
    Env x(cfg), y(cfg);
    x.topo = inc;
    x.snap.topo = inc;
    x.snap.health = gslb::all_up(*inc);
    x.ws.prepare(*inc);
    REQUIRE(inc->records.size() == y.topo->records.size());
    std::vector<std::string> names{"c.example.com.",      "b.c.example.com.", "ns1.example.com.",
                                   "nope.example.com.",   "example.com.",     "sub.example.com.",
                                   "ns1.sub.example.com."};
    for (std::size_t i = 0; i < inc->records.size(); ++i) {
        const auto& r = inc->records[i];
        const auto& f = y.topo->records[i];
        CHECK(r.cfg->name == f.cfg->name);
        CHECK(r.name.view() == f.name.view());
        CHECK(r.fallback.cname.view() == f.fallback.cname.view());
        names.push_back(r.cfg->name);
    }
    for (const auto& n : names) {
        for (std::uint16_t qt : {dns::qtype::A, dns::qtype::AAAA, dns::qtype::NS}) {
            INFO(n << " " << qt);
            const Msg m1 = x.ask(n, qt), m2 = y.ask(n, qt);
            CHECK(m1.rcode() == m2.rcode());
            CHECK(m1.aa() == m2.aa());
            CHECK(addrs(m1.answer) == addrs(m2.answer));
            CHECK(m1.answer.size() == m2.answer.size());
            CHECK(m1.authority.size() == m2.authority.size());
            CHECK(m1.additional.size() == m2.additional.size());
        }
    }
}

bool shares_names(const gslb::Topology& a, const gslb::Topology& b) {
    if (a.name_bytes != b.name_bytes || !a.names.shares(b.names)) return false;
    for (std::size_t i = 0; i < a.zones.size() && i < b.zones.size(); ++i)
        if (a.zones[i].names != b.zones[i].names) return false;
    return a.zones.size() == b.zones.size();
}

}  // namespace

TEST_CASE("a rebuild shares the names when they are the same at the same positions") {
    auto a_cfg = make_config();
    auto a = gslb::build_topology(a_cfg, nullptr);
    CHECK_FALSE(a->names_shared);
    auto b_cfg = std::make_shared<config::Config>(*a_cfg);
    auto& recs = b_cfg->zones[0].records;
    auto index_of = [&recs](const std::string& name) {
        for (std::size_t i = 0; i < recs.size(); ++i)
            if (recs[i].name == name) return i;
        throw std::runtime_error("no record " + name);
    };

    bool names_change = true;
    SECTION("backends changed, names not: shared, twice over") {
        names_change = false;
        recs.edit(0).backends[1].address = ip("192.0.2.12");
        recs.edit(0).backends[1].address_text = "192.0.2.12";
        recs.edit(index_of("fb-cname.example.com.")).ttl = 99;  // a copy, the same CNAME
        auto b = gslb::build_topology(b_cfg, nullptr, nullptr, a.get());
        CHECK(b->names_shared);
        CHECK(shares_names(*a, *b));
        check_as_fresh(b, b_cfg);
        // and again from the shared one, the first ones gone: the names live on with `c`
        auto c_cfg = std::make_shared<config::Config>(*b_cfg);
        c_cfg->zones[1].records.edit(0).backends[0].address = ip("192.0.2.101");
        c_cfg->zones[1].records.edit(0).backends[0].address_text = "192.0.2.101";
        auto c = gslb::build_topology(c_cfg, nullptr, nullptr, b.get());
        CHECK(c->names_shared);
        CHECK(shares_names(*b, *c));
        a.reset();
        b.reset();
        check_as_fresh(c, c_cfg);
    }
    SECTION("a record added") {
        recs.push_back(record("added.example.com.", kTestAll, {backend("192.0.2.33")}));
    }
    SECTION("a record removed") {
        config::RecordList rest;
        for (std::size_t i = 1; i < recs.size(); ++i) rest.push_back(recs.shared(i));
        recs = rest;
    }
    SECTION("a record renamed") {
        recs.edit(index_of("a.b.c.example.com.")).name = "x.b.c.example.com.";
    }
    SECTION("two records swapped") {
        config::RecordList swapped;
        swapped.push_back(recs.shared(1));
        swapped.push_back(recs.shared(0));
        for (std::size_t i = 2; i < recs.size(); ++i) swapped.push_back(recs.shared(i));
        recs = swapped;
    }
    SECTION("a CNAME fallback's target changed") {
        recs.edit(index_of("fb-cname.example.com.")).fallback.cname = "other.example.net.";
    }
    SECTION("a record gets a CNAME fallback") {
        auto& r = recs.edit(index_of("www.example.com."));
        r.fallback.mode = config::FallbackMode::Cname;
        r.fallback.cname = "backup.example.net.";
    }
    SECTION("a zone added") {
        auto z = fixture::zone("added.test.");
        z.records.push_back(record("www.added.test.", kTestAll, {backend("192.0.2.130")}));
        b_cfg->zones.push_back(z);
    }
    SECTION("an in-zone NS name changed") {
        b_cfg->zones[0].ns[0].name = "ns2.example.com.";
    }
    SECTION("an in-zone NS name loses its glue") {
        b_cfg->zones[1].ns[0].addresses.clear();
    }
    if (!names_change) return;
    auto b = gslb::build_topology(b_cfg, nullptr, nullptr, a.get());
    CHECK_FALSE(b->names_shared);
    CHECK(b->name_bytes != a->name_bytes);
    CHECK_FALSE(b->names.shares(a->names));
    check_as_fresh(b, b_cfg);
}
