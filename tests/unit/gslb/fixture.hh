#pragma once
/// Builders for config::Config in code (no YAML loader involved) and for parsed queries.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "config/model.hh"
#include "decode.hh"
#include "dns/query.hh"
#include "gslb/snapshot.hh"
#include "test_policies.hh"

namespace fixture {

using namespace gslbd;

inline util::IpAddr ip(const char* text) {
    auto a = util::IpAddr::parse(text);
    if (!a) throw std::runtime_error(std::string("bad test address ") + text);
    return *a;
}

inline config::Backend backend(const char* addr, int priority = 0, bool enable = true,
                               int line = 10) {
    config::Backend b;
    b.address = ip(addr);
    b.address_text = addr;
    b.priority = priority;
    b.enable = enable;
    b.pos = {"zone.yml", line, 7};
    return b;
}

inline config::Record record(const std::string& name, std::string_view mode,
                             std::vector<config::Backend> backends, std::uint32_t ttl = 30,
                             int line = 5) {
    config::Record r;
    r.name = name;
    r.mode = std::string(mode);
    r.ttl = ttl;
    r.backends = std::move(backends);
    r.pos = {"zone.yml", line, 3};
    return r;
}

inline config::Zone zone(const std::string& name) {
    config::Zone z;
    z.name = name;
    z.soa.mname = "ns1." + name;
    z.soa.rname = "hostmaster." + name;
    z.soa.serial = 2024010101;
    z.soa.ttl = 3600;
    z.soa.minimum = 60;
    z.ns_ttl = 7200;
    z.pos = {"gslbd.yml", 3, 5};
    return z;
}

/// A query as parse_query would leave it; `name` keeps its letter case.
inline dns::Query query(const std::string& name, std::uint16_t qtype,
                        std::uint16_t qclass = dns::kClassIN) {
    dns::Query q;
    q.id = 0x1234;
    q.flags = dns::flag::RD;
    q.qtype = qtype;
    q.qclass = qclass;
    auto wire = testdns::encode_name(name);
    std::memcpy(q.qname.data(), wire.data(), wire.size());
    dns::lower_name(q.qname.data(), q.qname_lower.data(), wire.size());
    q.qname_len = static_cast<std::uint8_t>(wire.size());
    for (std::size_t o = 0; wire[o] != 0; o += wire[o] + 1u) ++q.qname_labels;
    q.question_end = static_cast<std::uint16_t>(dns::kHeaderSize + wire.size() + 4);
    return q;
}

}  // namespace fixture
