// The `cluster:` block: where the fleet's etcd is and how this node takes part.
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>

#include "config/yaml_util.hh"

namespace gslbd::config::detail {

namespace {

namespace fs = std::filesystem;

bool node_name_ok(std::string_view name) {
    return !name.empty() && name.size() <= 63 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
    });
}

// Same rule as cluster::QuorumRule::parse (lib/cluster sits below config and cannot be used
// here): majority, any, all, or a plain decimal strictly between 0 and 1.
bool quorum_ok(std::string_view text) {
    if (text == "majority" || text == "any" || text == "all") return true;
    if (text.empty() || text.find_first_not_of("0123456789.") != std::string_view::npos)
        return false;
    double f = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), f);
    return ec == std::errc() && end == text.data() + text.size() && f > 0.0 && f < 1.0;
}

std::string file_at(const Config& cfg, const Val& v) {
    fs::path p(v.nonempty_str());
    if (!p.is_absolute()) p = fs::path(cfg.file).parent_path() / p;
    std::string path = p.lexically_normal().string();
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) v.fail("file not found: '" + path + "'");
    return path;
}

}  // namespace

void parse_cluster(const Val& v, Config& cfg) {
    ClusterConfig& c = cfg.cluster;
    c.enabled = true;
    c.pos = v.pos();
    MapReader m(v, {"endpoints", "tls", "user", "password", "password_file", "prefix", "node",
                    "labels", "lease_ttl", "role", "quorum", "min_voters", "probes_per_target",
                    "override_scope", "timeout"});
    Val eps = m.require("endpoints");
    for (const auto& item : eps.one_or_many()) {
        std::string e = item.nonempty_str();
        if (e.find("://") == std::string::npos) e = "http://" + e;
        if (e.rfind("http://", 0) != 0 && e.rfind("https://", 0) != 0)
            item.fail("'" + e +
                      "' is not an etcd client URL: use http://HOST:PORT or "
                      "https://HOST:PORT");
        while (e.back() == '/') e.pop_back();
        if (std::find(c.endpoints.begin(), c.endpoints.end(), e) != c.endpoints.end())
            item.fail("endpoint '" + e + "' is listed twice");
        c.endpoints.push_back(e);
    }
    if (c.endpoints.empty()) eps.fail("at least one etcd endpoint is required");
    if (auto t = m.get("tls"); t && !t->is_null()) {
        MapReader tm(*t, {"ca", "cert", "key"});
        if (auto x = tm.get("ca")) c.ca_file = file_at(cfg, *x);
        if (auto x = tm.get("cert")) c.cert_file = file_at(cfg, *x);
        if (auto x = tm.get("key")) c.key_file = file_at(cfg, *x);
        if (c.cert_file.empty() != c.key_file.empty())
            t->fail("a client certificate needs both cert and key");
    }
    if (auto x = m.get("user")) c.user = x->nonempty_str();
    auto pw = m.get("password");
    auto pw_file = m.get("password_file");
    if (pw && pw_file) pw_file->fail("give password or password_file, not both");
    if (pw) c.password = pw->str();
    if (pw_file) {
        const std::string path = file_at(cfg, *pw_file);
        std::ifstream in(path);
        std::getline(in, c.password);
        while (!c.password.empty() &&
               (c.password.back() == '\r' || c.password.back() == '\n' || c.password.back() == ' '))
            c.password.pop_back();
        if (c.password.empty())
            pw_file->fail("password file '" + path +
                          "' is empty: put the password on its "
                          "first line");
    }
    if (c.user.empty() != c.password.empty())
        v.fail(c.user.empty() ? "password is set but user is not: etcd authentication needs both"
                              : "user is set but no password (password or password_file)");
    if (auto x = m.get("prefix")) {
        c.prefix = x->nonempty_str();
        if (c.prefix.back() != '/') c.prefix.push_back('/');
    }
    if (auto x = m.get("node")) {
        c.node = x->nonempty_str();
        if (!node_name_ok(c.node))
            x->fail("node name '" + c.node + "' must be 1..63 of letters, digits, '.', '_', '-'");
    } else {
        char host[256] = {};
        if (::gethostname(host, sizeof host - 1) != 0 || !node_name_ok(host))
            v.fail(std::string("the host name '") + host +
                   "' cannot be a node name (1..63 of letters, digits, '.', '_', '-'): set "
                   "cluster.node");
        c.node = host;
    }
    if (auto x = m.get("labels"); x && !x->is_null()) {
        if (!x->is_map()) x->fail("expected a map of label: value (site: fra1)");
        for (const auto& kv : x->entries()) c.labels[kv.key] = kv.value.str();
    }
    if (auto x = m.get("lease_ttl")) {
        c.lease_ttl = x->duration(Millis{2000});
        if (c.lease_ttl.count() % 1000 != 0)
            x->fail("etcd leases count whole seconds: use 2s, 10s, ...");
    }
    if (auto x = m.get("timeout")) c.timeout = x->duration(Millis{100});
    if (auto x = m.get("role")) {
        const std::string role = x->nonempty_str();
        if (role == "passive")
            c.passive = true;
        else if (role != "probe")
            x->fail("unknown role '" + role + "': use probe or passive");
    }
    if (auto x = m.get("quorum")) {
        c.quorum = x->nonempty_str();
        if (!quorum_ok(c.quorum))
            x->fail("unknown quorum rule '" + c.quorum +
                    "': use majority, any, all or a fraction such as 0.18 (up when more than "
                    "18 % of the voters say up)");
    }
    std::optional<Val> mv = m.get("min_voters");
    if (mv) c.min_voters = static_cast<unsigned>(mv->integer(1, 1000));
    if (auto x = m.get("probes_per_target")) {
        c.probes_per_target = static_cast<unsigned>(x->integer(0, 1000));
        if (c.probes_per_target != 0 && c.min_voters > c.probes_per_target)
            (mv ? *mv : *x)
                .fail("min_voters " + std::to_string(c.min_voters) +
                      " can never be met when only probes_per_target " +
                      std::to_string(c.probes_per_target) + " nodes probe a target");
    }
    if (auto x = m.get("override_scope")) {
        const std::string scope = x->nonempty_str();
        if (scope == "node")
            c.override_fleet = false;
        else if (scope != "fleet")
            x->fail("unknown override_scope '" + scope + "': use fleet or node");
    }
}

}  // namespace gslbd::config::detail
