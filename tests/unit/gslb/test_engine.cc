#include <algorithm>
#include <array>
#include <catch2/catch.hpp>

#include "dns/response.hh"
#include "engine_env.hh"
#include "fixture.hh"
#include "geo/geo.hh"
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

namespace {

void check_negative(const Msg& m, unsigned rcode, const std::string& apex) {
    CHECK(m.rcode() == rcode);
    CHECK(m.aa());
    CHECK(m.answer.empty());
    REQUIRE(m.authority.size() == 1);
    CHECK(m.authority[0].type == dns::qtype::SOA);
    CHECK(m.authority[0].name == apex);
    CHECK(m.authority[0].ttl == 60);  // min(SOA TTL 3600, MINIMUM 60)
    CHECK(m.authority[0].mname == "ns1." + apex);
}

}  // namespace

TEST_CASE("build_topology converts zones, records and backends") {
    auto cfg = make_config();
    cfg->zones[0].records[0].backends[0].weight = 0;
    cfg->zones[0].records[0].backends[1].weight = 5;
    cfg->zones[0].records[0].backends[2].weight = -3;
    cfg->zones[0].records[0].backends[1].countries = {"FR", "DE"};
    cfg->zones[0].records[0].backends[1].continents = {"EU"};
    cfg->zones[0].records[0].backends[1].asns = {64500};
    cfg->zones[0].records[0].backends[1].cities = {"Paris"};
    auto topo = gslb::build_topology(cfg, nullptr);

    REQUIRE(topo->zones.size() == 3);
    CHECK(topo->zones[0].labels == 2);
    CHECK(topo->zones[1].labels == 3);
    std::size_t nrec = 0;
    for (const auto& z : cfg->zones) nrec += z.records.size();
    REQUIRE(topo->records.size() == nrec);

    std::vector<std::uint32_t> ids;
    for (std::size_t i = 0; i < topo->records.size(); ++i) {
        const auto& r = topo->records[i];
        CHECK(r.id == i);
        CHECK(r.policy != nullptr);
        for (const auto* fam : {&r.v4, &r.v6}) {
            for (const auto& b : *fam) ids.push_back(b.id);
        }
    }
    std::sort(ids.begin(), ids.end());
    REQUIRE(ids.size() == topo->backend_count);
    for (std::size_t i = 0; i < ids.size(); ++i) CHECK(ids[i] == i);  // dense and unique

    const auto& www = rec_of(*topo, "www.example.com.");
    REQUIRE(www.v4.size() == 2);
    REQUIRE(www.v6.size() == 1);
    CHECK(www.v4[0].addr == ip("192.0.2.10"));
    CHECK(www.v4[1].addr == ip("192.0.2.11"));
    CHECK(www.v6[0].addr == ip("2001:db8::10"));
    CHECK(www.v4[0].weight == 1);
    CHECK(www.v4[1].weight == 5);
    CHECK(www.v6[0].weight == 1);
    CHECK(www.v4[1].priority == 2);
    CHECK(www.v4[1].countries ==
          std::vector<std::uint16_t>{geo::pack_code('F', 'R'), geo::pack_code('D', 'E')});
    CHECK(www.v4[1].continents == std::vector<std::uint16_t>{geo::pack_code('E', 'U')});
    CHECK(www.v4[1].asns == std::vector<std::uint32_t>{64500});
    CHECK(www.v4[1].cities == std::vector<std::string>{"Paris"});
    CHECK(www.v4[1].cfg == &cfg->zones[0].records[0].backends[1]);
    CHECK(www.policy->name() == kTestAll);

    const auto& mix = rec_of(*topo, "mix.example.com.");
    CHECK(mix.v4[0].enabled);
    CHECK_FALSE(mix.v4[1].enabled);

    auto key = [](const char* text) {
        auto w = testdns::encode_name(text);
        return std::string(w.begin(), w.end());
    };
    const auto& cn = rec_of(*topo, "fb-cname.example.com.");
    CHECK(cn.fallback.mode == config::FallbackMode::Cname);
    CHECK(std::string(cn.fallback.cname.view()) == key("backup.example.net."));
    const auto& fips = rec_of(*topo, "fb-ips.example.com.");
    REQUIRE(fips.fallback.v4.size() == 1);
    REQUIRE(fips.fallback.v6.size() == 1);
    CHECK(fips.fallback.v6[0] == ip("2001:db8::99"));

    const auto& z = topo->zones[0];
    CHECK(z.names->records.size() == cfg->zones[0].records.size());
    CHECK(z.names->ents.count(key("b.c.example.com.")) == 1);
    CHECK(z.names->ents.count(key("c.example.com.")) == 1);
    CHECK(z.names->ents.count(key("example.com.")) == 0);      // the apex
    CHECK(z.names->ents.count(key("www.example.com.")) == 0);  // a record
    CHECK(z.names->ents.size() == 2);
    REQUIRE(z.ns.size() == 2);
    CHECK(z.ns[0].glue.size() == 2);
    CHECK(z.ns[1].glue.empty());
    CHECK(z.names->ns_names.size() == 1);
    CHECK(z.names->ns_names.count(z.ns[0].name.view()) == 1);

    auto h = gslb::all_up(*topo);
    CHECK(h->up.size() == topo->backend_count);
    CHECK(std::all_of(h->up.begin(), h->up.end(), [](auto u) { return u == 1; }));
}

TEST_CASE("find_zone picks the longest suffix on label boundaries") {
    Env env;
    const auto& t = *env.topo;
    auto find = [&](const std::string& n) {
        auto w = testdns::encode_name(n);
        return t.find_zone(w.data(), w.size());
    };
    CHECK(find("example.com.") == &t.zones[0]);
    CHECK(find("www.example.com.") == &t.zones[0]);
    CHECK(find("sub.example.com.") == &t.zones[1]);
    CHECK(find("a.www.sub.example.com.") == &t.zones[1]);
    CHECK(find("apex.test.") == &t.zones[2]);
    CHECK(find("xexample.com.") == nullptr);
    CHECK(find("com.") == nullptr);
    CHECK(find(".") == nullptr);
    CHECK(find("example.org.") == nullptr);
}

TEST_CASE("build_topology rejects bad records with positioned errors") {
    SECTION("unknown mode") {
        auto cfg = make_config();
        cfg->zones[0].records[1].mode = "bogus";
        cfg->zones[0].records[1].pos = {"zone.yml", 42, 5};
        try {
            gslb::build_topology(cfg, nullptr);
            FAIL("no error");
        } catch (const config::ConfigError& e) {
            CHECK(e.field() == "mode");
            CHECK(e.pos().line == 42);
            std::string what = e.what();
            CHECK(what.find("bogus") != std::string::npos);
            CHECK(what.find(std::string(kTestAll)) != std::string::npos);  // lists known modes
        }
    }
    SECTION("unknown location lists the known ones") {
        std::vector<config::LocationEntry> entries{
            {*util::IpPrefix::parse("10.0.0.0/8"), "eu-fra", {"map.yml", 1, 1}},
            {*util::IpPrefix::parse("10.1.0.0/16"), "us-east", {"map.yml", 2, 1}}};
        auto geo = std::make_shared<geo::GeoDbs>();
        geo->locations = std::make_unique<geo::LocationMap>(entries);

        auto cfg = make_config();
        cfg->zones[0].records[0].backends[1].locations = {"us-east"};
        auto topo = gslb::build_topology(cfg, geo);
        const auto& www = rec_of(*topo, "www.example.com.");
        REQUIRE(www.v4[1].locations.size() == 1);
        CHECK(www.v4[1].locations[0] == geo->locations->id_of("us-east"));
        CHECK(www.v4[1].locations[0] >= 0);

        cfg->zones[0].records[0].backends[1].locations = {"mars"};
        cfg->zones[0].records[0].backends[1].pos = {"zone.yml", 77, 9};
        try {
            gslb::build_topology(cfg, geo);
            FAIL("no error");
        } catch (const config::ConfigError& e) {
            CHECK(e.field() == "location");
            CHECK(e.pos().line == 77);
            std::string what = e.what();
            CHECK(what.find("mars") != std::string::npos);
            CHECK(what.find("eu-fra") != std::string::npos);
            CHECK(what.find("us-east") != std::string::npos);
        }
        // A location without any location map configured.
        CHECK_THROWS_AS(gslb::build_topology(cfg, nullptr), config::ConfigError);
    }
    SECTION("the policy's own validation runs") {
        auto cfg = make_config();
        cfg->zones[0].records.push_back(record("empty.example.com.", kTestPicky, {}, 30, 99));
        try {
            gslb::build_topology(cfg, nullptr);
            FAIL("no error");
        } catch (const config::ConfigError& e) {
            CHECK(e.field() == "backends");
            CHECK(e.pos().line == 99);
        }
    }
    SECTION("geo_priority on a record whose mode does not read it") {
        auto cfg = make_config();
        auto& r = cfg->zones[0].records.edit(1);
        r.pos = {"zone.yml", 40, 3};
        r.geo_priority = config::GeoPriority::Best;
        r.geo_priority_line = 43;
        r.geo_priority_column = 19;
        try {
            gslb::build_topology(cfg, nullptr);
            FAIL("no error");
        } catch (const config::ConfigError& e) {
            CHECK(e.field() == "geo_priority");
            CHECK(e.pos().line == 43);
            CHECK(e.pos().column == 19);
            CHECK(e.pos().file == "zone.yml");
            CHECK(std::string(e.what()).find("does not read geo_priority") != std::string::npos);
        }
        // inherited from the file's defaults (not written on the record): accepted, unused
        cfg->zones[0].records.edit(1).geo_priority_line = 0;
        auto topo = gslb::build_topology(cfg, nullptr);
        CHECK(rec_of(*topo, "v4only.example.com.").geo_best_priority);
    }
    SECTION("record outside its zone, duplicates, bad names") {
        auto cfg = make_config();
        cfg->zones[0].records.push_back(record("www.example.org.", kTestAll, {}));
        CHECK_THROWS_AS(gslb::build_topology(cfg, nullptr), config::ConfigError);
        cfg = make_config();
        cfg->zones[0].records.push_back(record("WWW.example.com.", kTestAll, {}));
        CHECK_THROWS_AS(gslb::build_topology(cfg, nullptr), config::ConfigError);
        cfg = make_config();
        cfg->zones[0].records.push_back(record("bad..example.com.", kTestAll, {}));
        CHECK_THROWS_AS(gslb::build_topology(cfg, nullptr), config::ConfigError);
        CHECK_THROWS_AS(gslb::WireName::from_text(std::string(64, 'a') + ".com.", {}, "name"),
                        config::ConfigError);
    }
}

TEST_CASE("apex SOA and NS with glue") {
    Env env;
    Msg m = env.ask("Example.COM.", dns::qtype::SOA);
    CHECK(m.rcode() == 0);
    CHECK(m.aa());
    REQUIRE(m.answer.size() == 1);
    const auto& soa = m.answer[0];
    CHECK(soa.type == dns::qtype::SOA);
    CHECK(soa.name == "Example.COM.");
    CHECK(soa.ttl == 3600);
    CHECK(soa.mname == "ns1.example.com.");
    CHECK(soa.rname == "hostmaster.example.com.");
    CHECK(soa.serial == 2024010101);
    CHECK(soa.minimum == 60);
    CHECK(env.info.kind == gslb::AnswerKind::Answer);

    m = env.ask("example.com.", dns::qtype::NS);
    REQUIRE(m.answer.size() == 2);
    CHECK(m.answer[0].target == "ns1.example.com.");
    CHECK(m.answer[1].target == "ns.other.net.");
    CHECK(m.answer[0].ttl == 7200);
    REQUIRE(m.additional.size() == 2);  // glue for the in-zone name only
    CHECK(m.additional[0].name == "ns1.example.com.");
    CHECK(m.additional[0].type == dns::qtype::A);
    CHECK(m.additional[0].addr == "192.0.2.53");
    CHECK(m.additional[1].type == dns::qtype::AAAA);
    CHECK(m.additional[1].addr == "2001:db8::53");
    CHECK(m.additional[1].ttl == 7200);

    // A at the apex without a record there
    check_negative(env.ask("example.com.", dns::qtype::A), 0, "example.com.");
    CHECK(env.info.kind == gslb::AnswerKind::NoData);
}

TEST_CASE("GSLB record answers per family, mixed case, qclass ANY") {
    Env env;
    Msg m = env.ask("WwW.ExAmPle.CoM.", dns::qtype::A);
    CHECK(m.rcode() == 0);
    CHECK(m.aa());
    CHECK(addrs(m.answer) == std::vector<std::string>{"192.0.2.10", "192.0.2.11"});
    for (const auto& rr : m.answer) {
        CHECK(rr.name == "WwW.ExAmPle.CoM.");
        CHECK(rr.ttl == 30);
        CHECK(rr.type == dns::qtype::A);
    }
    CHECK(m.authority.empty());
    CHECK(env.info.kind == gslb::AnswerKind::Answer);
    CHECK(env.info.record_id == static_cast<int>(rec_of(*env.topo, "www.example.com.").id));
    CHECK_FALSE(env.info.fallback);

    m = env.ask("www.example.com.", dns::qtype::AAAA);
    CHECK(addrs(m.answer) == std::vector<std::string>{"2001:db8::10"});
    CHECK(m.answer[0].type == dns::qtype::AAAA);

    m = env.ask("www.example.com.", dns::qtype::A, dns::kClassANY);
    CHECK(m.answer.size() == 2);

    m = env.ask("v4only.example.com.", dns::qtype::A);
    REQUIRE(m.answer.size() == 1);
    CHECK(m.answer[0].ttl == 45);
    check_negative(env.ask("v4only.example.com.", dns::qtype::AAAA), 0, "example.com.");

    // Disabled backends never answer while others are up.
    m = env.ask("mix.example.com.", dns::qtype::A);
    CHECK(addrs(m.answer) == std::vector<std::string>{"192.0.2.40", "192.0.2.42"});
}

TEST_CASE("down backends are not eligible") {
    Env env;
    env.set_down(rec_of(*env.topo, "www.example.com.").v4[0]);
    Msg m = env.ask("www.example.com.", dns::qtype::A);
    CHECK(addrs(m.answer) == std::vector<std::string>{"192.0.2.11"});
    CHECK_FALSE(env.info.fallback);
}

TEST_CASE("other types, ENTs, NXDOMAIN, ANY") {
    Env env;
    for (std::uint16_t t :
         {std::uint16_t{15}, dns::qtype::NS, dns::qtype::SOA, dns::qtype::CNAME}) {
        INFO("qtype " << t);
        check_negative(env.ask("www.example.com.", t), 0, "example.com.");
        CHECK(env.info.kind == gslb::AnswerKind::NoData);
    }
    // HTTPS/SVCB are answered at GSLB records (issue 15), NODATA at other names
    for (std::uint16_t t : {dns::qtype::HTTPS, dns::qtype::SVCB}) {
        check_negative(env.ask("ns1.example.com.", t), 0, "example.com.");
        CHECK(env.info.kind == gslb::AnswerKind::NoData);
    }
    check_negative(env.ask("b.c.example.com.", dns::qtype::A), 0, "example.com.");
    CHECK(env.info.kind == gslb::AnswerKind::NoData);
    check_negative(env.ask("C.example.com.", dns::qtype::AAAA), 0, "example.com.");
    check_negative(env.ask("C.example.com.", dns::qtype::ANY), 0, "example.com.");
    check_negative(env.ask("x.c.example.com.", dns::qtype::A), 3, "example.com.");
    CHECK(env.info.kind == gslb::AnswerKind::NxDomain);
    check_negative(env.ask("nope.example.com.", dns::qtype::TXT), 3, "example.com.");
    check_negative(env.ask("nope.sub.example.com.", dns::qtype::A), 3, "sub.example.com.");

    Msg m = env.ask("www.Example.com.", dns::qtype::ANY);
    CHECK(m.rcode() == 0);
    REQUIRE(m.answer.size() == 1);
    CHECK(m.answer[0].type == dns::qtype::HINFO);
    CHECK(m.answer[0].strings == std::vector<std::string>{"RFC8482", ""});
    m = env.ask("example.com.", dns::qtype::ANY);
    REQUIRE(m.answer.size() == 1);
    CHECK(m.answer[0].type == dns::qtype::HINFO);
}

TEST_CASE("names outside the zones, other classes and zone transfers are refused") {
    Env env;
    auto refused = [](const Msg& m) {
        CHECK(m.rcode() == 5);
        CHECK_FALSE(m.aa());
        CHECK(m.answer.empty());
        CHECK(m.authority.empty());
        CHECK(m.additional.empty());
    };
    refused(env.ask("www.example.org.", dns::qtype::A));
    CHECK(env.info.kind == gslb::AnswerKind::Refused);
    refused(env.ask("xexample.com.", dns::qtype::A));
    refused(env.ask("www.example.com.", dns::qtype::A, 3));  // CH
    refused(env.ask("example.com.", dns::qtype::AXFR));
    refused(env.ask("example.com.", dns::qtype::IXFR));
}

TEST_CASE("in-zone NS names answer with their glue; nested zones and apex records") {
    Env env;
    Msg m = env.ask("NS1.example.com.", dns::qtype::A);
    CHECK(m.rcode() == 0);
    CHECK(addrs(m.answer) == std::vector<std::string>{"192.0.2.53"});
    CHECK(m.answer[0].ttl == 7200);
    m = env.ask("ns1.example.com.", dns::qtype::AAAA);
    CHECK(addrs(m.answer) == std::vector<std::string>{"2001:db8::53"});
    check_negative(env.ask("ns1.example.com.", dns::qtype::TXT), 0, "example.com.");

    m = env.ask("www.sub.example.com.", dns::qtype::A);
    CHECK(addrs(m.answer) == std::vector<std::string>{"192.0.2.100"});
    m = env.ask("sub.example.com.", dns::qtype::SOA);
    REQUIRE(m.answer.size() == 1);
    CHECK(m.answer[0].mname == "ns1.sub.example.com.");

    m = env.ask("apex.test.", dns::qtype::A);
    CHECK(addrs(m.answer) == std::vector<std::string>{"192.0.2.110"});
    m = env.ask("apex.test.", dns::qtype::SOA);
    CHECK(m.answer.size() == 1);
    check_negative(env.ask("apex.test.", dns::qtype::AAAA), 0, "apex.test.");
}

TEST_CASE("TXT debug lists every backend when enabled") {
    auto cfg = make_config();
    SECTION("off") {
        Env env(cfg);
        check_negative(env.ask("www.example.com.", dns::qtype::TXT), 0, "example.com.");
    }
    SECTION("on") {
        cfg->debug_txt = true;
        Env env(cfg);
        env.set_down(rec_of(*env.topo, "www.example.com.").v4[1]);
        Msg m = env.ask("www.example.com.", dns::qtype::TXT);
        REQUIRE(m.answer.size() == 3);
        std::vector<std::string> txt;
        for (const auto& rr : m.answer) {
            CHECK(rr.type == dns::qtype::TXT);
            CHECK(rr.ttl == 30);
            REQUIRE(rr.strings.size() == 1);
            txt.push_back(rr.strings[0]);
        }
        CHECK(txt == std::vector<std::string>{
                         "Backend: 192.0.2.10 | Priority: 1 | Status: healthy | Enabled: true",
                         "Backend: 192.0.2.11 | Priority: 2 | Status: unhealthy | Enabled: true",
                         "Backend: 2001:db8::10 | Priority: 1 | Status: healthy | Enabled: true"});
        m = env.ask("mix.example.com.", dns::qtype::TXT);
        REQUIRE(m.answer.size() == 3);
        CHECK(m.answer[1].strings.at(0) ==
              "Backend: 192.0.2.41 | Priority: 0 | Status: healthy | Enabled: false");
    }
}

TEST_CASE("fallback modes apply when no backend is eligible") {
    Env env;
    auto down_all = [&](const std::string& name) {
        const auto& r = rec_of(*env.topo, name);
        for (const auto* fam : {&r.v4, &r.v6}) {
            for (const auto& b : *fam) env.set_down(b);
        }
    };

    SECTION("fail open serves the enabled backends") {
        down_all("fb-open.example.com.");
        Msg m = env.ask("fb-open.example.com.", dns::qtype::A);
        CHECK(addrs(m.answer) == std::vector<std::string>{"192.0.2.50"});
        CHECK(env.info.fallback);
        CHECK(env.info.kind == gslb::AnswerKind::Answer);
        // Nothing enabled at all: NODATA even though the backend is up.
        check_negative(env.ask("fb-off.example.com.", dns::qtype::A), 0, "example.com.");
        CHECK(env.info.fallback);
    }
    SECTION("fail-open (the default) answers every enabled backend, the mode not applied") {
        down_all("fb-every.example.com.");
        Msg m = env.ask("fb-every.example.com.", dns::qtype::A);
        CHECK(addrs(m.answer) == std::vector<std::string>{"192.0.2.56", "192.0.2.57"});
        CHECK(env.info.fallback);
        CHECK(env.info.ecs_scope == 0);
        // while healthy the mode decides
        env.set_up(rec_of(*env.topo, "fb-every.example.com.").v4[1]);
        m = env.ask("fb-every.example.com.", dns::qtype::A);
        CHECK(addrs(m.answer) == std::vector<std::string>{"192.0.2.57"});
        CHECK_FALSE(env.info.fallback);
    }
    SECTION("fail-open-select applies the mode to the enabled backends") {
        down_all("fb-select.example.com.");
        Msg m = env.ask("fb-select.example.com.", dns::qtype::A);
        CHECK(addrs(m.answer) == std::vector<std::string>{"192.0.2.56"});
        CHECK(env.info.fallback);
    }
    SECTION("fixed rcode") {
        down_all("fb-servfail.example.com.");
        Msg m = env.ask("fb-servfail.example.com.", dns::qtype::A);
        CHECK(m.rcode() == 2);
        CHECK(m.answer.empty());
        CHECK(m.authority.empty());
        CHECK(env.info.kind == gslb::AnswerKind::ServFail);
        CHECK(env.info.fallback);
        down_all("fb-refused.example.com.");
        m = env.ask("fb-refused.example.com.", dns::qtype::A);
        CHECK(m.rcode() == 5);
        CHECK(m.answer.empty());
        CHECK(env.info.rcode == dns::Rcode::Refused);
    }
    SECTION("fixed addresses per family") {
        down_all("fb-ips.example.com.");
        Msg m = env.ask("fb-ips.example.com.", dns::qtype::A);
        CHECK(addrs(m.answer) == std::vector<std::string>{"198.51.100.1"});
        CHECK(m.answer[0].ttl == 30);
        m = env.ask("fb-ips.example.com.", dns::qtype::AAAA);
        CHECK(addrs(m.answer) == std::vector<std::string>{"2001:db8::99"});
        CHECK(env.info.fallback);
        // As CoreDNS-GSLB: backends of the family, all down, and no fallback address of that
        // family -> SERVFAIL
        down_all("fb-ips4.example.com.");
        m = env.ask("fb-ips4.example.com.", dns::qtype::AAAA);
        CHECK(m.rcode() == 2);
        CHECK(m.answer.empty());
        CHECK(env.info.kind == gslb::AnswerKind::ServFail);
        CHECK(env.info.fallback);
        // No backend of the family at all, but a fallback address of it: the fallback
        m = env.ask("fb-ips4.example.com.", dns::qtype::A);
        CHECK(addrs(m.answer) == std::vector<std::string>{"198.51.100.2"});
        CHECK(env.info.fallback);
        // ... and without one: NODATA
        check_negative(env.ask("fb-open.example.com.", dns::qtype::AAAA), 0, "example.com.");
        CHECK_FALSE(env.info.fallback);
    }
    SECTION("cname") {
        down_all("fb-cname.example.com.");
        Msg m = env.ask("fb-Cname.example.com.", dns::qtype::A);
        REQUIRE(m.answer.size() == 1);
        CHECK(m.answer[0].type == dns::qtype::CNAME);
        CHECK(m.answer[0].name == "fb-Cname.example.com.");
        CHECK(m.answer[0].target == "backup.example.net.");
        CHECK(m.answer[0].ttl == 20);
        CHECK(env.info.fallback);
        // the CNAME stands in for a family without backends too (CoreDNS-GSLB)
        m = env.ask("fb-cname.example.com.", dns::qtype::AAAA);
        REQUIRE(m.answer.size() == 1);
        CHECK(m.answer[0].type == dns::qtype::CNAME);
    }
    SECTION("a healthy record is unaffected") {
        down_all("fb-cname.example.com.");
        Msg m = env.ask("fb-open.example.com.", dns::qtype::A);
        CHECK(addrs(m.answer) == std::vector<std::string>{"192.0.2.50"});
        CHECK_FALSE(env.info.fallback);
    }
}

TEST_CASE("the selection's scope and decision class reach AnswerInfo") {
    Env env;
    gslb::ClientInfo c;
    c.addr = ip("10.9.8.7");
    c.source_prefix = 24;
    c.from_ecs = true;
    Msg m = env.ask("client.example.com.", dns::qtype::A, dns::kClassIN, c);
    CHECK(addrs(m.answer) == std::vector<std::string>{"192.0.2.90"});
    CHECK(env.info.ecs_scope == 8);
    CHECK(env.info.decision_class == 1010);
    c.addr = ip("127.0.0.1");
    m = env.ask("client.example.com.", dns::qtype::A, dns::kClassIN, c);
    CHECK(addrs(m.answer) == std::vector<std::string>{"192.0.2.91"});
    CHECK(env.info.decision_class == 1127);
}

TEST_CASE("HTTPS and SVCB at a GSLB record: RFC 9460 ServiceMode with the mode's hints") {
    Env env;
    // www: 192.0.2.10 (priority 1), 192.0.2.11 (2), 2001:db8::10 (1); test-all serves all
    for (std::uint16_t t : {dns::qtype::HTTPS, dns::qtype::SVCB}) {
        Msg m = env.ask("www.example.com.", t);
        CHECK(m.rcode() == 0);
        REQUIRE(m.answer.size() == 1);
        CHECK(m.answer[0].type == t);
        CHECK(m.answer[0].ttl == 30);
        const std::vector<std::uint8_t> want{
            0, 1,                                                  // priority 1
            0,                                                     // target "."
            0, 1, 0, 6,  2,    'h',  '3',  2,    'h', '2',         // alpn h3,h2
            0, 4, 0, 8,  192,  0,    2,    10,   192, 0,   2, 11,  // ipv4hint
            0, 6, 0, 16, 0x20, 0x01, 0x0d, 0xb8, 0,   0,   0, 0,  0, 0, 0, 0, 0, 0, 0, 0x10};
        CHECK(m.answer[0].rdata == want);
    }
    // hints follow health; an IPv4-only record has no ipv6hint
    env.set_down(rec_of(*env.topo, "www.example.com.").v4[0]);
    Msg m = env.ask("www.example.com.", dns::qtype::HTTPS);
    REQUIRE(m.answer.size() == 1);
    const auto& d = m.answer[0].rdata;
    REQUIRE(d.size() == 3 + 10 + 8 + 20);
    CHECK(std::vector<std::uint8_t>(d.begin() + 13, d.begin() + 21) ==
          std::vector<std::uint8_t>{0, 4, 0, 4, 192, 0, 2, 11});
    m = env.ask("v4only.example.com.", dns::qtype::HTTPS);
    REQUIRE(m.answer.size() == 1);
    CHECK(m.answer[0].rdata.size() == 3 + 10 + 8);
    CHECK(m.answer[0].ttl == 45);
}

TEST_CASE("ClassCounts: per class and stripe, summed, the first client kept, overflow counted") {
    gslb::ClassCounts cc(8, 2);  // 8 slots a stripe: a ninth class overflows at most
    const auto a = *util::IpAddr::parse("198.51.100.7");
    const auto b = *util::IpAddr::parse("2001:db8::1");
    const std::uint64_t k1 = gslb::ClassCounts::key_of(0, 4, 0x10000005);
    const std::uint64_t k2 = gslb::ClassCounts::key_of(3, 6, 0);
    CHECK(k1 != 0);
    CHECK(gslb::ClassCounts::key_of(0, 4, 0) != 0);  // 0 marks a free slot
    for (int i = 0; i < 5; ++i) cc.add(0, k1, a, 24, true);
    for (int i = 0; i < 3; ++i) cc.add(1, k1, b, 128, false);  // another stripe: summed
    cc.add(1, k2, b, 128, false);
    auto entries = cc.collect();
    REQUIRE(entries.size() == 2);
    std::sort(entries.begin(), entries.end(),
              [](const auto& x, const auto& y) { return x.queries > y.queries; });
    CHECK(entries[0].record == 0);
    CHECK(entries[0].af == 4);
    CHECK(entries[0].decision_class == 0x10000005);
    CHECK(entries[0].queries == 8);
    CHECK(entries[0].client.family != 0);
    CHECK(entries[1].record == 3);
    CHECK(entries[1].af == 6);
    CHECK(entries[1].queries == 1);
    CHECK(entries[1].client == b);
    CHECK_FALSE(entries[1].from_ecs);
    CHECK(cc.overflow() == 0);
    // more classes than slots in one stripe: the rest is counted, not lost
    for (std::uint32_t c = 0; c < 20; ++c)
        cc.add(0, gslb::ClassCounts::key_of(9, 4, c), a, 24, true);
    std::uint64_t sum = cc.overflow();
    for (const auto& e : cc.collect()) sum += e.queries;
    CHECK(sum == 8 + 1 + 20);
    CHECK(cc.overflow() >= 20 - 8);
}

TEST_CASE("ClassCounts: a reservoir of clients per class, weighted by the queries they stand for") {
    gslb::ClassCounts cc(8, 1);
    const std::uint64_t k = gslb::ClassCounts::key_of(1, 4, 7);
    for (std::uint32_t i = 0; i < 4000; ++i) {
        const auto a =
            util::IpAddr::v4(10, static_cast<std::uint8_t>(i >> 16),
                             static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i));
        cc.add(0, k, a, 32, false);
    }
    const auto entries = cc.collect();
    REQUIRE(entries.size() == 1);
    const auto& e = entries[0];
    CHECK(e.queries == 4000);
    REQUIRE(e.samples.size() == gslb::ClassCounts::kSamples);
    double weight = 0;
    int late = 0;
    for (const auto& s : e.samples) {
        weight += s.weight;
        const unsigned i = s.client.bytes[2] << 8 | s.client.bytes[3];
        late += i >= 400 ? 1 : 0;  // past the first tenth of the queries
    }
    CHECK(weight == Approx(4000));
    CHECK(late >= 5);  // uniform: 7.2 expected; the first eight alone would give 0
}
