#include "gslb/engine.hh"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>

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
                           const Plan& p, dns::ResponseWriter& w, AnswerInfo& info) noexcept {
    const bool v4 = q.qtype == dns::qtype::A;
    std::span<const BackendRt> family = v4 ? rec.v4 : rec.v6;
    if (family.empty()) return negative(w, z, AnswerKind::NoData, info);
    info.fallback = p.fallback;
    if (p.fallback) {
        const FallbackRt& fb = rec.fallback;
        switch (fb.mode) {
            case config::FallbackMode::FailOpen:
                break;  // plan() put the enabled backends in p.eligible
            case config::FallbackMode::Rcode:
                info.kind = kind_of(fb.rcode);
                info.rcode = fb.rcode;
                w.set_rcode(fb.rcode);
                return info;
            case config::FallbackMode::Ips: {
                const auto& ips = v4 ? fb.v4 : fb.v6;
                if (ips.empty()) return negative(w, z, AnswerKind::NoData, info);
                for (const auto& ip : ips)
                    add_addr(w, Section::Answer, NameRef::qname(), rec.ttl, ip);
                return info;
            }
            case config::FallbackMode::Cname:
                w.add_cname(Section::Answer, NameRef::qname(), rec.ttl,
                            NameRef::of(fb.cname.span()));
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
        add_addr(w, Section::Answer, NameRef::qname(), rec.ttl, family[sel.idx[k]].addr);
        ++written;
    }
    info.ecs_scope = sel.scope;
    info.decision_class = sel.decision_class;
    if (written == 0) return negative(w, z, AnswerKind::NoData, info);
    return info;
}

/// The eligible set for an address query, and the policy's decision when it has one.
void plan_address(const Snapshot& snap, const RecordRt& rec, bool v4, const ClientInfo& client,
                  WorkerState& ws, Plan& p) noexcept {
    std::span<const BackendRt> family = v4 ? rec.v4 : rec.v6;
    if (family.empty()) return;
    std::size_t n = 0;
    for (std::size_t i = 0; i < family.size() && n < p.eligible.size(); ++i) {
        if (family[i].enabled && snap.backend_up(family[i]) &&
            snap.backend_state(family[i]) == AdminState::Enabled) {
            p.eligible[n++] = static_cast<std::uint16_t>(i);
        }
    }
    if (n == 0) {
        p.fallback = true;
        if (rec.fallback.mode != config::FallbackMode::FailOpen) return;
        for (std::size_t i = 0; i < family.size() && n < p.eligible.size(); ++i) {
            // disabled stays out even here; drained is a last resort
            if (family[i].enabled && snap.backend_state(family[i]) != AdminState::Disabled)
                p.eligible[n++] = static_cast<std::uint16_t>(i);
        }
    }
    p.eligible_count = static_cast<std::uint16_t>(n);
    if (n == 0) return;
    p.address = true;
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
    p.decision.variant = rec.policy->variant(ctx, p.decision);
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
    p.decision = Decision{};
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
    if (p.rec != nullptr && (q.qtype == dns::qtype::A || q.qtype == dns::qtype::AAAA)) {
        plan_address(snap, *p.rec, q.qtype == dns::qtype::A, client, ws, p);
    }
}

AnswerInfo build(const Snapshot& snap, const dns::Query& q, const ClientInfo& client,
                 WorkerState& ws, const Plan& p, dns::ResponseWriter& w) noexcept {
    AnswerInfo info;  // Refused until we know the name is ours
    const ZoneRt* z = p.zone;
    if (z == nullptr) {
        w.begin(q, dns::Rcode::Refused, false);
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
