#pragma once
/// The answer engine: one parsed query + snapshot + client -> records in a ResponseWriter.
#include <cstdint>

#include "dns/query.hh"
#include "dns/response.hh"
#include "gslb/policy.hh"
#include "gslb/snapshot.hh"

namespace gslbd::gslb {

enum class AnswerKind : std::uint8_t {
    Answer,    ///< NOERROR with data
    NoData,    ///< NOERROR, empty answer, SOA in authority
    NxDomain,  ///< NXDOMAIN, SOA in authority
    Refused,   ///< name outside our zones
    ServFail,  ///< fallback policy said so (or another fixed rcode, see `rcode`)
};

struct AnswerInfo {
    AnswerKind kind = AnswerKind::Refused;
    dns::Rcode rcode = dns::Rcode::Refused;
    std::uint8_t ecs_scope = 0;       ///< scope the answer depended on
    std::uint32_t decision_class = 0;
    std::int32_t record_id = -1;      ///< GSLB record answered, -1 if none
    bool fallback = false;            ///< no healthy backend: fallback policy applied
};

/// Calls w.begin() and adds answer/authority/additional records. Does not add OPT or
/// finish: the pipeline does that. AA is set for every name inside our zones.
/// Behaviour: apex SOA/NS (+ glue), GSLB records A/AAAA via the record's policy, TXT debug
/// when enabled, ANY -> RFC 8482 HINFO, every other type at an existing name -> NODATA
/// (incl. HTTPS/SVCB), unknown names -> NXDOMAIN, empty non-terminals -> NODATA,
/// qclass other than IN/ANY -> REFUSED.
AnswerInfo answer(const Snapshot& snap, const dns::Query& q, const ClientInfo& client,
                  WorkerState& ws, dns::ResponseWriter& w) noexcept;

}  // namespace gslbd::gslb
