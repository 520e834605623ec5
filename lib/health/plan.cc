#include "health/plan.hh"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <unordered_map>

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

ProbeSpec resolve_check(const config::HealthCheck& hc, const config::Record& record,
                        const config::Backend& backend) {
    ProbeSpec s;
    s.cfg = hc;
    std::string type = hc.type;
    std::transform(type.begin(), type.end(), type.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const std::string where =
        fmt::format("record '{}' backend '{}'", record.name, backend.address_text);
    const ProbeKind* pk = find_probe_kind(type);
    if (pk == nullptr) {
        std::string kinds;
        for (const auto& n : probe_kind_names()) kinds += (kinds.empty() ? "" : ", ") + n;
        throw config::ConfigError(
            hc.pos, "type",
            fmt::format("{}: health check type '{}' is not supported by gslbd; remove this check "
                        "or replace it with one of {}",
                        where, hc.type, kinds));
    }
    s.kind = pk;
    s.type = pk->name;
    std::string own = pk->resolve(hc, CheckSite{record, backend, where}, s);
    // '\x1f' separates fields so that no two different checks share a key. The key names
    // the target in the fleet's votes (docs/fleet.md): it stays what it was before the
    // built-in kinds moved to probes/, so nodes of both versions agree during an upgrade.
    s.key = fmt::format("{}\x1f{}", s.type, s.port);
    if (!own.empty()) s.key += '\x1f' + own;
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
                const std::string loose = bp.address + checks_key;
                bp.loose_key = std::hash<std::string>{}(loose);
                bp.key = std::hash<std::string>{}(rcfg.name + "|" + loose);
                plan.backends.push_back(std::move(bp));
            }
        }
    }
    return plan;
}

}  // namespace gslbd::health
