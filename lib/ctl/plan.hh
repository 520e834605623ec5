#pragma once
/// The preview of a change (issue 18 item 7, docs/gradual.md "Plan"): for every decision
/// class recent queries fell into (gslb::ClassCounts), the answers now and after a reload or
/// an override, and the share of those queries that would get a different answer. Both
/// sides run the data plane's own code (gslb::plan + gslb::build) on a snapshot; the
/// candidate snapshot is built off to the side (Control::plan_reload / plan_override) and
/// never published.
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "gslb/snapshot.hh"

namespace gslbd::ctl {

/// Draws per class for modes that pick per query (weighted, roundrobin, random): the answer
/// shares are estimated from this many draws, the same draws on both sides, so a class whose
/// eligible set and weights do not change shows exactly no change.
inline constexpr int kPlanDraws = 4000;

/// The plan as JSON (docs/api.md "plan"): `now` is the snapshot the workers answer from (its
/// topology's counters are read), `after` the candidate; `change` describes the change for
/// a person. Throws RequestError(503) before the first snapshot.
nlohmann::json plan_json(const gslb::Snapshot& now, const gslb::Snapshot& after,
                         const std::string& change);

}  // namespace gslbd::ctl
