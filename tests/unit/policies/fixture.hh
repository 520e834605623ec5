#pragma once
// Hand-built topologies for policy tests (no build_topology: these are plain structs).
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "config/model.hh"
#include "geo/geo.hh"
#include "gslb/policy.hh"
#include "gslb/snapshot.hh"

namespace gslbd::test {

inline util::IpAddr ip(const char* text) {
    auto a = util::IpAddr::parse(text);
    REQUIRE(a.has_value());
    return *a;
}

inline gslb::BackendRt backend(const char* addr, std::uint32_t id, std::int32_t priority = 0,
                               std::uint32_t weight = 1) {
    gslb::BackendRt b;
    b.addr = ip(addr);
    b.id = id;
    b.priority = priority;
    b.weight = weight;
    return b;
}

inline const gslb::Policy& policy(const char* name) {
    const gslb::Policy* p = gslb::find_policy(name);
    REQUIRE(p != nullptr);
    return *p;
}

/// One topology with records added by hand, a snapshot over it and a worker state.
struct World {
    std::shared_ptr<gslb::Topology> topo = std::make_shared<gslb::Topology>();
    gslb::Snapshot snap;
    gslb::WorkerState ws{12345};

    gslb::RecordRt& add_record(std::vector<gslb::BackendRt> v4,
                               std::vector<gslb::BackendRt> v6 = {}) {
        gslb::RecordRt r;
        r.id = static_cast<std::uint32_t>(topo->records.size());
        r.v4 = std::move(v4);
        r.v6 = std::move(v6);
        topo->records.push_back(std::move(r));
        return topo->records.back();
    }
    /// Call after the last add_record (records may move while the vector grows).
    void finish() {
        std::uint32_t n = 0;
        for (const auto& r : topo->records)
            n += static_cast<std::uint32_t>(r.v4.size() + r.v6.size());
        topo->backend_count = n;
        // Two state words per record, as roundrobin declares (build_topology asks the
        // record's policy; these records have none).
        topo->state_words = 0;
        for (auto& r : topo->records) {
            r.state_offset = static_cast<std::uint32_t>(topo->state_words);
            r.state_words = 2;
            topo->state_words += 2;
        }
        auto health = std::make_shared<gslb::Health>();
        health->up.assign(n + 64, 1);
        snap.generation = 1;
        snap.topo = topo;
        snap.health = health;
        ws.prepare(*topo);
    }

    gslb::Selection select(const gslb::Policy& p, std::uint32_t rec_id, bool v6,
                           const std::vector<std::uint16_t>& eligible,
                           const gslb::ClientInfo& client) {
        const auto& rec = topo->records.at(rec_id);
        gslb::SelectContext ctx{snap,
                                rec,
                                v6 ? std::span<const gslb::BackendRt>(rec.v6)
                                   : std::span<const gslb::BackendRt>(rec.v4),
                                eligible,
                                client,
                                ws,
                                v6 ? std::uint8_t{6} : std::uint8_t{4}};
        gslb::Selection out;
        p.select(ctx, out);
        return out;
    }
    gslb::Selection select(const gslb::Policy& p, std::uint32_t rec_id, bool v6,
                           const std::vector<std::uint16_t>& eligible) {
        gslb::ClientInfo client{ip("127.0.0.1"), 32, false};
        return select(p, rec_id, v6, eligible, client);
    }
};

/// A location map over `nets[i]` -> `names[i]` (the property tests' small world).
inline std::shared_ptr<geo::GeoDbs> location_world(std::initializer_list<const char*> nets,
                                                   std::initializer_list<const char*> names) {
    auto geo = std::make_shared<geo::GeoDbs>();
    std::vector<config::LocationEntry> entries;
    auto name = names.begin();
    for (const char* net : nets) {
        config::LocationEntry e;
        e.prefix = *util::IpPrefix::parse(net);
        e.location = *name++;
        entries.push_back(e);
    }
    geo->locations = std::make_unique<geo::LocationMap>(entries);
    return geo;
}

inline std::vector<std::uint16_t> all_of(std::span<const gslb::BackendRt> family) {
    std::vector<std::uint16_t> v;
    for (std::size_t i = 0; i < family.size(); ++i) v.push_back(static_cast<std::uint16_t>(i));
    return v;
}

inline std::vector<std::uint16_t> picked(const gslb::Selection& s) {
    return {s.idx.begin(), s.idx.begin() + s.count};
}

inline std::string env_path(const char* var) {
    const char* v = std::getenv(var);
    INFO("environment variable " << var << " (set by tests/unit/policies/meson.build)");
    REQUIRE(v != nullptr);
    return v;
}

}  // namespace gslbd::test
