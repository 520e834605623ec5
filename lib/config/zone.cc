// CoreDNS-GSLB zone policy files, read unchanged.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <unordered_map>

#include "config/rebase.hh"
#include "config/yaml_util.hh"

namespace gslbd::config::detail {

namespace {

constexpr long long kMaxTtl = 2147483647;  // RFC 2181 section 8

// Record settings that `defaults` may set and every record inherits.
struct Defaults {
    std::string owner, description;
    std::uint32_t ttl = 30;
    Millis scrape_interval{10000};
    Millis scrape_timeout{5000};
    int scrape_retries = 1;
    std::optional<int> rise, fall;
    util::CompactVector<std::string> alpn;
    Gradual gradual;
    GeoPriority geo_priority = GeoPriority::All;
};

std::string upper(std::string s) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

// `geo_priority`: all (CoreDNS-GSLB's answer, the default) or best, without regard to case.
GeoPriority parse_geo_priority(const Val& v) {
    std::string s = v.nonempty_str();
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (s == "all") return GeoPriority::All;
    if (s == "best") return GeoPriority::Best;
    v.fail("unknown geo_priority '" + v.str() +
           "': use all (every matching backend, whatever its priority, as CoreDNS-GSLB) or "
           "best (only the best priority among them)");
}

// Settings shared by `defaults` and a record.
void common_setting(const MapReader& m, Defaults& d) {
    if (auto x = m.get("owner"); x && !x->is_null()) d.owner = x->str();
    if (auto x = m.get("description"); x && !x->is_null()) d.description = x->str();
    if (auto x = m.get("record_ttl")) d.ttl = static_cast<std::uint32_t>(x->integer(0, kMaxTtl));
    if (auto x = m.get("scrape_interval")) d.scrape_interval = x->duration();
    if (auto x = m.get("scrape_timeout")) d.scrape_timeout = x->duration();
    if (auto x = m.get("scrape_retries")) d.scrape_retries = static_cast<int>(x->integer(0, 100));
    if (auto x = m.get("rise")) d.rise = static_cast<int>(x->integer(1, 100));
    if (auto x = m.get("fall")) d.fall = static_cast<int>(x->integer(1, 100));
    if (auto x = m.get("geo_priority"); x && !x->is_null()) d.geo_priority = parse_geo_priority(*x);
    parse_gradual(m, d.gradual);
    for (const char* k : {"alpn", "svcb_alpn"}) {
        auto x = m.get(k);
        if (!x || x->is_null()) continue;
        d.alpn.clear();
        for (const auto& item : x->one_or_many()) {
            std::string id = item.str();
            if (id.empty() || id.size() > 255)
                item.fail("an ALPN id is 1..255 bytes (h3, h2, http/1.1, ...)");
            d.alpn.push_back(std::move(id));
        }
    }
}

void add_countries(const Val& v, util::CompactVector<std::string>& out) {
    for (const auto& item : v.one_or_many()) {
        std::string s = item.str();
        if (s.empty()) continue;
        std::string u = upper(s);
        if (u.size() != 2 || !std::isalpha(static_cast<unsigned char>(u[0])) ||
            !std::isalpha(static_cast<unsigned char>(u[1])))
            item.fail("'" + s + "' is not a two-letter ISO 3166 country code (FR, US, ...)");
        out.push_back(u);
    }
}

void add_continents(const Val& v, util::CompactVector<std::string>& out) {
    static const char* const kCodes[] = {"AF", "AN", "AS", "EU", "NA", "OC", "SA"};
    for (const auto& item : v.one_or_many()) {
        std::string s = item.str();
        if (s.empty()) continue;
        std::string u = upper(s);
        if (std::none_of(std::begin(kCodes), std::end(kCodes),
                         [&](const char* c) { return u == c; }))
            item.fail("'" + s + "' is not a continent code (AF, AN, AS, EU, NA, OC, SA)");
        out.push_back(u);
    }
}

// "CA" or "US-CA": an ISO 3166-2 subdivision code (1 to 3 letters or digits), optionally
// after its country's code.
void add_subdivisions(const Val& v, util::CompactVector<std::string>& out) {
    for (const auto& item : v.one_or_many()) {
        std::string s = item.str();
        if (s.empty()) continue;
        std::string u = upper(s);
        const std::size_t dash = u.find('-');
        std::string_view code =
            dash == std::string::npos ? std::string_view(u) : std::string_view(u).substr(dash + 1);
        const bool country_ok = dash == std::string::npos ||
                                (dash == 2 && std::isupper(static_cast<unsigned char>(u[0])) &&
                                 std::isupper(static_cast<unsigned char>(u[1])));
        const bool code_ok =
            !code.empty() && code.size() <= 3 && std::all_of(code.begin(), code.end(), [](char c) {
                return std::isupper(static_cast<unsigned char>(c)) ||
                       std::isdigit(static_cast<unsigned char>(c));
            });
        if (!country_ok || !code_ok)
            item.fail("'" + s +
                      "' is not an ISO 3166-2 subdivision code (CA, IDF, or with the country: "
                      "US-CA)");
        out.push_back(u);
    }
}

void add_strings(const Val& v, util::CompactVector<std::string>& out) {
    for (const auto& item : v.one_or_many()) {
        std::string s = item.str();
        if (!s.empty()) out.push_back(s);
    }
}

void add_asns(const Val& v, util::CompactVector<std::uint32_t>& out) {
    for (const auto& item : v.one_or_many()) {
        std::string s = item.str();
        if (s.empty()) continue;
        std::string_view t = s;
        if (t.size() > 2 && (t[0] == 'A' || t[0] == 'a') && (t[1] == 'S' || t[1] == 's'))
            t.remove_prefix(2);
        std::uint64_t n = 0;
        auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
        if (t.empty() || ec != std::errc{} || end != t.data() + t.size() || n == 0 ||
            n > 4294967295ull)
            item.fail("'" + s + "' is not an AS number (AS12345 or 12345, 1..4294967295)");
        out.push_back(static_cast<std::uint32_t>(n));
    }
}

}  // namespace

bool read_backend_list_key(std::string_view key, const Val& v, Backend& b) {
    if (key == "tags") {
        b.tags.clear();
        add_strings(v, b.tags);
    } else if (key == "country") {
        b.countries.clear();
        add_countries(v, b.countries);
    } else if (key == "city") {
        b.cities.clear();
        add_strings(v, b.cities);
    } else if (key == "asn") {
        b.asns.clear();
        add_asns(v, b.asns);
    } else if (key == "location") {
        b.locations.clear();
        add_strings(v, b.locations);
    } else if (key == "continent") {
        b.continents.clear();
        add_continents(v, b.continents);
    } else {
        return false;
    }
    return true;
}

Backend parse_backend(const Val& v, const Profiles& profiles, CheckInterner& checks, bool tmpl) {
    MapReader m(v, {"address",
                    "priority",
                    "weight",
                    "enable",
                    "description",
                    "tags",
                    "port",
                    "timeout",
                    "rise",
                    "fall",
                    "assume_healthy",
                    "country",
                    "city",
                    "asn",
                    "location",
                    "continent",
                    "location_countries",
                    "location_cities",
                    "location_asns",
                    "location_custom",
                    "healthchecks",
                    "subdivision",
                    "location_subdivisions",
                    "latitude",
                    "longitude",
                    "passive"});
    Backend b;
    b.pos = v.pos();
    if (auto addr = tmpl ? m.get("address") : std::optional<Val>(m.require("address"))) {
        if (tmpl) addr->fail("a discovery template has no address: discovery finds them");
        b.address_text = addr->nonempty_str();
        auto ip = util::IpAddr::parse(b.address_text);
        if (!ip) {
            addr->fail("'" + b.address_text +
                       "' is not an IPv4 or IPv6 address (host names are not supported yet)");
        }
        b.address = *ip;
    }
    if (auto x = m.get("priority")) b.priority = static_cast<int>(x->integer(0, 1'000'000));
    if (auto x = m.get("weight")) b.weight = static_cast<int>(x->integer(0, 1'000'000));
    if (auto x = m.get("enable")) b.enable = x->boolean();
    if (auto x = m.get("description"); x && !x->is_null()) b.description = x->str();
    if (auto x = m.get("tags")) add_strings(*x, b.tags);
    if (auto x = m.get("port")) b.port = static_cast<int>(x->integer(1, 65535));
    if (auto x = m.get("timeout")) b.timeout = x->duration();
    if (auto x = m.get("rise")) b.rise = static_cast<int>(x->integer(1, 100));
    if (auto x = m.get("fall")) b.fall = static_cast<int>(x->integer(1, 100));
    if (auto x = m.get("assume_healthy")) b.assume_healthy = x->boolean();
    // `passive: false` (CoreDNS-GSLB's default) is what gslbd does: probe the backend itself.
    if (auto x = m.get("passive"); x && !x->is_null() && x->boolean())
        x->fail(
            "passive: true is not implemented: CoreDNS-GSLB then reads the backend's state from "
            "its shared Redis instead of probing it; gslbd probes every backend itself (nodes "
            "share health through a fleet: `cluster` in the main file, docs/fleet.md). Remove "
            "the key or set it to false");
    // Current spellings and the older location_* lists fill the same fields.
    for (const char* k : {"country", "location_countries"})
        if (auto x = m.get(k)) add_countries(*x, b.countries);
    for (const char* k : {"city", "location_cities"})
        if (auto x = m.get(k)) add_strings(*x, b.cities);
    for (const char* k : {"asn", "location_asns"})
        if (auto x = m.get(k)) add_asns(*x, b.asns);
    for (const char* k : {"location", "location_custom"})
        if (auto x = m.get(k)) add_strings(*x, b.locations);
    if (auto x = m.get("continent")) add_continents(*x, b.continents);
    for (const char* k : {"subdivision", "location_subdivisions"})
        if (auto x = m.get(k)) add_subdivisions(*x, b.subdivisions);
    b.has_coordinates = read_coordinates(m, b.latitude, b.longitude);
    if (auto x = m.get("healthchecks")) {
        const auto items = x->items();
        b.healthchecks.reserve(items.size());
        for (const auto& item : items) {
            HealthCheck hc = parse_healthcheck_item(item, profiles);
            // The backend's port and timeout are the probe's defaults / override, as in
            // CoreDNS-GSLB.
            if (hc.port == 0 && b.port != 0 && !tmpl) hc.port = b.port;
            if (b.timeout) hc.timeout = *b.timeout;
            b.healthchecks.push_back(checks.intern(std::move(hc)));
        }
    }
    return b;
}

std::shared_ptr<const Discovery> parse_discovery(const Val& v, const Profiles& profiles,
                                                 CheckInterner& checks) {
    MapReader m(v, {"type", "url", "service", "datacenter", "token", "headers", "name", "server",
                    "interval", "timeout", "backend"});
    auto d = std::make_shared<Discovery>();
    d->pos = v.pos();
    Val type = m.require("type");
    d->type_name = type.nonempty_str();
    for (char& c : d->type_name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (d->type_name == "http")
        d->type = Discovery::Type::Http;
    else if (d->type_name == "consul")
        d->type = Discovery::Type::Consul;
    else if (d->type_name == "svcb")
        d->type = Discovery::Type::Svcb;
    else if (d->type_name == "https")
        d->type = Discovery::Type::Https;
    else
        type.fail("unknown discovery type '" + type.str() + "': use http, consul, svcb or https");
    const bool dns = d->type == Discovery::Type::Svcb || d->type == Discovery::Type::Https;
    auto only = [&](const char* key, bool allowed, const char* types) {
        if (auto x = m.get(key); x && !allowed)
            x->fail(std::string(key) + " is for discovery type " + types + ", not " + d->type_name);
    };
    only("url", !dns, "http or consul");
    only("service", d->type == Discovery::Type::Consul, "consul");
    only("datacenter", d->type == Discovery::Type::Consul, "consul");
    only("token", d->type == Discovery::Type::Consul, "consul");
    only("headers", d->type == Discovery::Type::Http, "http");
    only("name", dns, "svcb or https");
    only("server", dns, "svcb or https");
    if (!dns) {
        Val url = m.require("url");
        d->url = url.nonempty_str();
        if (d->url.rfind("http://", 0) != 0 && d->url.rfind("https://", 0) != 0)
            url.fail("'" + d->url + "' is not an http:// or https:// URL");
        while (d->type == Discovery::Type::Consul && d->url.back() == '/') d->url.pop_back();
    }
    if (d->type == Discovery::Type::Consul) {
        Val service = m.require("service");
        d->service = service.nonempty_str();
        for (char c : d->service)
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
                service.fail("a Consul service name is letters, digits, '-', '_' and '.'");
        if (auto x = m.get("datacenter"); x && !x->is_null()) d->datacenter = x->str();
        if (auto x = m.get("token"); x && !x->is_null()) d->token = x->str();
    }
    if (auto x = m.get("headers"); x && !x->is_null()) {
        for (const auto& e : x->entries()) d->headers.emplace_back(e.key, e.value.str());
    }
    if (dns) {
        Val name = m.require("name");
        d->query_name = normalize_name(name.nonempty_str(), name.pos(), name.path());
        Val server = m.require("server");
        // "127.0.0.1", "127.0.0.1:5353", "::1", "[::1]:5353"
        std::string text = server.nonempty_str();
        std::string host = text;
        if (!text.empty() && text.front() == '[') {
            const auto close = text.find(']');
            if (close == std::string::npos) server.fail("'" + text + "': missing ']'");
            host = text.substr(1, close - 1);
            if (close + 1 < text.size()) {
                if (text[close + 1] != ':') server.fail("'" + text + "': expected ]:PORT");
                text = text.substr(close + 2);
            } else {
                text.clear();
            }
        } else if (std::count(text.begin(), text.end(), ':') == 1) {
            const auto colon = text.find(':');
            host = text.substr(0, colon);
            text = text.substr(colon + 1);
        } else {
            text.clear();
        }
        auto ip = util::IpAddr::parse(host);
        if (!ip) server.fail("'" + host + "' is not an IP address (the upstream DNS server)");
        d->server = *ip;
        if (!text.empty()) {
            unsigned port = 0;
            auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
            if (ec != std::errc{} || end != text.data() + text.size() || port == 0 || port > 65535)
                server.fail("bad port '" + text + "' (1..65535)");
            d->server_port = static_cast<std::uint16_t>(port);
        }
    }
    if (auto x = m.get("interval")) d->interval = x->duration(Millis(100));
    if (auto x = m.get("timeout")) d->timeout = x->duration(Millis(10));
    if (d->timeout > d->interval) d->timeout = d->interval;
    if (auto x = m.get("backend"); x && !x->is_null())
        d->defaults = std::make_shared<const Backend>(parse_backend(*x, profiles, checks, true));
    else
        d->defaults = std::make_shared<const Backend>();
    return d;
}

Profiles load_profiles_file(const std::string& path, const SourcePos& blame,
                            const std::string& field, std::uint64_t* hash_out) {
    const yaml::Document doc = load_yaml_file(path, blame, field);
    const FileName file(path);
    Val root(file, doc);
    if (hash_out != nullptr) *hash_out = root.content_hash();
    Profiles out;
    if (root.is_null()) return out;
    MapReader top(root, {"healthcheck_profiles"});
    if (auto p = top.get("healthcheck_profiles"))
        for (const auto& e : p->entries()) out.emplace(e.key, parse_healthcheck_def(e.value));
    return out;
}

namespace {

// `failover_policy` (CoreDNS-GSLB's current key: fail-open, fail-closed, fail-specific) and
// `fallback_policy` (the older key: rcode, fallback_ips, fallback_cname, fail_open) take the
// same mode names, so a file may use either spelling; only the default when the block has
// no `mode` differs, as in CoreDNS-GSLB (fail-open for the new key, rcode for the old one).
Fallback parse_fallback(const Val& v, bool failover_key) {
    MapReader m(v, {"mode", "fallback_ips", "fallback_cname", "rcode"});
    Fallback f;
    f.mode = failover_key ? FallbackMode::FailOpen : FallbackMode::Rcode;
    bool specific = false;  // fail-specific: the CNAME when there is one, else the addresses
    if (auto x = m.get("mode")) {
        std::string mode = x->nonempty_str();
        for (char& c : mode) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::replace(mode.begin(), mode.end(), '_', '-');
        if (mode == "rcode" || mode == "fail-closed")
            f.mode = FallbackMode::Rcode;
        else if (mode == "fallback-ips")
            f.mode = FallbackMode::Ips;
        else if (mode == "fallback-cname")
            f.mode = FallbackMode::Cname;
        else if (mode == "fail-specific")
            specific = true;
        else if (mode == "fail-open")
            f.mode = FallbackMode::FailOpen;
        else if (mode == "fail-open-select")
            f.mode = FallbackMode::FailOpenSelect;
        else
            x->fail("unknown " + std::string(failover_key ? "failover" : "fallback") + " mode '" +
                    x->str() +
                    "': use fail-open, fail-closed, fail-specific, fail-open-select, rcode, "
                    "fallback_ips, fallback_cname or fail_open");
    }
    if (auto x = m.get("fallback_ips")) {
        for (const auto& item : x->one_or_many()) f.ips.push_back(parse_ip(item));
    }
    if (auto x = m.get("fallback_cname"); x && !x->is_null() && !x->str().empty())
        f.cname = normalize_name(x->str(), x->pos(), x->path());
    if (auto x = m.get("rcode"); x && !x->is_null()) f.rcode = parse_rcode(*x);
    if (specific) {
        if (f.cname.empty() && f.ips.empty())
            v.fail("mode fail-specific needs fallback_ips or fallback_cname");
        f.mode = f.cname.empty() ? FallbackMode::Ips : FallbackMode::Cname;
    }
    if (f.mode == FallbackMode::Ips && f.ips.empty())
        v.fail("mode fallback_ips needs a non-empty fallback_ips list");
    if (f.mode == FallbackMode::Cname && f.cname.empty())
        v.fail("mode fallback_cname needs fallback_cname");
    return f;
}

}  // namespace

namespace {

// What every record of a policy file reads besides its own YAML.
struct FileScope {
    Defaults defaults;
    Profiles profiles;
    /// In every record's source_hash: the global profiles, `defaults` and the file's
    /// `healthcheck_profiles` (their content, not where they are).
    std::uint64_t shared_hash = 0;
};

FileScope read_scope(const MapReader& top, const Profiles& global,
                     std::shared_ptr<const Profiles>* profiles_out, std::uint64_t inherited) {
    FileScope scope;
    if (auto d = top.get("defaults")) {
        MapReader m(*d, {"owner", "description", "record_ttl", "scrape_interval", "scrape_timeout",
                         "scrape_retries", "rise", "fall", "alpn", "svcb_alpn", "geo_priority",
                         "slow_start", "flap_damping", "dynamic_ttl", "scoring"});
        common_setting(m, scope.defaults);
    }
    scope.profiles = global;  // the zone's own of the same name win
    if (auto p = top.get("healthcheck_profiles")) {
        for (const auto& e : p->entries())
            scope.profiles.insert_or_assign(e.key, parse_healthcheck_def(e.value));
    }
    if (profiles_out != nullptr) *profiles_out = std::make_shared<const Profiles>(scope.profiles);
    scope.shared_hash = inherited;
    if (auto d = top.get("defaults")) scope.shared_hash = d->content_hash(scope.shared_hash);
    if (auto p = top.get("healthcheck_profiles"))
        scope.shared_hash = p->content_hash(scope.shared_hash + 1);
    return scope;
}

void check_absolute(const KeyVal& e) {
    if (e.key.empty() || e.key.back() != '.') {
        throw ConfigError(e.key_pos, e.value.path(),
                          "record name '" + e.key + "' must be absolute (end with a dot)");
    }
}

// The record of entry `e` of `records` (its name already in r.name, its hashes set).
// `checks`: the file's (its records' backends share equal checks).
void parse_record(const KeyVal& e, Record& r, const std::string& zone_name, const FileScope& scope,
                  CheckInterner& checks) {
    const Val& rv = e.value;
    if (!in_zone(r.name, zone_name)) {
        throw ConfigError(e.key_pos, rv.path(),
                          "record '" + r.name + "' is outside zone '" + zone_name +
                              "' whose policy file this is");
    }
    if (rv.is_null()) rv.fail("the record is empty: it needs backends");
    MapReader m(rv, {"mode",           "record_ttl",      "scrape_interval",
                     "scrape_timeout", "scrape_retries",  "rise",
                     "fall",           "owner",           "description",
                     "backends",       "fallback_policy", "failover_policy",
                     "alpn",           "svcb_alpn",       "discovery",
                     "slow_start",     "flap_damping",    "dynamic_ttl",
                     "scoring",        "geo_priority"});
    if (auto x = m.get("discovery"); x && !x->is_null())
        r.discovery = parse_discovery(*x, scope.profiles, checks);
    Defaults d = scope.defaults;
    common_setting(m, d);
    r.owner = d.owner;
    r.description = d.description;
    r.ttl = d.ttl;
    r.scrape_interval = d.scrape_interval;
    r.scrape_timeout = d.scrape_timeout;
    r.scrape_retries = d.scrape_retries;
    r.rise = d.rise;
    r.fall = d.fall;
    r.alpn = d.alpn;
    r.gradual = d.gradual;
    r.geo_priority = d.geo_priority;
    if (auto x = m.get("geo_priority"); x && !x->is_null()) {
        const SourcePos at = x->pos();  // a mode that does not read it refuses it here
        r.geo_priority_line = at.line;
        r.geo_priority_column = static_cast<std::uint16_t>(std::min(at.column, 65535));
    }
    // Kept as written: the modes and their spellings are the policies' own (lib/gslb's
    // registry resolves them when the topology is built).
    if (auto x = m.get("mode")) r.mode = x->nonempty_str();
    {
        auto older = m.get("fallback_policy");
        auto current = m.get("failover_policy");
        if (older && current && !older->is_null() && !current->is_null())
            current->fail(
                "a record takes one of failover_policy and fallback_policy, not both "
                "(they are two spellings of the same setting)");
        if (current && !current->is_null()) r.fallback = parse_fallback(*current, true);
        if (older && !older->is_null()) r.fallback = parse_fallback(*older, false);
    }
    auto backends = m.get("backends");
    if (r.discovery == nullptr && (!backends || backends->is_null() || backends->items().empty())) {
        throw ConfigError(backends ? backends->pos() : rv.pos(), join_key(rv.path(), "backends"),
                          "a record needs at least one backend");
    }
    const auto items = backends ? backends->items() : std::vector<Val>{};
    r.backends.reserve(items.size());
    for (const auto& bv : items) r.backends.push_back(parse_backend(bv, scope.profiles, checks));
    check_gradual(r);
}

// The positions a record may hold from outside its own text, in a fixed order: its file's
// `defaults` blocks and every health check profile in force (the file's own over the global
// ones). A reload compares the list of the previous load (RecordList::scope_positions) with
// this one: equal content gives lists of the same shape, so an old position maps to the new
// one at the same index.
std::vector<SourcePos> scope_positions(const FileScope& scope) {
    std::vector<SourcePos> out;
    const Gradual& g = scope.defaults.gradual;
    for (const SourcePos* p : {&g.scoring.pos, &g.slow_start.pos, &g.damping.pos, &g.ttl.pos})
        out.push_back(*p);
    for (const auto& [name, hc] : scope.profiles) {
        out.push_back(hc.pos);
        for (const auto& rp : hc.raw_params) out.push_back(rp.pos);
    }
    return out;
}

// The previous load's records by name (a reload): an unchanged one is shared, not parsed.
std::unordered_map<std::string_view, std::size_t> index_previous(const Reuse& reuse) {
    std::unordered_map<std::string_view, std::size_t> previous;
    if (reuse.records != nullptr) {
        previous.reserve(reuse.records->size());
        for (std::size_t i = 0; i < reuse.records->size(); ++i)
            previous.emplace((*reuse.records)[i].name, i);
    }
    return previous;
}

// A record's identity from its entry under `records:` (both ways of reading a file): its
// position, its normalised name and the hashes a reload compares to reuse the previous one.
Record record_head(const KeyVal& e, const FileScope& scope) {
    check_absolute(e);
    Record r;
    r.pos = e.key_pos;
    r.name = normalize_name(e.key, e.key_pos, e.value.path());
    r.source_hash = e.value.content_hash(scope.shared_hash);
    r.layout_hash = e.value.layout_hash();
    return r;
}

// One file's counts added to the reload's (Reuse::stats, when it asks for them).
void add_counts(LoadStats* stats, const LoadStats& counts) {
    if (stats == nullptr) return;
    stats->parsed += counts.parsed;
    stats->shared += counts.shared;
    stats->moved += counts.moved;
}

// The file read piece by piece (split_policy_text): `head` parsed for `defaults` and the
// profiles, then each record whose text (or what it inherits) changed parsed alone with its
// lines where they are in the file; the others taken from the previous load. nullopt when a
// piece does not parse as the one record the cut promised (then the caller reads the file
// whole, and a syntax error is reported as a whole parse sees it).
std::optional<RecordList> load_split(const PolicyText& split, const FileName& file,
                                     const std::string& zone_name, const Profiles& global,
                                     std::shared_ptr<const Profiles>* profiles_out,
                                     const Reuse& reuse) {
    const std::string& path = file.str();
    yaml::Document head;
    try {
        head = yaml::Document::parse(split.head);
    } catch (const yaml::SyntaxError&) {
        return std::nullopt;  // the whole parse reports it (or finds the cut was wrong)
    }
    Val root(file, head);
    if (!root.is_map()) return std::nullopt;
    MapReader top(root, {"defaults", "healthcheck_profiles", "records"});
    const FileScope scope = read_scope(top, global, profiles_out, reuse.inherited);
    // A record's text is reused under the same inherited content (`defaults` and profiles as
    // parsed nodes, so not their comments, layout or place): a comment or a blank line added
    // to the head moves the records, it does not make them new. Inherited positions are
    // mapped to where they are now (map_scope, Rebase).
    const std::uint64_t seed = util::mix64(scope.shared_hash ^ 0x5ca1ab1e0ddba11ull);
    auto positions = std::make_shared<const std::vector<SourcePos>>(scope_positions(scope));
    const ScopeMap scope_map = map_scope(reuse, *positions);

    // duplicated keys, as a whole parse finds them (the second is blamed)
    {
        std::unordered_map<std::string_view, std::uint32_t> seen;
        seen.reserve(split.chunks.size());
        for (const auto& c : split.chunks) {
            auto [it, fresh] = seen.emplace(c.key, c.line);
            if (!fresh)
                throw ConfigError(
                    SourcePos{file, static_cast<int>(c.line) + 1, static_cast<int>(c.column) + 1},
                    join_key("records", c.key),
                    "duplicate key (first at line " + std::to_string(it->second + 1) + ")");
        }
    }

    const auto previous = scope_map.usable ? index_previous(reuse)
                                           : std::unordered_map<std::string_view, std::size_t>{};
    LoadStats counts;
    CheckInterner checks;
    MovedChecks moved{checks};
    RecordList out;
    out.reserve(split.chunks.size());
    out.set_scope_positions(positions);
    std::string lowered, piece;
    for (const auto& c : split.chunks) {
        const std::uint64_t h = text_hash(c.text, seed);
        if (!previous.empty()) {
            lowered.assign(c.key);
            for (char& ch : lowered)
                ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            if (auto it = previous.find(lowered); it != previous.end()) {
                const auto& old = reuse.records->shared(it->second);
                if (old->chunk_hash == h && h != 0 && old->pos.file.str() == path) {
                    const Rebase rebase{
                        path,
                        static_cast<int>(old->chunk_line) + 1,
                        static_cast<int>(old->chunk_line + old->chunk_lines),
                        static_cast<int>(c.line) - static_cast<int>(old->chunk_line),
                        scope_map.map,
                        moved};
                    if (!rebase.touches(*old)) {
                        out.push_back(old);  // the same text and inheritance, same places
                        ++counts.shared;
                    } else {
                        out.push_back(rebased(*old, rebase, c.line));
                        ++counts.moved;
                    }
                    continue;
                }
            }
        }
        // "records:" on the line above the record's key, so that its lines and its field
        // paths (records."www.example.".backends[0]) are the file's
        piece.assign("records:\n");
        piece.append(c.text);
        yaml::Document doc;
        try {
            doc = yaml::Document::parse(piece, c.line - 1);
        } catch (const yaml::SyntaxError&) {
            return std::nullopt;
        }
        Val croot(file, doc);
        if (!croot.is_map()) return std::nullopt;
        const auto top_entries = croot.entries();
        if (top_entries.size() != 1 || top_entries[0].key != "records" ||
            !top_entries[0].value.is_map())
            return std::nullopt;
        const auto entries = top_entries[0].value.entries();
        if (entries.size() != 1 || entries[0].key != c.key) return std::nullopt;
        const KeyVal& e = entries[0];
        Record r = record_head(e, scope);
        r.chunk_hash = h;
        r.chunk_line = c.line;
        r.chunk_lines = c.lines;
        parse_record(e, r, zone_name, scope, checks);
        out.push_back(std::move(r));
        ++counts.parsed;
    }
    add_counts(reuse.stats, counts);
    if (reuse.stats != nullptr) ++reuse.stats->files_split;
    return out;
}

}  // namespace

RecordList load_policy_file(const std::string& path, const std::string& zone_name,
                            const SourcePos& blame, const std::string& field,
                            const Profiles& global, std::shared_ptr<const Profiles>* profiles_out,
                            const Reuse& reuse) {
    const std::string text = read_text_file(path, blame, field);
    const FileName file(path);
    // GSLBD_RELOAD_WHOLE=1: every file parsed whole, as before issue 20's incremental reload
    // (bench/scale: the same binary measured both ways, ABBA)
    static const bool whole = std::getenv("GSLBD_RELOAD_WHOLE") != nullptr;
    if (auto split = whole ? std::nullopt : split_policy_text(text))
        if (auto out = load_split(*split, file, zone_name, global, profiles_out, reuse))
            return std::move(*out);

    // The whole file at once: a reload still shares a record whose YAML, position and
    // inherited settings are unchanged (compared on the parsed nodes).
    const yaml::Document doc = parse_yaml_text(text, path);
    Val root(file, doc);
    if (root.is_null()) root.fail("the policy file is empty: it needs a 'records' mapping");
    MapReader top(root, {"defaults", "healthcheck_profiles", "records"});
    const FileScope scope = read_scope(top, global, profiles_out, reuse.inherited);
    auto positions = std::make_shared<const std::vector<SourcePos>>(scope_positions(scope));
    const ScopeMap scope_map = map_scope(reuse, *positions);
    const auto previous = scope_map.usable ? index_previous(reuse)
                                           : std::unordered_map<std::string_view, std::size_t>{};

    LoadStats counts;
    CheckInterner checks;
    MovedChecks moved{checks};
    RecordList out;
    out.set_scope_positions(positions);
    Val records = top.require("records");
    if (!records.is_map()) records.fail("expected a mapping of record names to records");
    const auto entries = records.entries();
    out.reserve(entries.size());
    for (const auto& e : entries) {
        Record r = record_head(e, scope);
        if (auto it = previous.find(r.name); it != previous.end()) {
            const auto& old = reuse.records->shared(it->second);
            if (old->source_hash == r.source_hash && old->layout_hash == r.layout_hash &&
                old->pos.line == r.pos.line && old->pos.column == r.pos.column &&
                old->pos.file.str() == r.pos.file.str()) {
                // checked when it was loaded; nothing it reads changed (what it inherits may
                // have moved: no own lines here, so every position is looked up)
                const Rebase rebase{path, 0, -1, 0, scope_map.map, moved};
                if (!rebase.touches(*old)) {
                    out.push_back(old);
                    ++counts.shared;
                } else {
                    out.push_back(rebased(*old, rebase, old->chunk_line));
                    ++counts.moved;
                }
                continue;
            }
        }
        parse_record(e, r, zone_name, scope, checks);
        out.push_back(std::move(r));
        ++counts.parsed;
    }
    add_counts(reuse.stats, counts);  // moved: only records whose inherited positions moved
    if (reuse.stats != nullptr) ++reuse.stats->files_whole;
    return out;
}

// A latitude (|x| <= 90) or longitude (|x| <= 180) in decimal degrees.
static double degrees(const Val& v, double limit) {
    const std::string s = v.str();
    double d = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
    if (s.empty() || ec != std::errc{} || end != s.data() + s.size() || !std::isfinite(d) ||
        d < -limit || d > limit)
        v.fail("'" + s + "' is not a number of degrees between -" +
               std::to_string(static_cast<int>(limit)) + " and " +
               std::to_string(static_cast<int>(limit)));
    return d;
}

bool read_coordinates(const MapReader& m, double& latitude, double& longitude) {
    auto lat = m.get("latitude"), lon = m.get("longitude");
    if (lat && !lat->is_null() && (!lon || lon->is_null()))
        lat->fail("latitude without longitude: give both, or neither");
    if (lon && !lon->is_null() && (!lat || lat->is_null()))
        lon->fail("longitude without latitude: give both, or neither");
    if (!lat || lat->is_null()) return false;
    latitude = degrees(*lat, 90);
    longitude = degrees(*lon, 180);
    return true;
}

}  // namespace gslbd::config::detail
