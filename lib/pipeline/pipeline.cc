#include "pipeline/pipeline.hh"

#include <algorithm>
#include <cstring>

#include "gslb/engine.hh"

namespace gslbd::pipeline {

namespace {

constexpr std::uint16_t kDefaultUdpSize = 1232;  // before the first snapshot is published

bool ecs_trusted(const gslb::Topology& topo, const util::IpAddr& source) noexcept {
    if (topo.ecs_trust.empty()) return true;
    return std::any_of(topo.ecs_trust.begin(), topo.ecs_trust.end(),
                       [&](const util::IpPrefix& p) { return p.contains(source); });
}

}  // namespace

Pipeline::Pipeline(const gslb::SnapshotHolder& holder, std::uint64_t seed)
    : holder_(holder), ws_(seed) {}

std::size_t Pipeline::handle(std::span<const std::uint8_t> query, const util::IpAddr& source,
                             std::span<std::uint8_t> out, bool tcp) noexcept {
    ++counters_.queries;
    if (out.size() < (tcp ? dns::kMaxMessage : dns::kMinUdpSize)) {
        ++counters_.dropped;
        return 0;
    }

    dns::Query q;
    const dns::ParseResult pr = dns::parse_query(query, q);
    if (pr.status == dns::ParseStatus::Drop) {
        ++counters_.dropped;
        return 0;
    }

    const gslb::Snapshot* snap = holder_.current();
    const std::uint16_t our_udp = snap != nullptr ? snap->topo->edns_udp_size : kDefaultUdpSize;
    const std::size_t limit =
        tcp ? dns::kMaxMessage
            : std::max(dns::kMinUdpSize,
                       std::min(q.max_udp_response(), static_cast<std::size_t>(our_udp)));
    dns::ResponseWriter w(out, limit);

    auto begin_error = [&](dns::Rcode rcode) noexcept {
        if (pr.question_ok) {
            w.begin(q, rcode, false, true);
        } else {
            w.begin_header_only(q.id, q.flags, rcode);
        }
    };

    switch (pr.status) {
        case dns::ParseStatus::Drop:
            return 0;  // handled above
        case dns::ParseStatus::FormErr:
            // No OPT: the malformed part may well be the OPT record itself.
            ++counters_.formerr;
            begin_error(dns::Rcode::FormErr);
            break;
        case dns::ParseStatus::NotImp:
            ++counters_.notimp;
            begin_error(dns::Rcode::NotImp);
            if (q.has_edns) w.set_opt(our_udp, q.do_bit, nullptr, 0);
            break;
        case dns::ParseStatus::BadVers:
            // RFC 6891 §6.1.3: BADVERS lives in the OPT's extended RCODE, so OPT is a must.
            ++counters_.badvers;
            begin_error(dns::Rcode::BadVers);
            w.set_opt(our_udp, q.do_bit, nullptr, 0);
            break;
        case dns::ParseStatus::Ok:
            if (!answer(snap, q, source, w)) {
                ++counters_.servfail;
                w.begin(q, dns::Rcode::ServFail, false);
                if (q.has_edns) w.set_opt(our_udp, q.do_bit, nullptr, 0);
            }
            break;
    }

    const std::size_t len = w.finish();
    ++counters_.responses;
    if (w.truncated()) ++counters_.truncated;
    return len;
}

bool Pipeline::answer(const gslb::Snapshot* snap, const dns::Query& q, const util::IpAddr& source,
                      dns::ResponseWriter& w) noexcept {
    if (snap == nullptr || snap->topo == nullptr) return false;
    const gslb::Topology& topo = *snap->topo;
    // A no-op unless the topology changed; then it is the one place the per-packet path
    // allocates. Not skipped on a pointer match alone: a new topology may reuse the
    // address of a freed one, and prepare() also checks the size.
    try {
        ws_.prepare(topo);
    } catch (...) {
        return false;
    }

    gslb::ClientInfo client;
    client.addr = source;
    client.source_prefix = static_cast<std::uint8_t>(source.family == 4 ? 32 : 128);
    if (q.ecs.present) {
        if (topo.ecs_enabled && ecs_trusted(topo, source)) {
            // Source prefix 0 asks for an answer that suits everyone: decide on the packet
            // source and answer with scope 0 (RFC 7871 §7.1.2).
            if (q.ecs.source_prefix > 0) {
                client.addr = util::IpAddr{};
                client.addr.family = q.ecs.family == 1 ? 4 : 6;
                std::memcpy(client.addr.bytes.data(), q.ecs.addr.data(), client.addr.size());
                client.source_prefix = q.ecs.source_prefix;
                client.from_ecs = true;
                ++counters_.ecs_used;
            }
        } else {
            ++counters_.ecs_ignored;
        }
    }

    const gslb::AnswerInfo info = gslb::answer(*snap, q, client, ws_, w);
    if (q.has_edns) {
        const std::uint8_t scope =
            client.from_ecs ? std::min(info.ecs_scope, client.source_prefix) : 0;
        w.set_opt(topo.edns_udp_size, q.do_bit, q.ecs.present ? &q.ecs : nullptr, scope);
    }

    switch (info.kind) {
        case gslb::AnswerKind::Answer:
            ++counters_.noerror;
            break;
        case gslb::AnswerKind::NoData:
            ++counters_.noerror;
            ++counters_.nodata;
            break;
        case gslb::AnswerKind::NxDomain:
            ++counters_.nxdomain;
            break;
        case gslb::AnswerKind::Refused:
            ++counters_.refused;
            break;
        case gslb::AnswerKind::ServFail:
            ++counters_.servfail;
            break;
    }
    if (info.fallback) ++counters_.fallback;
    return true;
}

}  // namespace gslbd::pipeline
