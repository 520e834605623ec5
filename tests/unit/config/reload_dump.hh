#pragma once
// A canonical dump of everything a configuration's zones, records and profiles hold, with
// positions (test_reload_diff.cc compares incremental reads with fresh loads through it), and
// the main file both reload tests load.
#include <ostream>
#include <sstream>
#include <string>

#include "config/model.hh"

namespace reload_dump {

using namespace gslbd;
using namespace gslbd::config;

// ---- a canonical dump of everything a zone's records and profiles hold -------------------

inline std::string pos(const SourcePos& p) {
    return p.to_string();
}

template <typename V>
inline std::string list(const V& v) {
    std::string s = "[";
    for (const auto& x : v) {
        std::ostringstream o;
        o << x;
        s += o.str() + ",";
    }
    return s + "]";
}

inline void dump(std::ostream& o, const CheckRef& ref) {
    const HealthCheck& hc = *ref;
    // a shared check holds no position, or the one its reference says
    if (!(hc.pos == SourcePos{}) && !(hc.pos == ref.pos()))
        o << "    check BODY POS " << pos(hc.pos);
    o << "    check " << hc.type << " supported=" << hc.supported << " @" << pos(ref.pos())
      << " timeout=" << hc.timeout.count() << " rise=" << hc.rise.value_or(-1)
      << " fall=" << hc.fall.value_or(-1) << " port=" << hc.port << " uri=" << hc.uri
      << " method=" << hc.method << " host=" << hc.host << " body=" << hc.expected_body
      << " gauge=" << hc.load_gauge.text << " tls=" << hc.enable_tls << hc.skip_tls_verify
      << hc.tls_cert << hc.tls_key << hc.tls_ca << " keepalive=" << hc.keepalive
      << " q=" << hc.query_name << "/" << hc.query_type << " rcode=" << hc.expected_rcode
      << " addr=" << (hc.expected_address ? hc.expected_address->to_string() : "-")
      << " count=" << hc.count << "\n";
    for (const auto& [k, v] : hc.headers) o << "      header " << k << "=" << v << "\n";
    for (const auto& c : hc.expected_codes) o << "      code " << c.lo << "-" << c.hi << "\n";
    for (const auto& rp : hc.raw_params)
        o << "      raw " << rp.key << "=" << rp.value << " scalar=" << rp.scalar << " @"
          << pos(rp.pos) << "\n";
}

inline void dump(std::ostream& o, const Backend& b) {
    o << "  backend " << b.address.to_string() << " '" << b.address_text << "' prio=" << b.priority
      << " weight=" << b.weight << " enable=" << b.enable << " desc=" << b.description
      << " tags=" << list(b.tags) << " countries=" << list(b.countries)
      << " cities=" << list(b.cities) << " asns=" << list(b.asns)
      << " locations=" << list(b.locations) << " continents=" << list(b.continents)
      << " subdivisions=" << list(b.subdivisions) << " coords=" << b.has_coordinates << ","
      << b.latitude << "," << b.longitude << " rise=" << b.rise.value_or(-1)
      << " fall=" << b.fall.value_or(-1) << " assume=" << b.assume_healthy << " port=" << b.port
      << " timeout=" << (b.timeout ? b.timeout->count() : -1) << " @" << pos(b.pos) << "\n";
    for (const auto& hc : b.healthchecks) dump(o, hc);
}

inline std::string dump(const Record& r) {
    std::ostringstream o;
    o << "record " << r.name << " @" << pos(r.pos) << " mode=" << r.mode << " ttl=" << r.ttl
      << " scrape=" << r.scrape_interval.count() << "/" << r.scrape_timeout.count() << "/"
      << r.scrape_retries << " rise=" << r.rise.value_or(-1) << " fall=" << r.fall.value_or(-1)
      << " geo=" << static_cast<int>(r.geo_priority) << "@" << r.geo_priority_line << ":"
      << r.geo_priority_column << " owner=" << r.owner << " desc=[" << r.description << "]"
      << " alpn=" << list(r.alpn) << " source_hash=" << r.source_hash << "\n";
    const Fallback& f = r.fallback;
    o << "  fallback " << static_cast<int>(f.mode) << " rcode=" << f.rcode << " cname=" << f.cname
      << " ips=";
    for (const auto& ip : f.ips) o << ip.to_string() << ",";
    o << "\n";
    const Gradual& g = r.gradual;
    o << "  scoring " << g.scoring.enabled << " " << g.scoring.window << " "
      << g.scoring.min_success_percent << " " << g.scoring.latency.count() << " "
      << g.scoring.floor_percent << " " << g.scoring.load << " @" << pos(g.scoring.pos) << "\n"
      << "  slow_start " << g.slow_start.window.count() << " " << g.slow_start.min_percent << " @"
      << pos(g.slow_start.pos) << "\n"
      << "  damping " << g.damping.enabled << " " << g.damping.penalty << " " << g.damping.suppress
      << " " << g.damping.reuse << " " << g.damping.half_life.count() << " "
      << g.damping.max_suppress.count() << " @" << pos(g.damping.pos) << "\n"
      << "  dynamic_ttl " << g.ttl.enabled << " " << g.ttl.min << " " << g.ttl.recent.count()
      << " @" << pos(g.ttl.pos) << "\n";
    for (const auto& b : r.backends) dump(o, b);
    if (r.discovery != nullptr) {
        const Discovery& d = *r.discovery;
        o << "  discovery " << d.type_name << " " << d.url << " " << d.service << " "
          << d.datacenter << " " << d.token << " " << d.query_name << " " << d.server.to_string()
          << ":" << d.server_port << " " << d.interval.count() << " " << d.timeout.count() << " @"
          << pos(d.pos) << "\n";
        for (const auto& [k, v] : d.headers) o << "    header " << k << "=" << v << "\n";
        if (d.defaults != nullptr) dump(o, *d.defaults);
    }
    return o.str();
}

inline std::string dump(const Config& c) {
    std::ostringstream o;
    for (const auto& z : c.zones) {
        o << "zone " << z.name << "\n";
        if (z.profiles != nullptr)
            for (const auto& [name, hc] : *z.profiles) {
                o << "  profile " << name << "\n";
                dump(o, CheckRef(hc));
            }
        for (const auto& r : z.records) o << dump(r);
    }
    return o.str();
}

// the main file of both reload tests: one zone, its policy file policy.yml
inline const char* kMain = R"(listen: [127.0.0.1:5353]
zones:
  - name: example.
    policy: policy.yml
    ns:
      - name: ns1.example.
        addresses: 127.0.0.1
)";

}  // namespace reload_dump
