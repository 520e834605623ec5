#pragma once
/// The request bodies of the control API (docs/api.md), checked without any HTTP: JSON text
/// in, a validated request out, RequestError(400) naming the field otherwise. api.cc calls
/// these; so does the fuzz target (tests/fuzz/fuzz_api_json.cc).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "ctl/admin.hh"
#include "ctl/control.hh"
#include "ctl/explain.hh"

namespace gslbd::ctl {

/// A request body as JSON: "" is an empty object; text that is not JSON is
/// RequestError(400, "bad JSON: ...").
nlohmann::json parse_json_body(const std::string& body);

/// POST /api/v1/backends/{enable,disable,drain,weight}.
struct BackendsRequest {
    Selector selector;
    AdminAction action = AdminAction::Enable;
    std::uint32_t weight = 0;  ///< "weight" only: 0..1000000, 0 = the configured weight
};

/// Checks the body of a backends call for `verb` (enable, disable, drain, weight): an
/// object of known keys with the right types; "weight" only for the weight call, where it
/// is required. Throws RequestError(400).
BackendsRequest parse_backends_request(const std::string& verb, const nlohmann::json& body);

/// POST /api/v1/shift (docs/api.md): the selector keys of the backends calls plus "share"
/// and "step" (integer percent, 1..100; default 100 and 10), "interval" (seconds as a number
/// or a string with ms/s/m/h; default 60 s; 0.1 s .. 1 day) and, for a drill,
/// "restore_after" (the same form; at most 7 days). Throws RequestError(400).
ShiftParams parse_shift_request(const nlohmann::json& body);

/// The parameters of /api/v1/explain as a JSON object of strings (a POST body, or the
/// query string of a GET): name and client required, qtype/type and ecs optional.
/// Throws RequestError(400).
ExplainRequest parse_explain_request(const nlohmann::json& in);

/// POST /api/v1/plan (docs/api.md "plan"): {"reload": {"config": PATH}} (config optional:
/// the file in use) or {"override": {"action": enable|disable|drain|weight, selector fields,
/// "weight" for the weight action}}. Throws RequestError(400).
struct PlanRequest {
    bool reload = false;
    std::string config;  ///< reload: the candidate main config ("" = the one in use)
    std::string verb;    ///< override: enable, disable, drain, weight
    BackendsRequest override_;
};
PlanRequest parse_plan_request(const nlohmann::json& body);

}  // namespace gslbd::ctl
