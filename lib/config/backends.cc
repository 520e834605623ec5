// Backend lists that arrive at run time (the API's PUT body, discovery answers), read with
// the zone file's own parser so that they are validated exactly like a zone file.
#include <algorithm>

#include "config/yaml_util.hh"

namespace gslbd::config {

namespace {

using detail::MapReader;
using detail::Val;

yaml::Document parse_text(std::string_view text, const std::string& source) {
    try {
        return yaml::Document::parse(text);
    } catch (const yaml::SyntaxError& e) {
        throw ConfigError(
            SourcePos{source, static_cast<int>(e.line()) + 1, static_cast<int>(e.column()) + 1}, "",
            std::string("syntax error: ") + e.what());
    }
}

// The checks are the template's (shared): one without a port of its own becomes a new
// check that probes the backend's port.
void finish(Backend& b, int port, CheckInterner* checks) {
    if (port != 0) b.port = port;
    if (b.port == 0) return;
    for (auto& hc : b.healthchecks) {
        if (hc->port != 0) continue;
        HealthCheck c = *hc;
        c.port = b.port;
        c.pos = hc.pos();
        hc = checks != nullptr ? checks->intern(std::move(c)) : CheckRef(std::move(c));
    }
}

}  // namespace

Backend discovered_backend(const Discovery& d, const util::IpAddr& address, int port,
                           CheckInterner* checks) {
    Backend b = d.defaults != nullptr ? *d.defaults : Backend{};
    b.address = address;
    b.address_text = address.to_string();
    b.pos = d.pos;
    finish(b, port, checks);
    return b;
}

std::vector<Backend> parse_backend_list(std::string_view text, const std::string& source,
                                        const Zone& zone) {
    const yaml::Document doc = parse_text(text, source);
    const FileName file(source);
    Val root(file, doc);
    Val list = root;
    if (root.is_map()) {
        MapReader m(root, {"backends"});
        list = m.require("backends");
    }
    if (!list.is_seq()) list.fail("expected a list of backends (or {\"backends\": [...]})");
    const auto items = list.items();
    if (items.empty()) list.fail("a record needs at least one backend");
    static const detail::Profiles kNone;
    const detail::Profiles& profiles = zone.profiles != nullptr ? *zone.profiles : kNone;
    CheckInterner checks;
    std::vector<Backend> out;
    out.reserve(items.size());
    for (const auto& item : items) out.push_back(detail::parse_backend(item, profiles, checks));
    return out;
}

std::vector<Backend> parse_discovered_list(std::string_view text, const std::string& source,
                                           const Discovery& d) {
    const yaml::Document doc = parse_text(text, source);
    const FileName file(source);
    Val root(file, doc);
    if (!root.is_seq())
        root.fail("expected a JSON list of addresses or of {\"address\": ..., \"port\": ...}");
    const auto items = root.items();
    if (items.empty()) root.fail("the list is empty (the last good pool is kept)");
    CheckInterner checks;
    std::vector<Backend> out;
    for (const auto& item : items) {
        if (item.is_scalar()) {
            out.push_back(discovered_backend(d, detail::parse_ip(item), 0, &checks));
            continue;
        }
        if (!item.is_map()) item.fail("expected an address or an {address, port, ...} object");
        // The object's own keys over the template: read it as a zone-file backend after
        // dropping keys a registry may add that are not ours.
        static constexpr std::string_view kKeys[] = {
            "address", "port",    "priority", "weight", "enable",   "description",
            "tags",    "country", "city",     "asn",    "location", "continent"};
        Backend b = d.defaults != nullptr ? *d.defaults : Backend{};
        int port = 0;
        std::optional<util::IpAddr> addr;
        for (const auto& e : item.entries()) {
            if (std::find(std::begin(kKeys), std::end(kKeys), e.key) == std::end(kKeys)) continue;
            const Val& x = e.value;
            if (e.key == "address") {
                addr = detail::parse_ip(x);
            } else if (e.key == "port") {
                port = static_cast<int>(x.integer(1, 65535));
            } else if (e.key == "priority") {
                b.priority = static_cast<int>(x.integer(0, 1'000'000));
            } else if (e.key == "weight") {
                b.weight = static_cast<int>(x.integer(0, 1'000'000));
            } else if (e.key == "enable") {
                b.enable = x.boolean();
            } else if (e.key == "description") {
                b.description = x.is_null() ? "" : x.str();
            } else {
                detail::read_backend_list_key(e.key, x, b);
            }
        }
        if (!addr) item.fail("an entry needs an \"address\"");
        b.address = *addr;
        b.address_text = addr->to_string();
        b.pos = item.pos();
        finish(b, port, &checks);
        out.push_back(std::move(b));
    }
    return out;
}

std::vector<Backend> parse_consul_catalog(std::string_view text, const std::string& source,
                                          const Discovery& d) {
    const yaml::Document doc = parse_text(text, source);
    const FileName file(source);
    Val root(file, doc);
    if (!root.is_seq()) root.fail("expected the catalog's JSON list of service entries");
    const auto items = root.items();
    if (items.empty())
        root.fail("service '" + d.service + "' has no instances (the last good pool is kept)");
    CheckInterner checks;
    std::vector<Backend> out;
    for (const auto& item : items) {
        if (!item.is_map()) item.fail("expected a service entry object");
        std::optional<Val> service_address, address, port;
        for (const auto& e : item.entries()) {
            if (e.key == "ServiceAddress") service_address = e.value;
            if (e.key == "Address") address = e.value;
            if (e.key == "ServicePort") port = e.value;
        }
        std::optional<Val> a =
            service_address && service_address->is_scalar() && !service_address->text().empty()
                ? service_address
                : address;
        if (!a || !a->is_scalar() || a->text().empty())
            item.fail("the entry has neither ServiceAddress nor Address");
        const int p = port && !port->is_null() && port->text() != "0"
                          ? static_cast<int>(port->integer(1, 65535))
                          : 0;
        out.push_back(discovered_backend(d, detail::parse_ip(*a), p, &checks));
    }
    return out;
}

}  // namespace gslbd::config
