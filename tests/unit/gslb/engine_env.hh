#pragma once
// Test helpers of unit_gslb: a configuration of two zones with records of each kind
// (make_config), a topology with every backend up and a worker to ask it (Env).
#include <array>
#include <catch2/catch.hpp>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "dns/response.hh"
#include "fixture.hh"
#include "gslb/engine.hh"

namespace engine_env {

using namespace gslbd;
using fixture::backend;
using fixture::ip;
using fixture::record;
using testdns::Msg;

inline std::shared_ptr<config::Config> make_config() {
    auto cfg = std::make_shared<config::Config>();
    cfg->file = "gslbd.yml";

    auto z = fixture::zone("example.com.");
    z.ns.push_back({"ns1.example.com.", {ip("192.0.2.53"), ip("2001:db8::53")}});
    z.ns.push_back({"ns.other.net.", {ip("198.51.100.53")}});  // out of zone: no glue
    z.records.push_back(
        record("www.example.com.", kTestAll,
               {backend("192.0.2.10", 1), backend("192.0.2.11", 2), backend("2001:db8::10", 1)}));
    z.records.push_back(record("v4only.example.com.", kTestAll, {backend("192.0.2.20")}, 45));
    z.records.push_back(record("a.b.c.example.com.", kTestAll, {backend("192.0.2.30")}));
    z.records.push_back(
        record("mix.example.com.", kTestAll,
               {backend("192.0.2.40"), backend("192.0.2.41", 0, false), backend("192.0.2.42")}));
    z.records.push_back(record("fb-open.example.com.", kTestAll,
                               {backend("192.0.2.50"), backend("192.0.2.51", 0, false)}));
    z.records.push_back(record("fb-off.example.com.", kTestAll, {backend("192.0.2.55", 0, false)}));
    z.records.push_back(
        record("fb-every.example.com.", kTestPicky,
               {backend("192.0.2.56"), backend("192.0.2.57", 1), backend("192.0.2.58", 0, false)}));
    auto select = record("fb-select.example.com.", kTestPicky,
                         {backend("192.0.2.56"), backend("192.0.2.57", 1)});
    select.fallback.mode = config::FallbackMode::FailOpenSelect;
    z.records.push_back(select);
    auto servfail = record("fb-servfail.example.com.", kTestAll, {backend("192.0.2.60")});
    servfail.fallback.mode = config::FallbackMode::Rcode;
    servfail.fallback.rcode = 2;
    z.records.push_back(servfail);
    auto refused = record("fb-refused.example.com.", kTestAll, {backend("192.0.2.61")});
    refused.fallback.mode = config::FallbackMode::Rcode;
    refused.fallback.rcode = 5;
    z.records.push_back(refused);
    auto ips =
        record("fb-ips.example.com.", kTestAll, {backend("192.0.2.70"), backend("2001:db8::70")});
    ips.fallback.mode = config::FallbackMode::Ips;
    ips.fallback.ips = {ip("198.51.100.1"), ip("2001:db8::99")};
    z.records.push_back(ips);
    auto ips4 = record("fb-ips4.example.com.", kTestAll, {backend("2001:db8::71")});
    ips4.fallback.mode = config::FallbackMode::Ips;
    ips4.fallback.ips = {ip("198.51.100.2")};
    z.records.push_back(ips4);
    auto cname = record("fb-cname.example.com.", kTestAll, {backend("192.0.2.80")}, 20);
    cname.fallback.mode = config::FallbackMode::Cname;
    cname.fallback.cname = "backup.example.net.";
    z.records.push_back(cname);
    z.records.push_back(record("client.example.com.", kTestByClient,
                               {backend("192.0.2.90", 10), backend("192.0.2.91", 127)}));
    cfg->zones.push_back(z);

    auto sub = fixture::zone("sub.example.com.");
    sub.ns.push_back({"ns1.sub.example.com.", {ip("192.0.2.54")}});
    sub.records.push_back(record("www.sub.example.com.", kTestAll, {backend("192.0.2.100")}));
    cfg->zones.push_back(sub);

    auto apex = fixture::zone("apex.test.");
    apex.ns.push_back({"ns.apex.test.", {ip("192.0.2.120")}});
    apex.records.push_back(record("apex.test.", kTestAll, {backend("192.0.2.110")}));
    cfg->zones.push_back(apex);
    return cfg;
}

inline const gslb::RecordRt& rec_of(const gslb::Topology& t, const std::string& name) {
    for (const auto& r : t.records) {
        if (r.cfg->name == name) return r;
    }
    throw std::runtime_error("no record " + name);
}

struct Env {
    std::shared_ptr<const gslb::Topology> topo;
    gslb::Snapshot snap;
    gslb::WorkerState ws{42};
    gslb::AnswerInfo info;

    explicit Env(std::shared_ptr<config::Config> cfg = make_config()) {
        topo = gslb::build_topology(cfg, nullptr);
        snap.topo = topo;
        snap.health = gslb::all_up(*topo);
        ws.prepare(*topo);
    }
    void set_down(const gslb::BackendRt& b) {
        auto h = std::make_shared<gslb::Health>(*snap.health);
        h->up.at(b.id) = 0;
        snap.health = h;
    }
    void set_up(const gslb::BackendRt& b) {
        auto h = std::make_shared<gslb::Health>(*snap.health);
        h->up.at(b.id) = 1;
        snap.health = h;
    }
    Msg ask(const std::string& name, std::uint16_t qtype, std::uint16_t qclass = dns::kClassIN,
            const gslb::ClientInfo& client = {}) {
        auto q = fixture::query(name, qtype, qclass);
        std::array<std::uint8_t, 4096> buf{};
        dns::ResponseWriter w(buf, buf.size());
        info = gslb::answer(snap, q, client, ws, w);
        std::size_t n = w.finish();
        Msg m = testdns::decode({buf.data(), n});
        REQUIRE(m.id == 0x1234);
        REQUIRE(m.qr());
        REQUIRE(m.qdcount == 1);
        REQUIRE(m.qname == name);  // question echoed with the client's letter case
        REQUIRE(m.qtype == qtype);
        return m;
    }
};

inline std::vector<std::string> addrs(const std::vector<testdns::Rr>& rrs) {
    std::vector<std::string> out;
    for (const auto& r : rrs) out.push_back(r.addr);
    return out;
}

}  // namespace engine_env
