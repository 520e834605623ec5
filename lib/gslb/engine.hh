#pragma once
/// The answer engine: one parsed query + snapshot + client -> records in a ResponseWriter.
#include <array>
#include <cstdint>
#include <cstring>

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
    std::uint8_t ecs_scope = 0;  ///< scope the answer depended on
    std::uint32_t decision_class = 0;
    std::int32_t record_id = -1;  ///< GSLB record answered, -1 if none
    bool fallback = false;        ///< no healthy backend: fallback policy applied
};

/// How choose_client() picked the client.
enum class ClientChoice : std::uint8_t {
    Source,         ///< the packet source: the query has no ECS option
    Ecs,            ///< the ECS address: present, enabled, trusted, source prefix > 0
    EcsDisabled,    ///< the packet source: ECS present but ecs.enabled is false
    EcsUntrusted,   ///< the packet source: ECS present but the source is not in ecs.trust
    EcsPrefixZero,  ///< the packet source: ECS source prefix 0 asks for an answer for everyone
};

/// True when ECS from `source` may be used: `source` lies in one of topo.ecs_trust's
/// prefixes (an empty list trusts everyone; choose_client() checks that inline).
bool ecs_trusted(const Topology& topo, const util::IpAddr& source) noexcept;

/// Who a query is answered for: the ECS address when the query carries one, ECS is enabled,
/// `source` is trusted (ecs.trust, empty = everyone) and the source prefix is not 0 (RFC
/// 7871 §7.1.2: decide on the packet source and answer with scope 0); else `source`. The
/// pipeline and the control API's explain both call this, so they cannot disagree.
inline ClientChoice choose_client(const Topology& topo, const dns::Query& q,
                                  const util::IpAddr& source, ClientInfo& client) noexcept {
    client.addr = source;
    client.source_prefix = static_cast<std::uint8_t>(source.family == 4 ? 32 : 128);
    client.from_ecs = false;
    if (!q.ecs.present) return ClientChoice::Source;
    if (!topo.ecs_enabled) return ClientChoice::EcsDisabled;
    if (!topo.ecs_trust.empty() && !ecs_trusted(topo, source)) return ClientChoice::EcsUntrusted;
    if (q.ecs.source_prefix == 0) return ClientChoice::EcsPrefixZero;
    client.addr = util::IpAddr{};
    client.addr.family = q.ecs.family == 1 ? 4 : 6;
    std::memcpy(client.addr.bytes.data(), q.ecs.addr.data(), client.addr.size());
    client.source_prefix = q.ecs.source_prefix;
    client.from_ecs = true;
    return ClientChoice::Ecs;
}

/// Traffic shifts of modes that pick by client (Health::split, docs/gradual.md): the prefix
/// of the client a shift splits by: its ECS source prefix, at most /24 (IPv4) or /56 (IPv6);
/// the packet source's /24 or /56 without ECS. Also the least ECS scope of an answer that
/// depends on the split.
inline std::uint8_t split_bits(const ClientInfo& c) noexcept {
    const std::uint8_t cap = c.addr.family == 6 ? 56 : 24;
    return c.from_ecs && c.source_prefix < cap ? c.source_prefix : cap;
}
/// The client's bucket, 0..99: address_hash() of its split_bits() prefix, scaled. The same
/// client (prefix) has the same bucket in every shift, record and snapshot, and on every
/// node, so a shift at m % moves exactly the clients of buckets below m, and a larger m
/// only adds clients.
inline std::uint32_t split_bucket(const ClientInfo& c) noexcept {
    const std::uint64_t h = address_hash(c.addr.masked(split_bits(c)));
    return static_cast<std::uint32_t>(((h >> 32) * 100) >> 32);
}
/// Plan::split of a client that keeps every backend although the answer depends on the split.
inline constexpr std::uint8_t kSplitKept = 255;

/// The cheap first half of answer(): zone and record lookup, the eligible backends and,
/// for cacheable modes, the policy's classification and variant. Everything the response
/// cache keys on is known after plan(); build() then writes the answer. plan() advances
/// per-worker policy state (roundrobin cursor, RNG) exactly once per query, so it must be
/// called once per query, whether the answer then comes from the cache or from build().
struct Plan {
    const ZoneRt* zone = nullptr;  ///< nullptr: REFUSED
    const RecordRt* rec = nullptr;
    const NsRt* ns = nullptr;
    /// True when the whole answer is a function of (snapshot, lower-case qname, qtype,
    /// qclass, DO, decision.decision_class, decision.variant): the response cache may keep
    /// it. False for modes that only implement Policy::select().
    bool cacheable = true;
    bool address = false;   ///< GSLB A/AAAA through the record's policy
    bool fallback = false;  ///< no healthy backend: the fallback decided `eligible`
    bool ent = false;       ///< the name is an empty non-terminal of `zone`
    /// HTTPS/SVCB at a GSLB record: `eligible` and `fallback` are the IPv4 part's,
    /// decision4 / decision6 / fallback6 each family's decision; `decision` is the one the
    /// cache keys on (scope: the larger of the two).
    bool svcb = false;
    bool fallback6 = false;
    Decision decision;  ///< class, scope, variant (all 0 without a policy)
    /// A traffic shift's client split (Health::split) for this client: 0 when no eligible
    /// backend is split (the answer does not depend on it); kSplitKept when some is but
    /// this client's bucket keeps them all; else the smallest moved percent above the
    /// client's bucket: the split backends of that percent or more are out of `eligible`.
    /// The response cache keys on it (with decision.scope at least split_bits()), since it
    /// fixes the eligible set the decision was made on.
    std::uint8_t split = 0;
    Decision decision4, decision6;
    std::uint16_t eligible_count = 0;
    std::array<std::uint16_t, kMaxFamilyBackends> eligible;  ///< left uninitialised past count
};

/// Fills `p` for `q` (see Plan). Never allocates.
void plan(const Snapshot& snap, const dns::Query& q, const ClientInfo& client, WorkerState& ws,
          Plan& p) noexcept;

/// Writes the answer `p` (from plan() for the same snap, q and client) into `w`; the
/// contract is answer()'s.
AnswerInfo build(const Snapshot& snap, const dns::Query& q, const ClientInfo& client,
                 WorkerState& ws, const Plan& p, dns::ResponseWriter& w) noexcept;

/// plan() then build().
/// Calls w.begin() and adds answer/authority/additional records. Does not add OPT or
/// finish: the pipeline does that. AA is set for every name inside our zones.
/// Behaviour: apex SOA/NS (+ glue), GSLB records A/AAAA via the record's policy, TXT debug
/// when enabled, ANY -> RFC 8482 HINFO, every other type at an existing name -> NODATA
/// (incl. HTTPS/SVCB), unknown names -> NXDOMAIN, empty non-terminals -> NODATA,
/// qclass other than IN/ANY -> REFUSED.
AnswerInfo answer(const Snapshot& snap, const dns::Query& q, const ClientInfo& client,
                  WorkerState& ws, dns::ResponseWriter& w) noexcept;

}  // namespace gslbd::gslb
