#include "health/plan.hh"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string_view>
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

namespace {
// resolve_check with the check already in s.cfg, at the position its errors name (one copy
// of the check per spec, whether the configuration holds it shared or not).
ProbeSpec resolve_spec(ProbeSpec s, const config::Record& record, const config::Backend& backend) {
    const config::HealthCheck& hc = s.cfg;  // pk->resolve sets other fields of s, never cfg
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

}  // namespace

ProbeSpec resolve_check(const config::HealthCheck& hc, const config::Record& record,
                        const config::Backend& backend) {
    ProbeSpec s;
    s.cfg = hc;
    return resolve_spec(std::move(s), record, backend);
}

ProbeSpec resolve_check(const config::CheckRef& check, const config::Record& record,
                        const config::Backend& backend) {
    ProbeSpec s;
    s.cfg = *check;
    s.cfg.pos = check.pos();  // shared without its position: this backend's
    return resolve_spec(std::move(s), record, backend);
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

std::string TargetPlan::key() const {
    std::string k = addr.to_string();
    k += '|';
    k += spec->key;
    return k;
}

namespace {
/// A target's identity in the plan: the address and the (deduplicated) check.
struct TargetId {
    util::IpAddr addr;
    const ProbeSpec* spec = nullptr;
    bool operator==(const TargetId&) const = default;
};
struct TargetIdHash {
    std::size_t operator()(const TargetId& t) const noexcept {
        std::uint64_t h = 0xcbf29ce484222325ull ^ t.addr.family;
        for (std::size_t i = 0; i < t.addr.size(); ++i)
            h = (h ^ t.addr.bytes[i]) * 0x100000001b3ull;
        h ^= reinterpret_cast<std::uintptr_t>(t.spec) * 0x9e3779b97f4a7c15ull;
        return static_cast<std::size_t>(h ^ (h >> 29));
    }
};
}  // namespace

Plan build_plan(const gslb::Topology& topo, int default_rise, int default_fall) {
    Plan plan;
    plan.backend_count = topo.backend_count;
    // targets by (address, check): no string per backend
    std::unordered_map<TargetId, std::size_t, TargetIdHash> by_id;
    // one ProbeSpec per distinct check: 30,000 targets usually share a handful of them
    std::unordered_map<std::string, std::shared_ptr<const ProbeSpec>> specs;
    for (const auto& rec : topo.records) {
        if (rec.cfg == nullptr) continue;
        const config::Record& rcfg = *rec.cfg;
        for (const auto* list : {&rec.v4, &rec.v6}) {
            for (const auto& b : *list) {
                if (b.cfg == nullptr) continue;
                const config::Backend& bcfg = *b.cfg;
                if (bcfg.healthchecks.empty()) continue;  // never probed: not planned
                BackendPlan bp;
                bp.id = b.id;
                bp.record = rec.id;
                bp.rt = &b;
                bp.enabled = b.enabled && bcfg.enable;
                bp.assume_healthy = bcfg.assume_healthy;
                for (const auto& check : bcfg.healthchecks) {
                    const config::HealthCheck& hc = *check;
                    // validate even disabled backends: a bad file should fail now, not later
                    ProbeSpec spec = resolve_check(check, rcfg, bcfg);
                    if (!bp.enabled) continue;
                    Millis timeout =
                        std::min({hc.timeout, rcfg.scrape_timeout, rcfg.scrape_interval});
                    if (timeout <= Millis(0)) timeout = Millis(1000);
                    Millis interval =
                        rcfg.scrape_interval > Millis(0) ? rcfg.scrape_interval : Millis(10000);
                    auto [sit, new_spec] = specs.try_emplace(spec.key);
                    if (new_spec) sit->second = std::make_shared<const ProbeSpec>(std::move(spec));
                    auto [it, fresh] =
                        by_id.try_emplace(TargetId{b.addr, sit->second.get()}, plan.targets.size());
                    if (fresh) {
                        TargetPlan tp;
                        tp.addr = b.addr;
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
                plan.backends.push_back(std::move(bp));
            }
        }
    }
    return plan;
}

namespace {

/// Matches one address family of a record: same position first, else the same address.
template <typename Family>
void carry_family(const Family& next, const Family& prev, std::vector<std::uint32_t>& out) {
    for (std::size_t j = 0; j < next.size(); ++j) {
        const gslb::BackendRt& b = next[j];
        if (b.id >= out.size()) continue;
        const gslb::BackendRt* o = nullptr;
        if (j < prev.size() && prev[j].addr == b.addr) {
            o = &prev[j];
        } else {
            for (const auto& c : prev) {
                if (c.addr == b.addr) {
                    o = &c;
                    break;
                }
            }
        }
        if (o != nullptr) out[b.id] = o->id;
    }
}

}  // namespace

std::vector<std::uint32_t> carry_ids(const gslb::Topology& prev, const gslb::Topology& next) {
    std::vector<std::uint32_t> out(next.backend_count, kNoBackend);
    // built on the first record that is not where it was (sorted by pointer), then on the
    // first whose config is new (by name): a reload that changed a few records pays for the
    // tables once, one that changed none never
    std::vector<std::pair<const config::Record*, std::uint32_t>> by_cfg;
    std::unordered_map<std::string_view, std::uint32_t> by_name;
    bool have_cfg = false, have_name = false;
    for (std::size_t i = 0; i < next.records.size(); ++i) {
        const gslb::RecordRt& rec = next.records[i];
        if (rec.cfg == nullptr) continue;
        const gslb::RecordRt* old = nullptr;
        if (i < prev.records.size() && prev.records[i].cfg == rec.cfg) {
            old = &prev.records[i];
        } else {
            if (!have_cfg) {
                have_cfg = true;
                by_cfg.reserve(prev.records.size());
                for (std::size_t k = 0; k < prev.records.size(); ++k)
                    if (prev.records[k].cfg != nullptr)
                        by_cfg.emplace_back(prev.records[k].cfg, static_cast<std::uint32_t>(k));
                std::sort(by_cfg.begin(), by_cfg.end(), [](const auto& a, const auto& b) {
                    return std::less<>{}(a.first, b.first);
                });
            }
            auto it = std::lower_bound(
                by_cfg.begin(), by_cfg.end(), rec.cfg,
                [](const auto& e, const config::Record* p) { return std::less<>{}(e.first, p); });
            if (it != by_cfg.end() && it->first == rec.cfg) {
                old = &prev.records[it->second];
            } else {
                if (!have_name) {
                    have_name = true;
                    by_name.reserve(prev.records.size());
                    for (std::size_t k = 0; k < prev.records.size(); ++k)
                        if (prev.records[k].cfg != nullptr)
                            by_name.emplace(prev.records[k].cfg->name,
                                            static_cast<std::uint32_t>(k));
                }
                auto n = by_name.find(rec.cfg->name);
                if (n != by_name.end()) old = &prev.records[n->second];
            }
        }
        if (old == nullptr) continue;
        carry_family(rec.v4, old->v4, out);
        carry_family(rec.v6, old->v6, out);
    }
    return out;
}

}  // namespace gslbd::health
