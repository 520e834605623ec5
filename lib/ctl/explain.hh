#pragma once
/// "Why did Tokyo get Frankfurt": the decision trace for one query, computed by running the
/// data plane's own code (gslb::plan and a pipeline::Pipeline without cache) on the snapshot
/// the workers answer from, so it cannot disagree with what dig gets.
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "ctl/control.hh"

namespace gslbd::ctl {

struct ExplainRequest {
    std::string name;                   ///< "www.example." (trailing dot optional)
    std::string qtype = "A";            ///< A, AAAA, TXT, ..., TYPE65 or a number
    util::IpAddr client;                ///< the packet source the query comes from
    std::optional<util::IpPrefix> ecs;  ///< EDNS Client Subnet sent with the query
};

/// The trace as JSON (see docs/api.md "explain"). Throws RequestError(400) for a bad name
/// or type, RequestError(503) before the first snapshot.
nlohmann::json explain(const gslb::Snapshot& view, const ExplainRequest& req);

/// Slow start and flap damping of backend `b` as of now (docs/gradual.md), for status and
/// explain: {"slow_start": {...}, "damping": {...}, "changed_s_ago"}; null when the
/// snapshot has no gradual notes (no record uses the rules).
nlohmann::json gradual_json(const gslb::Health& h, const gslb::BackendRt& b,
                            const config::Gradual& g);

/// A backend's effective weight, `weight` x `percent` / 100, as status and explain show it:
/// a JSON integer when whole (8), else a number rounded to 3 decimals (0.67).
nlohmann::json weight_json(std::uint64_t weight, std::uint32_t percent);

/// "A" -> 1, "TYPE65" -> 65, "28" -> 28; nullopt when unknown.
std::optional<std::uint16_t> qtype_from_text(const std::string& text);
/// 1 -> "A", 65 -> "HTTPS", 999 -> "TYPE999".
std::string qtype_name(std::uint16_t t);
/// 0 -> "NOERROR", 3 -> "NXDOMAIN", ...
std::string rcode_name(unsigned rcode);

}  // namespace gslbd::ctl
