#include "gslb/engine.hh"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>

#include "util/bytes.hh"

namespace gslbd::gslb {

namespace {

using dns::NameRef;
using dns::Section;

bool add_addr(dns::ResponseWriter& w, Section s, NameRef owner, std::uint32_t ttl,
              const util::IpAddr& a) noexcept {
    return a.family == 4 ? w.add_a(s, owner, ttl, a.bytes.data())
                         : w.add_aaaa(s, owner, ttl, a.bytes.data());
}

void add_soa(dns::ResponseWriter& w, Section s, const ZoneRt& z, NameRef owner,
             std::uint32_t ttl) noexcept {
    const dns::SoaData d{z.soa_mname.span(), z.soa_rname.span(), z.soa.serial, z.soa.refresh,
                         z.soa.retry,        z.soa.expire,       z.soa.minimum};
    w.add_soa(s, owner, ttl, d);
}

AnswerInfo& negative(dns::ResponseWriter& w, const ZoneRt& z, AnswerKind kind,
                     AnswerInfo& info) noexcept {
    info.kind = kind;
    info.rcode = kind == AnswerKind::NxDomain ? dns::Rcode::NxDomain : dns::Rcode::NoError;
    w.set_rcode(info.rcode);
    // RFC 2308 §5: the negative TTL is the smaller of the SOA's own TTL and MINIMUM.
    add_soa(w, Section::Authority, z, NameRef::of(z.name.span()),
            std::min(z.soa.ttl, z.soa.minimum));
    return info;
}

AnswerKind kind_of(dns::Rcode r) noexcept {
    switch (r) {
        case dns::Rcode::NoError:
            return AnswerKind::NoData;
        case dns::Rcode::NxDomain:
            return AnswerKind::NxDomain;
        case dns::Rcode::Refused:
            return AnswerKind::Refused;
        default:
            return AnswerKind::ServFail;
    }
}

AnswerInfo& answer_address(const Snapshot& snap, const ZoneRt& z, const RecordRt& rec,
                           const dns::Query& q, const ClientInfo& client, WorkerState& ws,
                           const Plan& p, dns::ResponseWriter& w, AnswerInfo& info,
                           NameRef owner = NameRef::qname()) noexcept {
    const bool v4 = q.qtype == dns::qtype::A;
    std::span<const BackendRt> family = v4 ? rec.v4 : rec.v6;
    // dynamic_ttl: shorter while the answer may change soon (docs/gradual.md)
    const std::uint32_t ttl = snap.ttl_of(rec, v4 ? 4 : 6);
    if (family.empty()) {
        // CoreDNS-GSLB answers a family without backends from a fail-specific fallback that
        // has something for it (a fallback address of that family, or the CNAME).
        const FallbackRt& fb = rec.fallback;
        const auto& ips = v4 ? fb.v4 : fb.v6;
        if (fb.mode == config::FallbackMode::Ips && !ips.empty()) {
            info.fallback = true;
            for (const auto& ip : ips) add_addr(w, Section::Answer, owner, ttl, ip);
            return info;
        }
        if (fb.mode == config::FallbackMode::Cname) {
            info.fallback = true;
            w.add_cname(Section::Answer, owner, ttl, NameRef::of(fb.cname.span()));
            return info;
        }
        return negative(w, z, AnswerKind::NoData, info);
    }
    info.fallback = p.fallback;
    if (p.fallback) {
        const FallbackRt& fb = rec.fallback;
        switch (fb.mode) {
            case config::FallbackMode::FailOpen: {
                // CoreDNS-GSLB's fail-open: every enabled backend, the mode not applied.
                std::size_t written = 0;
                for (std::size_t k = 0; k < p.eligible_count && written < kMaxAnswers; ++k) {
                    add_addr(w, Section::Answer, owner, ttl, family[p.eligible[k]].addr);
                    ws.picked[ws.picked_count++] = family[p.eligible[k]].id;
                    ++written;
                }
                if (written == 0) return negative(w, z, AnswerKind::NoData, info);
                return info;
            }
            case config::FallbackMode::FailOpenSelect:
                break;  // plan() put the enabled backends in p.eligible; the mode picks
            case config::FallbackMode::Rcode:
                info.kind = kind_of(fb.rcode);
                info.rcode = fb.rcode;
                w.set_rcode(fb.rcode);
                return info;
            case config::FallbackMode::Ips: {
                const auto& ips = v4 ? fb.v4 : fb.v6;
                // CoreDNS-GSLB: no fallback address of the queried family -> SERVFAIL
                if (ips.empty()) {
                    info.kind = AnswerKind::ServFail;
                    info.rcode = dns::Rcode::ServFail;
                    w.set_rcode(dns::Rcode::ServFail);
                    return info;
                }
                for (const auto& ip : ips) add_addr(w, Section::Answer, owner, ttl, ip);
                return info;
            }
            case config::FallbackMode::Cname:
                w.add_cname(Section::Answer, owner, ttl, NameRef::of(fb.cname.span()));
                return info;
        }
    }
    if (p.eligible_count == 0) return negative(w, z, AnswerKind::NoData, info);

    Selection sel;
    const SelectContext ctx{snap,
                            rec,
                            family,
                            {p.eligible.data(), p.eligible_count},
                            client,
                            ws,
                            v4 ? std::uint8_t{4} : std::uint8_t{6}};
    if (rec.policy->cacheable()) {
        rec.policy->select_decided(ctx, p.decision, sel);
    } else {
        rec.policy->select(ctx, sel);
    }
    std::size_t written = 0;
    for (std::size_t k = 0; k < sel.count; ++k) {
        if (sel.idx[k] >= family.size()) continue;
        add_addr(w, Section::Answer, owner, ttl, family[sel.idx[k]].addr);
        ws.picked[ws.picked_count++] = family[sel.idx[k]].id;
        ++written;
    }
    info.ecs_scope = p.split != 0 ? std::max(sel.scope, split_bits(client)) : sel.scope;
    info.decision_class = sel.decision_class;
    if (written == 0) return negative(w, z, AnswerKind::NoData, info);
    return info;
}

/// The eligible backends of `family` (indices into it) for `rec`: enabled, healthy and not
/// overridden by the operator; when there are none, `fallback` is set and, for the
/// fail-open modes, the enabled backends that are not disabled stand in.
[[gnu::always_inline]] inline std::size_t eligible_of(const Snapshot& snap, const RecordRt& rec,
                                                      std::span<const BackendRt> family,
                                                      std::span<std::uint16_t> out,
                                                      bool& fallback) noexcept {
    std::size_t n = 0;
    fallback = false;
    for (std::size_t i = 0; i < family.size() && n < out.size(); ++i) {
        if (family[i].enabled && snap.backend_up(family[i]) &&
            snap.backend_state(family[i]) == AdminState::Enabled) {
            out[n++] = static_cast<std::uint16_t>(i);
        }
    }
    if (n != 0 || family.empty()) return n;
    fallback = true;
    const bool open = rec.fallback.mode == config::FallbackMode::FailOpen;
    if (!open && rec.fallback.mode != config::FallbackMode::FailOpenSelect) return 0;
    for (std::size_t i = 0; i < family.size() && n < out.size(); ++i) {
        // disabled stays out even here; drained is a last resort
        if (family[i].enabled && snap.backend_state(family[i]) != AdminState::Disabled)
            out[n++] = static_cast<std::uint16_t>(i);
    }
    return n;
}

/// A traffic shift's client split (Health::split): takes out of `eligible` (n indices into
/// `family`) the split backends whose moved percent lies above this client's bucket, unless
/// that would leave none (nowhere to move to: the client keeps them, as a weight shift
/// keeps a record whose every usable backend is a target). Returns Plan::split. The
/// removed set is a function of the returned key (the backends split by that percent or
/// more), so the key, the snapshot and the record fix the eligible set. Off the hot path:
/// only called while some shift splits clients.
[[gnu::noinline]] std::uint8_t split_eligible(const Snapshot& snap,
                                              std::span<const BackendRt> family,
                                              const ClientInfo& client, std::uint16_t* eligible,
                                              std::size_t& n) noexcept {
    const std::vector<std::uint8_t>& split = snap.health->split;
    auto split_of = [&](std::uint16_t i) noexcept -> std::uint32_t {
        const std::uint32_t id = family[i].id;
        return id < split.size() ? split[id] : 0;
    };
    bool any = false;
    for (std::size_t k = 0; k < n && !any; ++k) any = split_of(eligible[k]) != 0;
    if (!any) return 0;
    const std::uint32_t bucket = split_bucket(client);
    std::uint32_t key = 0;
    std::size_t kept = 0;
    for (std::size_t k = 0; k < n; ++k) {
        const std::uint32_t m = split_of(eligible[k]);
        if (m > bucket) {
            if (key == 0 || m < key) key = m;
        } else {
            ++kept;
        }
    }
    if (key == 0 || kept == 0) return kSplitKept;
    std::size_t w = 0;
    for (std::size_t k = 0; k < n; ++k)
        if (split_of(eligible[k]) <= bucket) eligible[w++] = eligible[k];
    n = w;
    return static_cast<std::uint8_t>(key);
}

/// The memo slot of (rec, family, client): a multiplicative hash of the address words,
/// the record and the prefix.
[[gnu::always_inline]] inline DecisionMemo::Entry& memo_slot(DecisionMemo& m, const RecordRt& rec,
                                                             bool v4,
                                                             const ClientInfo& c) noexcept {
    std::uint64_t a = 0, b = 0;
    std::memcpy(&a, c.addr.bytes.data(), 8);
    std::memcpy(&b, c.addr.bytes.data() + 8, 8);
    const std::uint64_t h =
        (a ^ (b * 0x9e3779b97f4a7c15ull) ^ reinterpret_cast<std::uintptr_t>(&rec) ^
         (std::uint64_t{c.source_prefix} << 1) ^ (v4 ? 1u : 0u)) *
        0xff51afd7ed558ccdull;
    static_assert((DecisionMemo::kSlots & (DecisionMemo::kSlots - 1)) == 0);
    return m.slots[(h >> 40) & (DecisionMemo::kSlots - 1)];
}

[[gnu::always_inline]] inline bool memo_matches(const DecisionMemo::Entry& e, const Snapshot& snap,
                                                const RecordRt& rec, bool v4,
                                                const ClientInfo& c) noexcept {
    // the address as two words: IpAddr's operator== compiles to a memcmp call
    std::uint64_t a[2], b[2];
    std::memcpy(a, e.client.addr.bytes.data(), 16);
    std::memcpy(b, c.addr.bytes.data(), 16);
    return e.snap == &snap && e.generation == snap.generation && e.rec == &rec && e.v4 == v4 &&
           ((a[0] ^ b[0]) | (a[1] ^ b[1])) == 0 && e.client.addr.family == c.addr.family &&
           e.client.source_prefix == c.source_prefix && e.client.from_ecs == c.from_ecs;
}

/// plan_address without the memo.
[[gnu::always_inline]] inline void plan_address_fresh(const Snapshot& snap, const RecordRt& rec,
                                                      bool v4, std::span<const BackendRt> family,
                                                      const ClientInfo& client, WorkerState& ws,
                                                      Plan& p) noexcept {
    bool fallback = false;
    std::size_t n = eligible_of(snap, rec, family, p.eligible, fallback);
    // a shift that splits clients (one empty vector to check while none runs); a fallback
    // answer is a last resort and is not split
    if (!fallback && n != 0 && snap.splitting()) [[unlikely]]
        p.split = split_eligible(snap, family, client, p.eligible.data(), n);
    p.fallback = fallback;
    p.eligible_count = static_cast<std::uint16_t>(n);
    if (n == 0) return;
    p.address = true;
    // Fail-open answers every enabled backend: the same for every client, one variant.
    if (p.fallback && rec.fallback.mode == config::FallbackMode::FailOpen) return;
    if (rec.policy == nullptr || !rec.policy->cacheable()) {
        p.cacheable = false;
        return;
    }
    const SelectContext ctx{snap,
                            rec,
                            family,
                            {p.eligible.data(), n},
                            client,
                            ws,
                            v4 ? std::uint8_t{4} : std::uint8_t{6}};
    rec.policy->classify(ctx, p.decision);
    // the answer depends on the client's split prefix too: an honest scope covers it
    if (p.split != 0) [[unlikely]]
        p.decision.scope = std::max(p.decision.scope, split_bits(client));
    p.decision.variant = rec.policy->variant(ctx, p.decision);
}

/// The eligible set for an address query, and the policy's decision when it has one. A
/// by_client() mode's plan comes from the worker's memo when this client asked the same
/// record under the same snapshot (no geo lookup, no hashing, no health walk).
[[gnu::always_inline]] inline void plan_address(const Snapshot& snap, const RecordRt& rec, bool v4,
                                                const ClientInfo& client, WorkerState& ws,
                                                Plan& p) noexcept {
    std::span<const BackendRt> family = v4 ? rec.v4 : rec.v6;
    if (family.empty()) return;
    DecisionMemo::Entry* slot = nullptr;
    if (rec.by_client && ws.decisions != nullptr) {
        slot = &memo_slot(*ws.decisions, rec, v4, client);
        if (memo_matches(*slot, snap, rec, v4, client)) {
            p.fallback = slot->fallback;
            p.address = slot->address;
            p.cacheable = slot->cacheable;
            p.split = slot->split;
            p.decision = slot->decision;
            p.eligible_count = slot->count;
            // the whole fixed array: a constant-size copy, no call for a variable length
            static_assert(DecisionMemo::kEligible <= kMaxFamilyBackends);
            std::memcpy(p.eligible.data(), slot->eligible.data(), sizeof slot->eligible);
            return;
        }
    }
    plan_address_fresh(snap, rec, v4, family, client, ws, p);
    if (slot != nullptr && p.eligible_count <= DecisionMemo::kEligible) {
        slot->snap = &snap;
        slot->generation = snap.generation;
        slot->rec = &rec;
        slot->v4 = v4;
        slot->client = client;
        slot->fallback = p.fallback;
        slot->address = p.address;
        slot->cacheable = p.cacheable;
        slot->split = p.split;
        slot->decision = p.decision;
        slot->count = p.eligible_count;
        std::copy_n(p.eligible.begin(), p.eligible_count, slot->eligible.begin());
    }
}

/// HTTPS/SVCB: both families decide as their A and AAAA answers would. The IPv4 part is
/// planned into `p` as for an A query, the IPv6 decision into p.decision6 (its eligible
/// set is recomputed by build(): it depends only on the snapshot). The cache keys on one
/// decision, so the answer is cacheable only when at most one family's decision depends
/// on the client or the query (the other's is the same for everyone).
void plan_svcb(const Snapshot& snap, const RecordRt& rec, const ClientInfo& client, WorkerState& ws,
               Plan& p) noexcept {
    p.svcb = true;
    plan_address(snap, rec, true, client, ws, p);
    const Decision d4 = p.decision;
    const bool fallback4 = p.fallback;
    const std::uint16_t count4 = p.eligible_count;
    const bool cacheable4 = p.cacheable;
    // the IPv6 plan, in a scratch plan's arrays: p.eligible keeps the IPv4 set
    Plan six;
    six.cacheable = true;
    plan_address(snap, rec, false, client, ws, six);
    p.decision4 = d4;
    p.decision6 = six.decision;
    p.fallback6 = six.fallback;
    p.fallback = fallback4;
    p.eligible_count = count4;
    p.address = false;
    const bool trivial4 = d4.decision_class == 0 && d4.variant == 0;
    const bool trivial6 = six.decision.decision_class == 0 && six.decision.variant == 0;
    // a shift's client split in either family: the cache would need both keys
    p.cacheable =
        cacheable4 && six.cacheable && (trivial4 || trivial6) && p.split == 0 && six.split == 0;
    p.split = 0;
    p.decision = trivial6 ? d4 : six.decision;
    if (!trivial4 && !trivial6) p.decision = d4;
    p.decision.scope = std::max(d4.scope, six.decision.scope);
}

/// The addresses `rec`'s mode gives for one family of an HTTPS/SVCB answer, appended to
/// `out` (4 or 16 bytes each). `failed`: no usable backend (or none of the family); with
/// `use_fallback` the fail-open modes then serve their stand-ins.
std::size_t svcb_family(const Snapshot& snap, const RecordRt& rec, bool v4,
                        const ClientInfo& client, WorkerState& ws, const Decision& d,
                        bool use_fallback, std::uint8_t* out, bool& failed,
                        std::uint8_t& scope) noexcept {
    std::span<const BackendRt> family = v4 ? rec.v4 : rec.v6;
    failed = true;
    if (family.empty()) return 0;
    std::array<std::uint16_t, kMaxFamilyBackends> eligible;
    bool fallback = false;
    std::size_t n = eligible_of(snap, rec, family, eligible, fallback);
    std::uint8_t split = 0;  // as plan_address_fresh splits it
    if (!fallback && n != 0 && snap.splitting())
        split = split_eligible(snap, family, client, eligible.data(), n);
    if (split != 0) scope = std::max(scope, split_bits(client));
    if (n == 0 || (fallback && !use_fallback)) return 0;
    const std::size_t width = v4 ? 4 : 16;
    std::size_t written = 0;
    if (fallback && rec.fallback.mode == config::FallbackMode::FailOpen) {
        for (std::size_t k = 0; k < n && written < kMaxAnswers; ++k, ++written)
            std::memcpy(out + written * width, family[eligible[k]].addr.bytes.data(), width);
    } else {
        Selection sel;
        const SelectContext ctx{snap,
                                rec,
                                family,
                                {eligible.data(), n},
                                client,
                                ws,
                                v4 ? std::uint8_t{4} : std::uint8_t{6}};
        if (rec.policy->cacheable())
            rec.policy->select_decided(ctx, d, sel);
        else
            rec.policy->select(ctx, sel);
        for (std::size_t k = 0; k < sel.count; ++k) {
            if (sel.idx[k] >= family.size()) continue;
            std::memcpy(out + written * width, family[sel.idx[k]].addr.bytes.data(), width);
            ++written;
        }
        scope = std::max(scope, sel.scope);
    }
    failed = written == 0;
    return written;
}

/// Appends one SvcParam (key, length, value) to `rdata` at `pos`.
std::size_t put_param(std::uint8_t* rdata, std::size_t pos, std::uint16_t key,
                      const std::uint8_t* value, std::size_t len) noexcept {
    util::store16(rdata + pos, key);
    util::store16(rdata + pos + 2, static_cast<std::uint16_t>(len));
    if (len != 0) std::memcpy(rdata + pos + 4, value, len);
    return pos + 4 + len;
}

/// HTTPS (65) / SVCB (64) at a GSLB record, as CoreDNS-GSLB answers them: one ServiceMode
/// RR (priority 1, target "." = the owner), SvcParams in key order: alpn (the record's or
/// h3, h2), port (the first backend that has one), ipv4hint / ipv6hint (what the record's
/// mode selects for this client, the same decision as its A / AAAA answer). When neither
/// family has a usable backend the record's failover policy decides for both together.
AnswerInfo& answer_svcb(const Snapshot& snap, const ZoneRt& z, const RecordRt& rec,
                        const dns::Query& q, const ClientInfo& client, WorkerState& ws,
                        const Plan& p, dns::ResponseWriter& w, AnswerInfo& info,
                        NameRef owner = NameRef::qname()) noexcept {
    std::array<std::uint8_t, 4 * kMaxAnswers> v4;
    std::array<std::uint8_t, 16 * kMaxAnswers> v6;
    bool failed4 = true, failed6 = true;
    std::uint8_t scope = 0;
    std::size_t n4 =
        svcb_family(snap, rec, true, client, ws, p.decision4, false, v4.data(), failed4, scope);
    std::size_t n6 =
        svcb_family(snap, rec, false, client, ws, p.decision6, false, v6.data(), failed6, scope);
    if (failed4 && failed6) {
        info.fallback = true;
        const FallbackRt& fb = rec.fallback;
        switch (fb.mode) {
            case config::FallbackMode::Rcode:
                info.kind = kind_of(fb.rcode);
                info.rcode = fb.rcode;
                w.set_rcode(fb.rcode);
                return info;
            case config::FallbackMode::Cname:
                w.add_cname(Section::Answer, owner, rec.ttl, NameRef::of(fb.cname.span()));
                return info;
            case config::FallbackMode::Ips:
                n4 = n6 = 0;
                for (const auto& ip : fb.v4)
                    if (n4 < kMaxAnswers) std::memcpy(v4.data() + 4 * n4++, ip.bytes.data(), 4);
                for (const auto& ip : fb.v6)
                    if (n6 < kMaxAnswers) std::memcpy(v6.data() + 16 * n6++, ip.bytes.data(), 16);
                break;
            case config::FallbackMode::FailOpen:
            case config::FallbackMode::FailOpenSelect:
                n4 = svcb_family(snap, rec, true, client, ws, p.decision4, true, v4.data(), failed4,
                                 scope);
                n6 = svcb_family(snap, rec, false, client, ws, p.decision6, true, v6.data(),
                                 failed6, scope);
                break;
        }
    }
    info.ecs_scope = scope;
    info.decision_class = p.decision.decision_class;
    if (n4 == 0 && n6 == 0) return negative(w, z, AnswerKind::NoData, info);

    std::array<std::uint8_t, 3 + 4 + 512 + 6 + 4 + sizeof v4 + 4 + sizeof v6> rdata;
    util::store16(rdata.data(), 1);  // SvcPriority 1: ServiceMode
    rdata[2] = 0;                    // TargetName "."
    std::size_t pos = 3;
    pos = put_param(rdata.data(), pos, 1, rec.svcb_alpn.data(), rec.svcb_alpn.size());
    if (rec.svcb_port != 0) {
        std::uint8_t port[2];
        util::store16(port, rec.svcb_port);
        pos = put_param(rdata.data(), pos, 3, port, 2);
    }
    if (n4 != 0) pos = put_param(rdata.data(), pos, 4, v4.data(), 4 * n4);
    if (n6 != 0) pos = put_param(rdata.data(), pos, 6, v6.data(), 16 * n6);
    w.add_rr(Section::Answer, owner, q.qtype, rec.ttl, {rdata.data(), pos});
    return info;
}

void add_debug_txt(const Snapshot& snap, std::span<const BackendRt> family, std::uint32_t ttl,
                   dns::ResponseWriter& w) noexcept {
    for (const auto& b : family) {
        char addr[INET6_ADDRSTRLEN];
        if (inet_ntop(b.addr.family == 4 ? AF_INET : AF_INET6, b.addr.bytes.data(), addr,
                      sizeof addr) == nullptr) {
            continue;
        }
        char buf[256];
        int len = std::snprintf(
            buf, sizeof buf, "Backend: %s | Priority: %d | Status: %s | Enabled: %s", addr,
            static_cast<int>(b.priority), snap.backend_up(b) ? "healthy" : "unhealthy",
            b.enabled ? "true" : "false");
        if (len <= 0) continue;
        w.add_txt(Section::Answer, NameRef::qname(), ttl,
                  {buf, std::min(static_cast<std::size_t>(len), sizeof buf - 1)});
    }
}

// ---- static zones (lib/zone): the answer an authoritative server gives -------------------

/// The name being answered in a static zone: the query name, then each CNAME target.
struct Cursor {
    const std::uint8_t* lname;  ///< lower-case wire
    std::size_t len;
    std::uint64_t hash;
    NameRef owner;  ///< the qname pointer for the query name, the target's wire after that
};

/// Longest CNAME chain followed inside one zone (a loop stops here too).
constexpr int kMaxChain = 12;

bool is_addr(std::uint16_t t) noexcept {
    return t == dns::qtype::A || t == dns::qtype::AAAA;
}
bool is_svcb(std::uint16_t t) noexcept {
    return t == dns::qtype::HTTPS || t == dns::qtype::SVCB;
}

bool name_in(const std::uint8_t* name, std::size_t len, const WireName& zone) noexcept {
    for (std::size_t o = 0; o < len; o += name[o] + 1u) {
        if (len - o == zone.len) return dns::same_bytes(name + o, zone.bytes.data(), zone.len);
        if (name[o] == 0) break;
    }
    return false;
}

/// Length of the uncompressed wire name at `p` (at most `cap` bytes), 0 when malformed.
std::size_t wire_len(const std::uint8_t* p, std::size_t cap) noexcept {
    std::size_t o = 0;
    while (o < cap && p[o] != 0) {
        if (p[o] > 63) return 0;
        o += p[o] + 1u;
    }
    return o < cap && o + 1 <= dns::kMaxNameWire ? o + 1 : 0;
}

/// The CNAME's target as the next cursor (lower-cased into `buf`): false when the target
/// lies outside `z` (the chain ends there, as in any authoritative server).
bool follow(const zone::StaticZone& st, const zone::RRset& cname, const ZoneRt& z,
            std::uint8_t* buf, Cursor& c) noexcept {
    const zone::Rdata r = st.first(cname);
    const std::size_t len = wire_len(r.data, r.len);
    if (len == 0) return false;
    dns::lower_name(r.data, buf, len);
    if (!name_in(buf, len, z.name)) return false;
    c = Cursor{buf, len, dns::name_hash(buf, len), NameRef::of({buf, len})};
    return true;
}

/// RFC 6672: `c` lies below a DNAME at its closest encloser `ce`. Writes the target (the
/// owner's part above `ce`, then the DNAME's target) lower-case into `buf` and makes it the
/// next cursor. False when the result is longer than a name may be (YXDOMAIN).
bool dname_target(const zone::StaticZone& st, const zone::RRset& dname, const zone::Node& ce,
                  std::uint8_t* buf, Cursor& c) noexcept {
    const zone::Rdata r = st.first(dname);
    const std::size_t tlen = wire_len(r.data, r.len);
    const std::size_t prefix = c.len - ce.len;
    if (tlen == 0 || prefix + tlen > dns::kMaxNameWire) return false;
    std::memcpy(buf, c.lname, prefix);
    dns::lower_name(r.data, buf + prefix, tlen);
    c = Cursor{buf, prefix + tlen, dns::name_hash(buf, prefix + tlen),
               NameRef::of({buf, prefix + tlen})};
    return true;
}

void write_rrset(const zone::StaticZone& st, const zone::RRset& s, NameRef owner, Section sec,
                 dns::ResponseWriter& w) noexcept {
    zone::Rdata r = st.first(s);
    for (std::uint16_t k = 0; k < s.count; ++k) {
        // next() reads the following RR's length: not past the last one
        if (k > 0) r = st.next(r);
        w.add_rr(sec, owner, s.type, s.ttl, {r.data, r.len});
    }
}

/// Additional-section addresses (A, AAAA) of the in-zone names an RRset points at: NS
/// targets, MX exchanges, SRV targets; each name once. Names of GSLB records are left out:
/// their addresses depend on the client, and the additional section of a cached answer
/// must not.
void add_targets(const zone::StaticZone& st, const zone::RRset& s, const ZoneRt& z,
                 dns::ResponseWriter& w, std::array<const zone::Node*, 16>& seen,
                 std::size_t& nseen) noexcept {
    std::size_t at = 0;
    if (s.type == zone::kTypeMX) {
        at = 2;
    } else if (s.type == zone::kTypeSRV) {
        at = 6;
    } else if (s.type != zone::kTypeNS) {
        return;
    }
    zone::Rdata r = st.first(s);
    for (std::uint16_t k = 0; k < s.count; ++k) {
        if (k > 0) r = st.next(r);
        if (r.len <= at) continue;
        const std::size_t len = wire_len(r.data + at, r.len - at);
        if (len == 0) continue;
        std::array<std::uint8_t, dns::kMaxNameWire> lname;
        dns::lower_name(r.data + at, lname.data(), len);
        if (!name_in(lname.data(), len, z.name)) continue;
        const zone::Node* n = st.find(lname.data(), len, dns::name_hash(lname.data(), len));
        if (n == nullptr || n->gslb >= 0) continue;
        bool dup = false;
        for (std::size_t i = 0; i < nseen; ++i) dup = dup || seen[i] == n;
        if (dup) continue;
        if (nseen < seen.size()) seen[nseen++] = n;
        const NameRef owner = NameRef::of(st.name_of(*n));
        if (const zone::RRset* a = st.rrset(*n, zone::kTypeA))
            write_rrset(st, *a, owner, Section::Additional, w);
        if (const zone::RRset* a = st.rrset(*n, zone::kTypeAAAA))
            write_rrset(st, *a, owner, Section::Additional, w);
    }
}

/// The first static-zone step of plan(): follows the CNAME chain (without writing) to find
/// whether the answer ends at a GSLB record, whose mode then decides (and keys the cache).
void plan_static(const Snapshot& snap, const dns::Query& q, const ClientInfo& client,
                 WorkerState& ws, Plan& p) noexcept {
    const zone::StaticZone& st = *p.zone->stat;
    std::array<std::array<std::uint8_t, dns::kMaxNameWire>, 2> bufs;
    Cursor c{q.qname_lower.data(), q.qname_len,
             q.qname_hash != 0 ? q.qname_hash : dns::name_hash(q.qname_lower.data(), q.qname_len),
             NameRef::qname()};
    p.rec = nullptr;
    for (int hop = 0; hop < kMaxChain; ++hop) {
        const zone::Lookup l = st.resolve(c.lname, c.len, c.hash);
        if (l.match == zone::Match::Referral) return;
        if (!l.exact) {
            const zone::RRset* dname = st.rrset(*l.encloser, zone::kTypeDNAME);
            if (dname != nullptr) {
                if (!dname_target(st, *dname, *l.encloser, bufs[hop & 1].data(), c) ||
                    !name_in(c.lname, c.len, p.zone->name))
                    return;
                continue;
            }
        }
        if (l.match == zone::Match::NxDomain) return;
        const zone::Node& n = *l.node;
        if (n.gslb >= 0 && (is_addr(q.qtype) || is_svcb(q.qtype))) {
            p.rec = &snap.topo->records[static_cast<std::size_t>(n.gslb)];
            if (is_addr(q.qtype)) {
                plan_address(snap, *p.rec, q.qtype == dns::qtype::A, client, ws, p);
            } else {
                plan_svcb(snap, *p.rec, client, ws, p);
            }
            return;
        }
        if (q.qtype == dns::qtype::CNAME || q.qtype == dns::qtype::ANY ||
            st.rrset(n, q.qtype) != nullptr)
            return;
        const zone::RRset* cname = st.rrset(n, zone::kTypeCNAME);
        if (cname == nullptr || !follow(st, *cname, *p.zone, bufs[hop & 1].data(), c)) return;
    }
}

AnswerInfo build_static(const Snapshot& snap, const dns::Query& q, const ClientInfo& client,
                        WorkerState& ws, const Plan& p, dns::ResponseWriter& w) noexcept {
    AnswerInfo info;
    info.kind = AnswerKind::Answer;
    info.rcode = dns::Rcode::NoError;
    const ZoneRt& z = *p.zone;
    const zone::StaticZone& st = *z.stat;
    w.begin(q, dns::Rcode::NoError, true);
    std::array<std::array<std::uint8_t, dns::kMaxNameWire>, 2> bufs;
    Cursor c{q.qname_lower.data(), q.qname_len,
             q.qname_hash != 0 ? q.qname_hash : dns::name_hash(q.qname_lower.data(), q.qname_len),
             NameRef::qname()};
    for (int hop = 0; hop < kMaxChain; ++hop) {
        const zone::Lookup l = st.resolve(c.lname, c.len, c.hash);
        // DS lives in the parent: at the delegation point itself it is answered here.
        const bool ds_at_cut = l.match == zone::Match::Referral && l.exact && l.node == l.cut &&
                               q.qtype == zone::kTypeDS;
        if (l.match == zone::Match::Referral && !ds_at_cut) {
            // RFC 1034 §4.3.2: a referral, not authoritative (AA stays with a chain's start)
            if (hop == 0) w.begin(q, dns::Rcode::NoError, false);
            const zone::RRset* ns = st.rrset(*l.cut, zone::kTypeNS);
            write_rrset(st, *ns, NameRef::of(st.name_of(*l.cut)), Section::Authority, w);
            std::array<const zone::Node*, 16> seen;
            std::size_t nseen = 0;
            add_targets(st, *ns, z, w, seen, nseen);
            return info;
        }
        if (!l.exact) {
            if (const zone::RRset* dname = st.rrset(*l.encloser, zone::kTypeDNAME)) {
                write_rrset(st, *dname, NameRef::of(st.name_of(*l.encloser)), Section::Answer, w);
                const NameRef owner = c.owner;
                std::uint8_t* buf = bufs[hop & 1].data();
                if (!dname_target(st, *dname, *l.encloser, buf, c)) {
                    info.kind = AnswerKind::ServFail;
                    info.rcode = static_cast<dns::Rcode>(6);  // YXDOMAIN
                    w.set_rcode(info.rcode);
                    return info;
                }
                w.add_cname(Section::Answer, owner, dname->ttl, c.owner);
                if (!name_in(c.lname, c.len, z.name)) return info;
                continue;
            }
        }
        if (l.match == zone::Match::NxDomain) return negative(w, z, AnswerKind::NxDomain, info);
        const zone::Node& n = *l.node;
        if (n.gslb >= 0 && (is_addr(q.qtype) || is_svcb(q.qtype))) {
            const RecordRt& rec = snap.topo->records[static_cast<std::size_t>(n.gslb)];
            info.record_id = static_cast<std::int32_t>(rec.id);
            if (is_addr(q.qtype))
                return answer_address(snap, z, rec, q, client, ws, p, w, info, c.owner);
            if (rec.policy != nullptr && !(rec.v4.empty() && rec.v6.empty()))
                return answer_svcb(snap, z, rec, q, client, ws, p, w, info, c.owner);
        }
        if (q.qtype == dns::qtype::ANY) {
            // RFC 8482, as for GSLB names: one synthesized HINFO where the name has data
            if (n.nrr == 0 && n.gslb < 0) return negative(w, z, AnswerKind::NoData, info);
            std::uint32_t ttl = n.gslb >= 0
                                    ? snap.topo->records[static_cast<std::size_t>(n.gslb)].ttl
                                    : 0xffffffffu;
            for (const zone::RRset& s : st.rrsets(n)) ttl = std::min(ttl, s.ttl);
            w.add_hinfo_rfc8482(Section::Answer, c.owner, ttl);
            return info;
        }
        if (const zone::RRset* s = st.rrset(n, q.qtype)) {
            write_rrset(st, *s, c.owner, Section::Answer, w);
            std::array<const zone::Node*, 16> seen;
            std::size_t nseen = 0;
            add_targets(st, *s, z, w, seen, nseen);
            return info;
        }
        if (n.gslb >= 0 && q.qtype == dns::qtype::TXT && snap.topo->debug_txt) {
            const RecordRt& rec = snap.topo->records[static_cast<std::size_t>(n.gslb)];
            info.record_id = static_cast<std::int32_t>(rec.id);
            add_debug_txt(snap, rec.v4, rec.ttl, w);
            add_debug_txt(snap, rec.v6, rec.ttl, w);
            return info;
        }
        const zone::RRset* cname = st.rrset(n, zone::kTypeCNAME);
        if (cname == nullptr) return negative(w, z, AnswerKind::NoData, info);
        write_rrset(st, *cname, c.owner, Section::Answer, w);
        if (!follow(st, *cname, z, bufs[hop & 1].data(), c)) return info;
    }
    return info;
}

}  // namespace

bool ecs_trusted(const Topology& topo, const util::IpAddr& source) noexcept {
    return topo.ecs_trust.empty() ||
           std::any_of(topo.ecs_trust.begin(), topo.ecs_trust.end(),
                       [&](const util::IpPrefix& p) { return p.contains(source); });
}

void plan(const Snapshot& snap, const dns::Query& q, const ClientInfo& client, WorkerState& ws,
          Plan& p) noexcept {
    p.zone = nullptr;
    p.rec = nullptr;
    p.ns = nullptr;
    p.cacheable = true;
    p.address = false;
    p.fallback = false;
    p.fallback6 = false;
    p.svcb = false;
    p.decision = Decision{};
    p.split = 0;
    p.decision4 = Decision{};
    p.decision6 = Decision{};
    p.eligible_count = 0;
    p.ent = false;
    const bool class_ok = q.qclass == dns::kClassIN || q.qclass == dns::kClassANY;
    const bool xfr = q.qtype == dns::qtype::AXFR || q.qtype == dns::qtype::IXFR;
    const Topology* topo = snap.topo.get();
    if (!class_ok || xfr || topo == nullptr) return;
    const std::uint8_t* lname = q.qname_lower.data();
    const std::uint64_t h = q.qname_hash != 0 ? q.qname_hash : dns::name_hash(lname, q.qname_len);
    if (const NameInfo* ni = topo->names.find(lname, q.qname_len, h)) {
        p.zone = &topo->zones[ni->zone];
        if (ni->record >= 0) p.rec = &topo->records[static_cast<std::size_t>(ni->record)];
        if (ni->ns >= 0) p.ns = &p.zone->ns[static_cast<std::size_t>(ni->ns)];
        p.ent = ni->ent;
    } else {
        // A name of no zone's own: NXDOMAIN inside a zone, REFUSED outside them all.
        p.zone = topo->find_zone(lname, q.qname_len);
    }
    if (p.zone != nullptr && p.zone->stat != nullptr) {
        plan_static(snap, q, client, ws, p);
        return;
    }
    if (p.rec != nullptr && (q.qtype == dns::qtype::A || q.qtype == dns::qtype::AAAA)) {
        plan_address(snap, *p.rec, q.qtype == dns::qtype::A, client, ws, p);
    } else if (p.rec != nullptr && (q.qtype == dns::qtype::HTTPS || q.qtype == dns::qtype::SVCB)) {
        plan_svcb(snap, *p.rec, client, ws, p);
    }
}

AnswerInfo build(const Snapshot& snap, const dns::Query& q, const ClientInfo& client,
                 WorkerState& ws, const Plan& p, dns::ResponseWriter& w) noexcept {
    AnswerInfo info;  // Refused until we know the name is ours
    ws.picked_count = 0;
    const ZoneRt* z = p.zone;
    if (z == nullptr) {
        w.begin(q, dns::Rcode::Refused, false);
        return info;
    }

    if (z->stat != nullptr) return build_static(snap, q, client, ws, p, w);
    if (z->servfail) {  // a secondary zone without (unexpired) data
        w.begin(q, dns::Rcode::ServFail, false);
        info.kind = AnswerKind::ServFail;
        info.rcode = dns::Rcode::ServFail;
        return info;
    }
    w.begin(q, dns::Rcode::NoError, true);
    info.kind = AnswerKind::Answer;
    info.rcode = dns::Rcode::NoError;

    const bool apex = q.qname_len == z->name.len;
    const RecordRt* rec = p.rec;
    const NsRt* ns = p.ns;

    if (!apex && rec == nullptr && ns == nullptr) {
        return negative(w, *z, p.ent ? AnswerKind::NoData : AnswerKind::NxDomain, info);
    }
    const bool addr_type = q.qtype == dns::qtype::A || q.qtype == dns::qtype::AAAA;
    if (q.qtype == dns::qtype::ANY) {
        const std::uint32_t ttl = rec ? rec->ttl : (apex ? z->soa.ttl : z->ns_ttl);
        w.add_hinfo_rfc8482(Section::Answer, NameRef::qname(), ttl);
        return info;
    }
    if (apex && q.qtype == dns::qtype::SOA) {
        add_soa(w, Section::Answer, *z, NameRef::qname(), z->soa.ttl);
        return info;
    }
    if (apex && q.qtype == dns::qtype::NS && !z->ns.empty()) {
        for (const auto& n : z->ns) {
            w.add_ns(Section::Answer, NameRef::qname(), z->ns_ttl, NameRef::of(n.name.span()));
        }
        for (const auto& n : z->ns) {
            for (const auto& ip : n.glue) {
                add_addr(w, Section::Additional, NameRef::of(n.name.span()), z->ns_ttl, ip);
            }
        }
        return info;
    }
    if (rec != nullptr && addr_type) {
        info.record_id = static_cast<std::int32_t>(rec->id);
        return answer_address(snap, *z, *rec, q, client, ws, p, w, info);
    }
    if (rec != nullptr && (q.qtype == dns::qtype::HTTPS || q.qtype == dns::qtype::SVCB) &&
        rec->policy != nullptr && !(rec->v4.empty() && rec->v6.empty())) {
        info.record_id = static_cast<std::int32_t>(rec->id);
        return answer_svcb(snap, *z, *rec, q, client, ws, p, w, info);
    }
    if (rec != nullptr && q.qtype == dns::qtype::TXT && snap.topo->debug_txt &&
        !(rec->v4.empty() && rec->v6.empty())) {
        info.record_id = static_cast<std::int32_t>(rec->id);
        add_debug_txt(snap, rec->v4, rec->ttl, w);
        add_debug_txt(snap, rec->v6, rec->ttl, w);
        return info;
    }
    if (ns != nullptr && addr_type) {
        const std::uint8_t want = q.qtype == dns::qtype::A ? 4 : 6;
        std::size_t written = 0;
        for (const auto& ip : ns->glue) {
            if (ip.family != want) continue;
            add_addr(w, Section::Answer, NameRef::qname(), z->ns_ttl, ip);
            ++written;
        }
        if (written > 0) return info;
    }
    return negative(w, *z, AnswerKind::NoData, info);
}

AnswerInfo answer(const Snapshot& snap, const dns::Query& q, const ClientInfo& client,
                  WorkerState& ws, dns::ResponseWriter& w) noexcept {
    Plan p;
    plan(snap, q, client, ws, p);
    return build(snap, q, client, ws, p, w);
}

}  // namespace gslbd::gslb
