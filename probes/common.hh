#pragma once
/// What the probe kind plug-ins of this directory share: reading their params.
#include <fmt/format.h>

#include <string>

#include "config/model.hh"
#include "health/probe_kind.hh"

namespace gslbd::probes {

using health::CheckSite;
using RawParam = config::HealthCheck::RawParam;

/// params.<key> as text; `dflt` when absent or null.
inline std::string text_param(const config::HealthCheck& hc, const char* key,
                              std::string dflt = {}) {
    const RawParam* p = health::raw_param(hc, key);
    return p != nullptr ? p->value : dflt;
}

/// params.<key> as a boolean (true/false, yes/no, on/off, 1/0).
inline bool bool_param(const config::HealthCheck& hc, const CheckSite& site, const char* key,
                       bool dflt) {
    const RawParam* p = health::raw_param(hc, key);
    if (p == nullptr || p->value.empty()) return dflt;
    std::string v;
    for (char c : p->value) v += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (v == "true" || v == "yes" || v == "on" || v == "1") return true;
    if (v == "false" || v == "no" || v == "off" || v == "0") return false;
    throw config::ConfigError(
        p->pos, key,
        fmt::format("{}: params.{} must be true or false, not '{}'", site.where, key, p->value));
}

}  // namespace gslbd::probes
