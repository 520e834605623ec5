// The main configuration file; zone policy files and the location map are read from here.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <thread>

#include <unistd.h>

#include "config/yaml_util.hh"
#include "util/log.hh"

namespace gslbd::config {

namespace {

namespace fs = std::filesystem;
using detail::MapReader;
using detail::Val;

constexpr long long kMaxTtl = 2147483647;  // RFC 2181 section 8

// Relative paths in the main file are relative to the main file's directory.
std::string resolve(const std::string& main_file, const std::string& p) {
    fs::path path(p);
    if (path.is_absolute()) return path.lexically_normal().string();
    return (fs::path(main_file).parent_path() / path).lexically_normal().string();
}

void parse_listen(const Val& v, Config& cfg) {
    auto items = v.items();
    if (items.empty()) v.fail("at least one listener is required");
    auto add = [](std::vector<Listener>& list, const Listener& l, const Val& at) {
        for (const auto& o : list)
            if (o.addr == l.addr && o.port == l.port) at.fail("listener repeated");
        list.push_back(l);
    };
    for (const auto& item : items) {
        const char* kHelp = ": expected ADDRESS, ADDRESS:PORT or [IPv6]:PORT (port 1..65535)";
        auto parse_addr = [&](const Val& at) {
            std::string text = at.nonempty_str();
            auto sa = util::SockAddrText::parse(text, 53);
            if (!sa) at.fail("bad listen address '" + text + "'" + kHelp);
            return Listener{sa->addr, sa->port};
        };
        if (item.is_scalar()) {
            Listener l = parse_addr(item);
            add(cfg.udp, l, item);
            add(cfg.tcp, l, item);
            continue;
        }
        MapReader m(item, {"address", "port", "udp", "tcp"});
        Val av = m.require("address");
        Listener l = parse_addr(av);
        if (auto x = m.get("port")) l.port = static_cast<std::uint16_t>(x->integer(1, 65535));
        bool udp = true, tcp = true;
        if (auto x = m.get("udp")) udp = x->boolean();
        if (auto x = m.get("tcp")) tcp = x->boolean();
        if (!udp && !tcp) item.fail("udp and tcp are both false: the listener would do nothing");
        if (udp) add(cfg.udp, l, item);
        if (tcp) add(cfg.tcp, l, item);
    }
}

void parse_ecs(const Val& v, Config& cfg) {
    MapReader m(v, {"enabled", "trust"});
    if (auto x = m.get("enabled")) cfg.ecs_enabled = x->boolean();
    if (auto x = m.get("trust")) {
        for (const auto& item : x->items()) {
            std::string text = item.nonempty_str();
            auto p = util::IpPrefix::parse(text, true);
            if (!p) {
                if (auto loose = util::IpPrefix::parse(text, false))
                    item.fail("'" + text +
                              "' has host bits set after the prefix length (did you "
                              "mean " +
                              loose->to_string() + "?)");
                item.fail("'" + text + "' is not a prefix (192.0.2.0/24, 2001:db8::/32)");
            }
            cfg.ecs_trust.push_back(*p);
        }
    }
}

// A file named by the main config must exist; the error points at the key naming it.
std::string existing_file(const Config& cfg, const Val& v) {
    std::string path = resolve(cfg.file, v.nonempty_str());
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) v.fail("file not found: '" + path + "'");
    return path;
}

void parse_geoip(const Val& v, Config& cfg) {
    MapReader m(v, {"country_db", "city_db", "asn_db", "location_map"});
    if (auto x = m.get("country_db")) cfg.country_db = existing_file(cfg, *x);
    if (auto x = m.get("city_db")) cfg.city_db = existing_file(cfg, *x);
    if (auto x = m.get("asn_db")) cfg.asn_db = existing_file(cfg, *x);
    if (auto x = m.get("location_map")) {
        cfg.location_map = existing_file(cfg, *x);
        cfg.locations = detail::load_location_map(cfg.location_map, x->pos(), x->path());
    }
}

std::uint32_t u32(const Val& v, long long hi = 4294967295ll) {
    return static_cast<std::uint32_t>(v.integer(0, hi));
}

// A reload: the previous load's records of the zone of the same name and policy file.
detail::Reuse reuse_for(const Config* previous, const Zone& z, std::uint64_t inherited,
                        LoadStats* stats) {
    detail::Reuse r{nullptr, inherited, stats};
    if (previous != nullptr)
        for (const auto& pz : previous->zones)
            if (pz.name == z.name && pz.policy_file == z.policy_file) r.records = &pz.records;
    return r;
}

Zone parse_zone(const Val& v, const Config& cfg, const HealthProfiles& global_profiles,
                const Config* previous, std::uint64_t inherited, LoadStats* stats) {
    MapReader m(v, {"name", "policy", "soa", "ns_ttl", "ns", "file", "primaries"});
    Zone z;
    z.pos = v.pos();
    Val name = m.require("name");
    z.name = normalize_name(name.nonempty_str(), name.pos(), name.path());
    z.pos = name.pos();

    // A secondary zone: its SOA, NS and static data come from the primary (lib/xfr).
    if (auto p = m.get("primaries"); p && !p->is_null()) {
        detail::parse_primaries(*p, cfg, z);
        for (const char* key : {"ns", "soa", "ns_ttl", "file"}) {
            if (auto x = m.get(key))
                x->fail(std::string("'") + key +
                        "' cannot be given with 'primaries': a secondary zone's data, SOA and "
                        "apex NS come from its primary");
        }
        if (auto pf = m.get("policy"); pf && !pf->is_null()) {
            z.policy_file = resolve(cfg.file, pf->nonempty_str());
            z.records = detail::load_policy_file(z.policy_file, z.name, pf->pos(), pf->path(),
                                                 global_profiles, &z.profiles,
                                                 reuse_for(previous, z, inherited, stats));
        } else {
            z.profiles = std::make_shared<const HealthProfiles>(global_profiles);
        }
        return z;
    }

    // A zone file brings its own SOA and apex NS: giving them here too would leave two
    // answers to "which one is served", so that is refused (docs/zones.md).
    if (auto f = m.get("file"); f && !f->is_null()) {
        z.file = resolve(cfg.file, f->nonempty_str());
        z.file_pos = f->pos();
        for (const char* key : {"ns", "soa", "ns_ttl"}) {
            if (auto x = m.get(key))
                x->fail(std::string("'") + key +
                        "' cannot be given with 'file': the zone file's SOA and apex NS are "
                        "the zone's");
        }
        if (auto p = m.get("policy"); p && !p->is_null()) {
            z.policy_file = resolve(cfg.file, p->nonempty_str());
            z.records = detail::load_policy_file(z.policy_file, z.name, p->pos(), p->path(), {},
                                                 nullptr, reuse_for(previous, z, 0, stats));
        }
        return z;
    }
    Val ns = m.require("ns");
    auto ns_items = ns.items();
    if (ns_items.empty()) ns.fail("at least one name server is required");
    for (const auto& item : ns_items) {
        MapReader nm(item, {"name", "addresses"});
        Val nv = nm.require("name");
        NameServer server;
        server.name = normalize_name(nv.nonempty_str(), nv.pos(), nv.path());
        if (auto a = nm.get("addresses")) {
            for (const auto& av : a->one_or_many())
                server.addresses.push_back(detail::parse_ip(av));
        }
        if (detail::in_zone(server.name, z.name) && server.addresses.empty()) {
            item.fail("name server " + server.name +
                      " is inside the zone, so it needs addresses (glue)");
        }
        z.ns.push_back(std::move(server));
    }
    if (auto x = m.get("ns_ttl")) z.ns_ttl = u32(*x, kMaxTtl);

    z.soa.mname = z.ns.front().name;
    z.soa.rname = "hostmaster." + (z.name == "." ? std::string() : z.name);
    if (auto s = m.get("soa"); s && !s->is_null()) {
        MapReader sm(*s,
                     {"mname", "rname", "serial", "refresh", "retry", "expire", "minimum", "ttl"});
        if (auto x = sm.get("mname"))
            z.soa.mname = normalize_name(x->nonempty_str(), x->pos(), x->path());
        if (auto x = sm.get("rname"))
            z.soa.rname = normalize_name(x->nonempty_str(), x->pos(), x->path());
        if (auto x = sm.get("serial")) z.soa.serial = u32(*x);
        if (auto x = sm.get("refresh")) z.soa.refresh = u32(*x, kMaxTtl);
        if (auto x = sm.get("retry")) z.soa.retry = u32(*x, kMaxTtl);
        if (auto x = sm.get("expire")) z.soa.expire = u32(*x, kMaxTtl);
        if (auto x = sm.get("minimum")) z.soa.minimum = u32(*x, kMaxTtl);
        if (auto x = sm.get("ttl")) z.soa.ttl = u32(*x, kMaxTtl);
    }

    if (auto p = m.get("policy"); p && !p->is_null()) {
        z.policy_file = resolve(cfg.file, p->nonempty_str());
        z.records =
            detail::load_policy_file(z.policy_file, z.name, p->pos(), p->path(), global_profiles,
                                     &z.profiles, reuse_for(previous, z, inherited, stats));
    } else {
        z.profiles = std::make_shared<const HealthProfiles>(global_profiles);
    }
    return z;
}

// `dpdk:` block. Devices are not probed here (that needs the EAL); only their shape.
DpdkConfig parse_dpdk(const Val& v) {
    DpdkConfig d;
    d.pos = v.pos();
    MapReader m(v, {"eal_args", "ports", "udp_port", "mbufs"});
    if (auto x = m.get("eal_args")) {
        for (const auto& item : x->items()) d.eal_args.push_back(item.nonempty_str());
    }
    if (auto x = m.get("udp_port")) d.udp_port = static_cast<std::uint16_t>(x->integer(1, 65535));
    if (auto x = m.get("mbufs")) d.mbufs = static_cast<unsigned>(x->integer(1023, 1 << 24));
    Val ports = m.require("ports");
    auto items = ports.items();
    if (items.empty()) ports.fail("at least one port is required");
    for (const auto& item : items) {
        MapReader pm(item, {"device", "addresses", "queues", "exception"});
        DpdkPort p;
        p.pos = item.pos();
        Val dev = pm.require("device");
        p.device = dev.nonempty_str();
        if (p.device.find(' ') != std::string::npos)
            dev.fail("'" + p.device +
                     "' contains a space: use a PCI address (0000:03:00.0) or a "
                     "vdev string (net_af_packet0,iface=veth0)");
        for (const auto& o : d.ports)
            if (o.device == p.device) dev.fail("device '" + p.device + "' is listed twice");
        Val addrs = pm.require("addresses");
        for (const auto& av : addrs.one_or_many()) {
            std::string text = av.nonempty_str();
            std::string_view addr_text = text;
            std::optional<long> len;
            if (auto slash = text.find('/'); slash != std::string::npos) {
                addr_text = std::string_view(text).substr(0, slash);
                std::string l = text.substr(slash + 1);
                if (l.empty() || l.size() > 3 ||
                    !std::all_of(l.begin(), l.end(), [](char c) { return c >= '0' && c <= '9'; }))
                    av.fail("bad prefix length in '" + text + "' (198.18.0.1/24, 2001:db8::1/64)");
                len = std::stol(l);
            }
            auto a = util::IpAddr::parse(addr_text);
            if (!a) av.fail("'" + text + "' is not an IPv4 or IPv6 address (with optional /LEN)");
            DpdkAddress da{*a, static_cast<std::uint8_t>(a->max_prefix())};
            if (len) {
                if (*len < 1 || *len > static_cast<long>(a->max_prefix()))
                    av.fail("prefix length of '" + text + "' must be 1.." +
                            std::to_string(a->max_prefix()));
                da.prefix_len = static_cast<std::uint8_t>(*len);
            }
            for (const auto& op : d.ports)
                for (const auto& oa : op.addresses)
                    if (oa.addr == da.addr) av.fail("address " + text + " is on two ports");
            for (const auto& oa : p.addresses)
                if (oa.addr == da.addr) av.fail("address " + text + " is listed twice");
            p.addresses.push_back(da);
        }
        if (p.addresses.empty()) addrs.fail("at least one address is required");
        if (auto x = pm.get("queues")) p.queues = static_cast<unsigned>(x->integer(1, 64));
        if (auto x = pm.get("exception"); x && !x->is_null()) {
            p.exception = x->nonempty_str();
            if (p.exception.rfind("net_", 0) != 0 && p.exception.rfind("virtio_user", 0) != 0)
                x->fail("'" + p.exception +
                        "' is not a vdev string: use e.g. "
                        "net_tap0,iface=gslbd0 or virtio_user0,path=/dev/vhost-net,iface=gslbd0");
            for (const auto& o : d.ports)
                if (o.exception == p.exception)
                    x->fail("exception device '" + p.exception + "' is used by two ports");
        }
        d.ports.push_back(std::move(p));
    }
    return d;
}

// "16MiB", "512k", "1G" (binary units, optional "iB"/"B") or a plain number of bytes.
std::size_t parse_bytes(const Val& v) {
    const std::string text = v.nonempty_str();
    std::size_t i = 0;
    unsigned long long n = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        if (n > (1ull << 50)) v.fail("'" + text + "' is too large");
        n = n * 10 + static_cast<unsigned>(text[i++] - '0');
    }
    std::string unit = text.substr(i);
    while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
    for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    unsigned shift = 0;
    if (unit == "" || unit == "b")
        shift = 0;
    else if (unit == "k" || unit == "kb" || unit == "kib")
        shift = 10;
    else if (unit == "m" || unit == "mb" || unit == "mib")
        shift = 20;
    else if (unit == "g" || unit == "gb" || unit == "gib")
        shift = 30;
    else
        shift = 64;
    if (i == 0 || shift == 64)
        v.fail("expected a size such as 16MiB, 512k, 1G or a number of bytes, got '" + text + "'");
    return static_cast<std::size_t>(n) << shift;
}

// `cache:` block. Checked here, not at first use, so that a size that cannot work stops
// the daemon at start (and a reload keeps the old config) with the place to fix it.
void parse_cache(const Val& v, Config& cfg) {
    MapReader m(v, {"entries", "max_bytes"});
    if (auto x = m.get("entries"))
        cfg.cache_entries = static_cast<std::size_t>(x->integer(0, 1 << 28));
    std::optional<Val> bytes_val = m.get("max_bytes");
    if (bytes_val) cfg.cache_bytes = parse_bytes(*bytes_val);
    if (cfg.cache_entries == 0) return;
    const Val& blame = bytes_val ? *bytes_val : v;
    const std::size_t per = cfg.cache_bytes / cfg.cache_entries;
    if (per < kCacheMinEntryBytes) {
        blame.fail("max_bytes " + std::to_string(cfg.cache_bytes) + " leaves " +
                   std::to_string(per) + " bytes per entry for " +
                   std::to_string(cfg.cache_entries) + " entries; each entry needs at least " +
                   std::to_string(kCacheMinEntryBytes) + ": raise max_bytes to at least " +
                   std::to_string(cfg.cache_entries * kCacheMinEntryBytes) + " or lower entries");
    }
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) {
        const unsigned long long mem =
            static_cast<unsigned long long>(pages) * static_cast<unsigned long long>(page);
        // One cache per worker (the TCP server has one more); the whole must fit in half
        // of the machine's memory, the rest being the kernel's and everyone else's.
        const unsigned long long used = static_cast<unsigned long long>(cache_entry_bytes(cfg)) *
                                        cfg.cache_entries * (cfg.workers + 1ull);
        if (used > mem / 2)
            blame.fail("the caches would take " + std::to_string(used >> 20) + " MiB (" +
                       std::to_string(cfg.workers + 1) +
                       " x entries x entry size) but this "
                       "machine has " +
                       std::to_string(mem >> 20) + " MiB: lower cache.entries or cache.max_bytes");
    }
}

void parse_api(const Val& v, Config& cfg) {
    MapReader m(v, {"listen", "token_file", "read_requires_token", "tls_cert", "tls_key",
                    "state_file", "watch"});
    ApiConfig& api = cfg.api;
    api.pos = v.pos();
    if (auto x = m.get("listen")) {
        const std::string text = x->nonempty_str();
        if (text == "off" || text == "false" || text == "no") {
            api.enabled = false;
        } else {
            auto sa = util::SockAddrText::parse(text, 8053);
            if (!sa)
                x->fail("bad listen address '" + text +
                        "': expected ADDRESS, ADDRESS:PORT or [IPv6]:PORT (port 1..65535), "
                        "or off");
            api.addr = sa->addr;
            api.port = sa->port;
            api.listen_explicit = true;
        }
    }
    if (auto x = m.get("token_file")) {
        api.token_file = existing_file(cfg, *x);
        std::ifstream in(api.token_file);
        std::string token;
        std::getline(in, token);
        while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back())))
            token.pop_back();
        if (token.empty())
            x->fail("token file '" + api.token_file +
                    "' is empty (or unreadable): put the "
                    "bearer token on its first line");
    }
    if (auto x = m.get("read_requires_token")) api.read_requires_token = x->boolean();
    if (auto x = m.get("tls_cert")) api.tls_cert = existing_file(cfg, *x);
    if (auto x = m.get("tls_key")) api.tls_key = existing_file(cfg, *x);
    if (api.tls_cert.empty() != api.tls_key.empty())
        v.fail(api.tls_cert.empty() ? "tls_key is set but tls_cert is not: HTTPS needs both"
                                    : "tls_cert is set but tls_key is not: HTTPS needs both");
    if (auto x = m.get("state_file")) {
        api.state_file = resolve(cfg.file, x->nonempty_str());
        std::error_code ec;
        const fs::path dir = fs::path(api.state_file).parent_path();
        if (!dir.empty() && !fs::is_directory(dir, ec))
            x->fail("directory '" + dir.string() + "' of the state file does not exist");
    }
    if (auto x = m.get("watch")) api.watch = x->boolean();
}

// A record lying in a more specific zone that is also served here would never be answered
// from this file; it belongs in that zone's policy file.
void check_nested_zones(const Config& cfg) {
    for (const auto& z : cfg.zones) {
        for (const auto& r : z.records) {
            for (const auto& other : cfg.zones) {
                if (other.name.size() > z.name.size() && detail::in_zone(other.name, z.name) &&
                    detail::in_zone(r.name, other.name)) {
                    throw ConfigError(r.pos, detail::join_key("records", r.name),
                                      "record '" + r.name + "' lies in zone '" + other.name +
                                          "', which is served too; move it to that zone's "
                                          "policy file");
                }
            }
        }
    }
}

}  // namespace

Config load_config(const std::string& path, const Config* previous) {
    Config cfg;
    cfg.file = path;
    const yaml::Document doc = detail::load_yaml_file(path, SourcePos{path, 0, 0}, "");
    const FileName file(cfg.file);
    Val root(file, doc);
    if (root.is_null()) root.fail("the configuration is empty: 'listen' and 'zones' are required");
    MapReader top(root, {"listen",
                         "workers",
                         "log_level",
                         "edns",
                         "ecs",
                         "tcp",
                         "geoip",
                         "debug_txt",
                         "zones",
                         "io",
                         "dpdk",
                         "cache",
                         "health",
                         "api",
                         "cluster",
                         "acl",
                         "rrl",
                         "cookies",
                         "user",
                         "group",
                         "healthcheck_profiles",
                         "dynamic_blocks",
                         "tsig_keys",
                         "secondary_dir"});

    parse_listen(top.require("listen"), cfg);
    if (auto x = top.get("workers")) {
        if (x->is_scalar() && std::string(x->text()) == "auto") {
            cfg.workers = std::clamp(std::thread::hardware_concurrency(), 1u, 256u);
        } else if (x->is_scalar() && !std::string(x->text()).empty() &&
                   !std::isdigit(static_cast<unsigned char>(std::string(x->text())[0])) &&
                   std::string(x->text())[0] != '-') {
            x->fail("expected an integer in 1..256 or \"auto\", got '" + std::string(x->text()) +
                    "'");
        } else {
            cfg.workers = static_cast<unsigned>(x->integer(1, 256));
        }
    }
    if (auto x = top.get("log_level")) {
        util::LogLevel level;
        std::string text = x->nonempty_str();
        if (!util::parse_log_level(text, level))
            x->fail("unknown log level '" + text + "': use debug, info, warn, error or off");
        static const char* const kNames[] = {"debug", "info", "warn", "error", "off"};
        cfg.log_level = kNames[static_cast<int>(level)];
    }
    if (auto e = top.get("edns")) {
        MapReader m(*e, {"udp_size"});
        if (auto x = m.get("udp_size"))
            cfg.edns_udp_size = static_cast<std::uint16_t>(x->integer(512, 4096));
    }
    if (auto x = top.get("ecs")) parse_ecs(*x, cfg);
    if (auto t = top.get("tcp")) {
        MapReader m(*t, {"idle_timeout", "max_connections"});
        if (auto x = m.get("idle_timeout")) cfg.tcp_idle_timeout = x->duration();
        if (auto x = m.get("max_connections"))
            cfg.tcp_max_connections = static_cast<unsigned>(x->integer(1, 1'000'000));
    }
    if (auto x = top.get("geoip")) parse_geoip(*x, cfg);
    if (auto x = top.get("debug_txt")) cfg.debug_txt = x->boolean();
    if (auto h = top.get("health")) {
        MapReader m(*h, {"start", "rise", "fall", "source", "resolution_idle_timeout",
                         "healthcheck_idle_multiplier", "batch_window"});
        if (auto x = m.get("batch_window")) {
            cfg.probe_batch_window = x->duration(Millis(0));
            if (cfg.probe_batch_window > Millis(1000))
                x->fail("must be at most 1s (probes start up to this much early)");
        }
        if (auto x = m.get("resolution_idle_timeout")) cfg.idle_timeout = x->duration(Millis(0));
        if (auto x = m.get("healthcheck_idle_multiplier"))
            cfg.idle_multiplier = static_cast<unsigned>(x->integer(1, 1000));
        if (auto x = m.get("start")) {
            std::string start = x->nonempty_str();
            if (start == "wait")
                cfg.health_assume_healthy = false;
            else if (start != "healthy")
                x->fail("unknown start state '" + start + "': use healthy or wait");
        }
        if (auto x = m.get("rise")) cfg.health_rise = static_cast<int>(x->integer(1, 100));
        if (auto x = m.get("fall")) cfg.health_fall = static_cast<int>(x->integer(1, 100));
        if (auto x = m.get("source")) {
            for (const auto& item : x->one_or_many()) {
                const util::IpAddr a = detail::parse_ip(item);
                auto& slot = a.family == 4 ? cfg.probe_source_v4 : cfg.probe_source_v6;
                if (slot) item.fail("one probe source address per address family");
                slot = a;
            }
        }
    }
    if (auto x = top.get("cache")) parse_cache(*x, cfg);
    cfg.api.addr = *util::IpAddr::parse("127.0.0.1");
    if (auto x = top.get("api"); x && !x->is_null()) parse_api(*x, cfg);
    if (auto x = top.get("cluster"); x && !x->is_null()) detail::parse_cluster(*x, cfg);
    detail::parse_edge(top, cfg);
    if (auto x = top.get("io")) {
        std::string mode = x->nonempty_str();
        if (mode == "dpdk")
            cfg.io = IoMode::Dpdk;
        else if (mode != "socket")
            x->fail("unknown io mode '" + mode + "': use socket or dpdk");
    }
    if (auto x = top.get("dpdk"); x && !x->is_null()) {
        cfg.dpdk = parse_dpdk(*x);
    } else if (cfg.io == IoMode::Dpdk) {
        top.self().fail("io is dpdk but there is no 'dpdk' block (eal_args, ports)");
    }

    HealthProfiles global_profiles;
    std::uint64_t inherited = 0;  // in every record's source_hash (a reload's reuse)
    if (auto x = top.get("healthcheck_profiles"); x && !x->is_null()) {
        cfg.healthcheck_profiles_file = resolve(cfg.file, x->nonempty_str());
        global_profiles = detail::load_profiles_file(cfg.healthcheck_profiles_file, x->pos(),
                                                     x->path(), &inherited);
    }

    if (auto x = top.get("tsig_keys"); x && !x->is_null()) detail::parse_tsig_keys(*x, cfg);
    if (auto x = top.get("secondary_dir"); x && !x->is_null())
        cfg.secondary_dir = resolve(cfg.file, x->nonempty_str());
    Val zones = top.require("zones");
    auto items = zones.items();
    if (items.empty()) zones.fail("at least one zone is required");
    for (const auto& item : items) {
        Zone z = parse_zone(item, cfg, global_profiles, previous, inherited, &cfg.load_stats);
        for (const auto& other : cfg.zones) {
            if (other.name == z.name) {
                throw ConfigError(z.pos, detail::join_index("zones", cfg.zones.size()) + ".name",
                                  "zone '" + z.name + "' is already defined at line " +
                                      std::to_string(other.pos.line));
            }
        }
        cfg.zones.push_back(std::move(z));
    }
    check_nested_zones(cfg);
    for (const auto& z : cfg.zones)
        if (!z.primaries.empty() && cfg.secondary_dir.empty())
            throw ConfigError(z.primaries.front().pos, "primaries",
                              "zone " + z.name +
                                  " is a secondary: 'secondary_dir' (where transferred zones "
                                  "are kept) is required");
    return cfg;
}

}  // namespace gslbd::config
