#include "health/probe_kind.hh"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <stdexcept>

namespace gslbd::health {

namespace {
// Function-local: registrations run during static initialization, in any order.
std::map<std::string, ProbeKind, std::less<>>& kinds() {
    static std::map<std::string, ProbeKind, std::less<>> m;
    return m;
}
}  // namespace

bool register_probe_kind(ProbeKind kind) {
    std::string name = kind.name;
    if (!kinds().emplace(name, std::move(kind)).second) {
        throw std::logic_error("probe kind '" + name + "' registered twice");
    }
    return true;
}

const ProbeKind* find_probe_kind(std::string_view name) {
    auto it = kinds().find(name);
    return it == kinds().end() ? nullptr : &it->second;
}

std::vector<std::string> probe_kind_names() {
    std::vector<std::string> out;
    for (const auto& [n, k] : kinds()) out.push_back(n);
    return out;
}

const config::HealthCheck::RawParam* raw_param(const config::HealthCheck& hc,
                                               std::string_view key) {
    for (const auto& p : hc.raw_params) {
        if (p.key != key) continue;
        if (!p.scalar) {
            throw config::ConfigError(p.pos, p.key,
                                      fmt::format("params.{} must be a single value", p.key));
        }
        return &p;
    }
    return nullptr;
}

void check_known_params(const config::HealthCheck& hc, const CheckSite& site,
                        std::initializer_list<std::string_view> known) {
    for (const auto& p : hc.raw_params) {
        if (std::find(known.begin(), known.end(), p.key) != known.end()) continue;
        std::string list;
        for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
        throw config::ConfigError(p.pos, p.key,
                                  fmt::format("{}: unknown param '{}' for a {} check (known: {})",
                                              site.where, p.key, hc.type, list));
    }
}

}  // namespace gslbd::health
