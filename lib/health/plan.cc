#include "health/plan.hh"

#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>

#include "health/dnsprobe.hh"
#include "health/probe_kind.hh"

namespace gslbd::health {

BodyRegex::BodyRegex(const std::string& pattern, const config::SourcePos& pos) {
    int rc = regcomp(&re_, pattern.c_str(), REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char buf[256];
        regerror(rc, &re_, buf, sizeof buf);
        throw config::ConfigError(pos, "expected_body",
                                  "'" + pattern + "' is not a valid regular expression: " + buf);
    }
}

BodyRegex::~BodyRegex() {
    regfree(&re_);
}

bool BodyRegex::search(std::string_view text) const noexcept {
    regmatch_t m{};
    m.rm_so = 0;
    m.rm_eo = static_cast<regoff_t>(text.size());
    // REG_STARTEND: the body is not NUL-terminated and may contain NUL bytes.
    return regexec(&re_, text.data(), 1, &m, REG_STARTEND) == 0;
}

std::string ProbeSpec::type_name() const {
    switch (kind) {
        case Kind::Http:
            return tls ? "https" : "http";
        case Kind::Tcp:
            return "tcp";
        case Kind::Dns:
            return "dns";
        case Kind::Icmp:
            return "icmp";
        case Kind::Plugin:
            return plugin != nullptr ? plugin->name : "?";
    }
    return "?";
}

ProbeSpec resolve_check(const config::HealthCheck& hc, const config::Record& record,
                        const config::Backend& backend) {
    ProbeSpec s;
    s.cfg = hc;
    std::string type = hc.type;
    std::transform(type.begin(), type.end(), type.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const std::string where =
        fmt::format("record '{}' backend '{}'", record.name, backend.address_text);
    if (!hc.supported ||
        (type != "http" && type != "https" && type != "tcp" && type != "dns" && type != "icmp")) {
        if (const ProbeKind* pk = find_probe_kind(type)) {
            s.kind = ProbeSpec::Kind::Plugin;
            s.plugin = pk;
            std::string own = pk->resolve(hc, CheckSite{record, backend, where}, s);
            s.key = fmt::format("{}\x1f{}\x1f{}", pk->name, s.port, own);
            return s;
        }
        std::string kinds = "http, https, tcp, dns, icmp";
        for (const auto& n : probe_kind_names()) kinds += ", " + n;
        throw config::ConfigError(
            hc.pos, "type",
            fmt::format("{}: health check type '{}' is not supported by gslbd; remove this check "
                        "or replace it with one of {}",
                        where, hc.type, kinds));
    }
    if (hc.port < 0 || hc.port > 65535) {
        throw config::ConfigError(hc.pos, "port", where + ": port must be 1..65535");
    }
    auto port = static_cast<std::uint16_t>(hc.port);
    if (type == "http" || type == "https") {
        s.kind = ProbeSpec::Kind::Http;
        s.tls = type == "https" || hc.enable_tls;
        s.port = port != 0 ? port : (s.tls ? 443 : 80);
        if (!hc.expected_body.empty()) {
            s.body = std::make_shared<const BodyRegex>(hc.expected_body, hc.pos);
        }
        if (hc.uri.empty() || hc.uri[0] != '/') {
            throw config::ConfigError(hc.pos, "uri", where + ": uri must start with '/'");
        }
        if (hc.tls_key.empty() != hc.tls_cert.empty()) {
            throw config::ConfigError(hc.pos, "tls_cert",
                                      where + ": tls_cert and tls_key go together (mTLS)");
        }
    } else if (type == "tcp") {
        s.kind = ProbeSpec::Kind::Tcp;
        if (port == 0) {
            throw config::ConfigError(hc.pos, "port", where + ": a tcp check needs a port");
        }
        s.port = port;
    } else if (type == "dns") {
        s.kind = ProbeSpec::Kind::Dns;
        s.port = port != 0 ? port : 53;
        // no query_name: ask the backend for the record it serves
        s.qname_wire = encode_qname(hc.query_name.empty() ? record.name : hc.query_name, hc.pos);
    } else {
        s.kind = ProbeSpec::Kind::Icmp;
        if (hc.count < 1 || hc.count > 100) {
            throw config::ConfigError(hc.pos, "count", where + ": count must be 1..100");
        }
    }
    // '\x1f' separates fields so that no two different checks share a key
    std::string k = fmt::format("{}\x1f{}", s.type_name(), s.port);
    auto add = [&k](const std::string& v) {
        k += '\x1f';
        k += v;
    };
    switch (s.kind) {
        case ProbeSpec::Kind::Http:
            add(hc.uri);
            add(hc.method);
            add(hc.host);
            for (const auto& [n, v] : hc.headers) add(n + ":" + v);
            add("codes");
            for (const auto& c : hc.expected_codes) add(fmt::format("{}-{}", c.lo, c.hi));
            add(hc.expected_body);
            add(hc.skip_tls_verify ? "noverify" : "verify");
            add(hc.tls_cert);
            add(hc.tls_key);
            add(hc.tls_ca);
            break;
        case ProbeSpec::Kind::Dns:
            add(std::string(s.qname_wire.begin(), s.qname_wire.end()));
            add(fmt::format("{}/{}", hc.query_type, hc.expected_rcode));
            add(hc.expected_address ? hc.expected_address->to_string() : "");
            break;
        case ProbeSpec::Kind::Icmp:
            add(std::to_string(hc.count));
            break;
        case ProbeSpec::Kind::Tcp:
        case ProbeSpec::Kind::Plugin:
            break;
    }
    s.key = std::move(k);
    return s;
}

namespace {
int pick(std::optional<int> backend, std::optional<int> record, std::optional<int> check,
         int dflt) {
    if (backend) return *backend;
    if (record) return *record;
    if (check) return *check;
    return dflt;
}
}  // namespace

Plan build_plan(const gslb::Topology& topo, int default_rise, int default_fall) {
    Plan plan;
    plan.backend_count = topo.backend_count;
    std::unordered_map<std::string, std::size_t> by_key;
    // one ProbeSpec per distinct check: 30,000 targets usually share a handful of them
    std::unordered_map<std::string, std::shared_ptr<const ProbeSpec>> specs;
    for (const auto& rec : topo.records) {
        if (rec.cfg == nullptr) continue;
        const config::Record& rcfg = *rec.cfg;
        for (const auto* list : {&rec.v4, &rec.v6}) {
            for (const auto& b : *list) {
                if (b.cfg == nullptr) continue;
                const config::Backend& bcfg = *b.cfg;
                BackendPlan bp;
                bp.id = b.id;
                bp.record = rcfg.name;
                bp.address = b.addr.to_string();
                bp.enabled = b.enabled && bcfg.enable;
                bp.assume_healthy = bcfg.assume_healthy;
                std::string checks_key;
                for (const auto& hc : bcfg.healthchecks) {
                    // validate even disabled backends: a bad file should fail now, not later
                    ProbeSpec spec = resolve_check(hc, rcfg, bcfg);
                    checks_key += '\x1e' + spec.key;
                    if (!bp.enabled) continue;
                    Millis timeout =
                        std::min({hc.timeout, rcfg.scrape_timeout, rcfg.scrape_interval});
                    if (timeout <= Millis(0)) timeout = Millis(1000);
                    Millis interval =
                        rcfg.scrape_interval > Millis(0) ? rcfg.scrape_interval : Millis(10000);
                    std::string tkey = bp.address + "|" + spec.key;
                    auto [it, fresh] = by_key.try_emplace(tkey, plan.targets.size());
                    if (fresh) {
                        TargetPlan tp;
                        tp.key = tkey;
                        tp.addr = b.addr;
                        if (spec.kind == ProbeSpec::Kind::Icmp) {
                            if (!plan.icmp4 && !plan.icmp6) plan.icmp_pos = hc.pos;
                            (b.addr.family == 4 ? plan.icmp4 : plan.icmp6) = true;
                        }
                        auto [sit, new_spec] = specs.try_emplace(spec.key);
                        if (new_spec) {
                            sit->second = std::make_shared<const ProbeSpec>(std::move(spec));
                        }
                        tp.spec = sit->second;
                        tp.interval = interval;
                        tp.timeout = timeout;
                        tp.retries = std::max(0, rcfg.scrape_retries);
                        plan.targets.push_back(std::move(tp));
                    } else {
                        TargetPlan& tp = plan.targets[it->second];
                        tp.interval = std::min(tp.interval, interval);
                        tp.timeout = std::min(tp.timeout, timeout);
                        tp.retries = std::max(tp.retries, rcfg.scrape_retries);
                    }
                    ++plan.targets[it->second].users;
                    bp.checks.push_back(
                        CheckPlan{it->second, pick(bcfg.rise, rcfg.rise, hc.rise, default_rise),
                                  pick(bcfg.fall, rcfg.fall, hc.fall, default_fall)});
                }
                bp.loose_key = bp.address + checks_key;
                bp.key = rcfg.name + "|" + bp.loose_key;
                plan.backends.push_back(std::move(bp));
            }
        }
    }
    return plan;
}

}  // namespace gslbd::health
