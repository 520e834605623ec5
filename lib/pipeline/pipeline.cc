#include "pipeline/pipeline.hh"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <ctime>

#include "zone/contents.hh"

namespace gslbd::pipeline {

namespace {

constexpr std::uint8_t kOpcodeNotify = 4;  // RFC 1996

const config::Config& sizing_config(const gslb::SnapshotHolder& holder) {
    static const config::Config defaults;
    const gslb::Snapshot* s = holder.current_for_writer();
    if (s != nullptr && s->topo != nullptr && s->topo->config != nullptr) return *s->topo->config;
    return defaults;
}

// The RRL table is sized at start like the cache; a reload that turns RRL on uses this size.
std::size_t rrl_entries(const config::Config& cfg) noexcept {
    return cfg.edge.rrl.enabled ? cfg.edge.rrl.table_size : 4096;
}
std::size_t dyn_entries(const config::Config& cfg) noexcept {
    return cfg.edge.dynblocks.enabled ? cfg.edge.dynblocks.table_size : 1024;
}
// Pipelines take answer-counter stripes in turn (gslb::AnswerCounts::row() wraps).
std::atomic<std::uint32_t> next_stripe{0};

// The cache keeps answers as kinds, so a hit updates the same counters a build would.
constexpr std::uint16_t tag_of(gslb::AnswerKind kind, bool fallback) noexcept {
    return static_cast<std::uint16_t>(static_cast<unsigned>(kind) | (fallback ? 0x100u : 0u));
}

}  // namespace

Pipeline::Pipeline(const gslb::SnapshotHolder& holder, std::uint64_t seed)
    : Pipeline(holder, seed, sizing_config(holder).cache_entries,
               config::cache_entry_bytes(sizing_config(holder))) {}

Pipeline::Pipeline(const gslb::SnapshotHolder& holder, std::uint64_t seed,
                   std::size_t cache_entries, std::size_t entry_bytes)
    // The cache seed is derived from, but not equal to, the policy RNG's.
    : holder_(holder),
      ws_(seed),
      cache_(cache_entries, entry_bytes, seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull),
      scratch_(cache_entries != 0 ? std::make_unique<std::uint8_t[]>(dns::kMaxMessage) : nullptr),
      stripe_(next_stripe.fetch_add(1, std::memory_order_relaxed)),
      guard_(rrl_entries(sizing_config(holder)), dyn_entries(sizing_config(holder))) {
    // the pipeline identifies snapshots by (address, generation), as its cache does
    ws_.enable_decision_memo();
}

Pipeline::~Pipeline() = default;

namespace {

// The owner writes plain uint64_t fields; an aligned 64-bit relaxed load never tears.
inline void add(std::uint64_t& dst, const std::uint64_t& src) noexcept {
    dst += __atomic_load_n(&src, __ATOMIC_RELAXED);
}

}  // namespace

void add_relaxed(Counters& o, const Counters& c) noexcept {
    // Every field, by_qtype included: a counter added to Counters must be added here too.
    static_assert(sizeof(Counters) == 256, "a field was added to Counters: sum it below");
    add(o.queries, c.queries);
    add(o.responses, c.responses);
    add(o.dropped, c.dropped);
    add(o.noerror, c.noerror);
    add(o.nodata, c.nodata);
    add(o.nxdomain, c.nxdomain);
    add(o.refused, c.refused);
    add(o.servfail, c.servfail);
    add(o.formerr, c.formerr);
    add(o.notimp, c.notimp);
    add(o.badvers, c.badvers);
    add(o.truncated, c.truncated);
    add(o.ecs_used, c.ecs_used);
    add(o.ecs_ignored, c.ecs_ignored);
    add(o.fallback, c.fallback);
    for (std::size_t i = 0; i < kQtypeSlots; ++i) add(o.by_qtype[i], c.by_qtype[i]);
}

void add_relaxed(cache::Counters& o, const cache::Counters& k) noexcept {
    static_assert(sizeof(cache::Counters) == 64, "a field was added to cache::Counters: sum it");
    add(o.hits, k.hits);
    add(o.misses, k.misses);
    add(o.generation_misses, k.generation_misses);
    add(o.expired, k.expired);
    add(o.inserts, k.inserts);
    add(o.evictions, k.evictions);
    add(o.uncacheable, k.uncacheable);
}

std::size_t Pipeline::handle(std::span<const std::uint8_t> query, const util::IpAddr& source,
                             std::span<std::uint8_t> out, bool tcp) noexcept {
    ++counters_.queries;
    if (out.size() < (tcp ? dns::kMaxMessage : dns::kMinUdpSize)) {
        ++counters_.dropped;
        return 0;
    }
    const gslb::Snapshot* snap = holder_.current();
    if (snap != nullptr && snap->topo != nullptr && snap->topo->edge != nullptr) [[unlikely]]
        return handle_edge(*snap->topo->edge, snap, query, source, out, tcp);
    const dns::ParseResult pr = dns::parse_query(query, query_);
    return respond(snap, pr, source, out, tcp, 0);
}

namespace {

inline std::size_t response_limit(const gslb::Snapshot* snap, const dns::Query& q,
                                  bool tcp) noexcept {
    const std::uint16_t our_udp =
        snap != nullptr ? snap->topo->edns_udp_size : dns::kDefaultEdnsUdpSize;
    return tcp ? dns::kMaxMessage
               : std::max(dns::kMinUdpSize,
                          std::min(q.max_udp_response(), static_cast<std::size_t>(our_udp)));
}

inline std::uint32_t wall_seconds() noexcept {
    timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);  // vDSO: no system call
    return static_cast<std::uint32_t>(ts.tv_sec);
}

}  // namespace

[[gnu::noinline]] std::size_t Pipeline::handle_edge(
    const edge::Rules& rules, const gslb::Snapshot* snap, std::span<const std::uint8_t> query,
    const util::IpAddr& source, std::span<std::uint8_t> out, bool tcp) noexcept {
    // The ACL looks at the source alone: a dropped packet is never parsed.
    std::uint8_t acl = edge::kAclAllow;
    if (rules.acl_on) {
        acl = edge::Guard::acl(rules, source);
        if (acl == edge::kAclDrop) {
            ++guard_.counters.acl_dropped;
            return 0;
        }
    }
    dns::Query& q = query_;
    const dns::ParseResult pr = dns::parse_query(query, q);
    const std::uint16_t our_udp = snap->topo->edns_udp_size;
    const std::size_t limit = response_limit(snap, q, tcp);

    // A reply that is not the engine's: REFUSED by the ACL, TC by RRL, BADCOOKIE.
    auto reply = [&](dns::Rcode rcode, bool tc) noexcept -> std::size_t {
        dns::ResponseWriter w(out, limit);
        if (pr.question_ok) {
            w.begin(q, rcode, false, true);
        } else {
            w.begin_header_only(q.id, q.flags, rcode);
        }
        if (q.has_edns) w.set_opt(our_udp, q.do_bit, nullptr, 0);
        const std::size_t n = w.finish();
        if (tc) out[2] |= 0x02;
        return n;
    };

    if (acl == edge::kAclRefuse) {
        if (pr.status == dns::ParseStatus::Drop) {
            ++counters_.dropped;
            return 0;
        }
        ++guard_.counters.acl_refused;
        ++counters_.refused;
        ++counters_.responses;
        return reply(dns::Rcode::Refused, false);
    }

    const bool cookie_in =
        rules.cookies_on && pr.status == dns::ParseStatus::Ok && q.cookie_len != 0;
    bool cookie_ok = false;
    std::uint32_t wall = 0;
    if (cookie_in) {
        ++guard_.counters.cookie_queries;
        wall = wall_seconds();
        cookie_ok = q.cookie_len > edge::kClientCookieLen &&
                    edge::server_cookie_valid(rules.secrets, q.cookie.data(),
                                              q.cookie.data() + edge::kClientCookieLen,
                                              q.cookie_len - edge::kClientCookieLen, source, wall);
        if (cookie_ok) ++guard_.counters.cookie_valid;
    }
    auto with_cookie = [&](std::size_t n) noexcept {
        if (!cookie_in || n == 0) return n;
        std::uint8_t sc[edge::kServerCookieLen];
        edge::make_server_cookie(rules.secrets.current.data(), q.cookie.data(), source, wall, sc);
        return edge::append_cookie(out.first(std::max(limit, n)), n, q.cookie.data(), sc);
    };
    auto badcookie = [&]() noexcept {
        ++guard_.counters.badcookie;
        ++counters_.responses;
        return with_cookie(reply(dns::Rcode::BadCookie, false));
    };
    // Dynamic blocks: per prefix, after the cookie check because a valid server cookie
    // exempts (the spoofer of a blocked prefix cannot have one).
    edge::DynSlot* dyn = nullptr;
    std::uint32_t dyn_now = 0;
    if (rules.dyn.on && pr.status != dns::ParseStatus::Drop) {
        if (cookie_ok) {
            ++guard_.counters.dyn_exempt;
        } else {
            dyn_now = external_clock_ ? now_ : cache::coarse_now();
            dyn = guard_.dyn_find(rules, source, dyn_now);
            if (dyn != nullptr) {
                const bool any = pr.question_ok && q.qtype == 255;
                switch (guard_.dyn_query(rules, *dyn, any, tcp, dyn_now)) {
                    case edge::BlockAction::Pass:
                        break;
                    case edge::BlockAction::Drop:
                        return 0;
                    case edge::BlockAction::Refuse:
                        ++counters_.refused;
                        ++counters_.responses;
                        return with_cookie(reply(dns::Rcode::Refused, false));
                    case edge::BlockAction::Truncate:
                        ++counters_.truncated;
                        ++counters_.responses;
                        return with_cookie(reply(
                            pr.question_ok ? dns::Rcode::NoError : dns::Rcode::FormErr, true));
                }
            }
        }
    }
    // The answer, RRL and the response's cookie; returns what is sent.
    auto answer = [&]() noexcept -> std::size_t {
        // RFC 7873 §5.2.3/5.2.4: a server whose policy wants a valid cookie answers BADCOOKIE
        // with a fresh one (over TCP the source address is proven already).
        if (cookie_in && !cookie_ok && rules.cookies_enforce && !tcp) return badcookie();

        last_kind_ = gslb::AnswerKind::ServFail;  // anything count() does not see is an error
        const std::size_t n =
            respond(snap, pr, source, out, tcp, cookie_in ? edge::kCookieOptionLen : 0);
        if (n == 0) return 0;

        if (rules.rrl_on && !tcp) {
            if (cookie_ok) {
                ++guard_.counters.rrl_exempt;
            } else {
                edge::RrlClass cls = edge::RrlClass::Error;
                std::uint64_t name_key = 0;
                if (pr.status == dns::ParseStatus::Ok) {
                    switch (last_kind_) {
                        case gslb::AnswerKind::Answer:
                            cls = edge::RrlClass::Answer;
                            name_key = q.qname_hash ^ (std::uint64_t{q.qtype} << 48);
                            break;
                        case gslb::AnswerKind::NoData:
                            cls = edge::RrlClass::NoData;
                            name_key = q.qname_hash;
                            break;
                        case gslb::AnswerKind::NxDomain:
                            // BIND keys NXDOMAIN by zone: random names under one zone share it.
                            cls = edge::RrlClass::NxDomain;
                            name_key = reinterpret_cast<std::uintptr_t>(plan_.zone);
                            break;
                        default:
                            break;
                    }
                }
                const std::uint32_t now = external_clock_ ? now_ : cache::coarse_now();
                switch (guard_.rrl(rules, source, cls, name_key, now)) {
                    case edge::Verdict::Pass:
                        break;
                    case edge::Verdict::Drop:
                        --counters_.responses;  // counted by respond(), never sent
                        return 0;
                    case edge::Verdict::Slip:
                        // A client that sent a cookie learns a valid one and is answered in
                        // full next time; any other gets TC and may retry over TCP.
                        if (cookie_in) {
                            --counters_.responses;
                            return badcookie();
                        }
                        ++counters_.truncated;
                        return reply(pr.question_ok ? dns::Rcode::NoError : dns::Rcode::FormErr,
                                     true);
                }
            }
        }
        return with_cookie(n);
    };
    const std::size_t sent = answer();
    if (dyn != nullptr)
        guard_.dyn_response(rules, *dyn, last_kind_ == gslb::AnswerKind::NxDomain, sent, dyn_now);
    return sent;
}

[[gnu::always_inline]] inline std::size_t Pipeline::respond(const gslb::Snapshot* snap,
                                                            const dns::ParseResult& pr,
                                                            const util::IpAddr& source,
                                                            std::span<std::uint8_t> out, bool tcp,
                                                            std::size_t reserve) noexcept {
    dns::Query& q = query_;
    if (pr.status == dns::ParseStatus::Drop) {
        ++counters_.dropped;
        return 0;
    }
    if (pr.question_ok) ++counters_.by_qtype[qtype_slot(q.qtype)];

    const std::uint16_t our_udp =
        snap != nullptr ? snap->topo->edns_udp_size : dns::kDefaultEdnsUdpSize;
    const std::size_t limit = response_limit(snap, q, tcp) - reserve;

    if (pr.status == dns::ParseStatus::Ok) {
        gslb::ClientInfo client;
        if (prepare(snap, q, source, client)) {
            gslb::plan(*snap, q, client, ws_, plan_);
            if (plan_.rec != nullptr && snap->topo->marks != nullptr)
                snap->topo->marks->mark(plan_.rec->id);  // health: the record is not idle
            // queries per decision class, for the plan of a change (docs/gradual.md)
            if (plan_.address && snap->topo->classes != nullptr && count_answers_)
                snap->topo->classes->add(
                    stripe_,
                    gslb::ClassCounts::key_of(plan_.rec->id, q.qtype == dns::qtype::AAAA ? 6 : 4,
                                              plan_.decision.decision_class),
                    client.addr, client.source_prefix, client.from_ecs);
            if (plan_.cacheable && cache_.enabled()) {
                bool tc = false;
                const std::size_t n = answer_cached(*snap, q, client, out, limit, tc);
                if (n != 0) {
                    ++counters_.responses;
                    if (tc) ++counters_.truncated;
                    return n;
                }
            } else if (cache_.enabled()) {
                cache_.note_uncacheable();
            }
            dns::ResponseWriter w(out, limit);
            const gslb::AnswerInfo info = gslb::build(*snap, q, client, ws_, plan_, w);
            if (q.has_edns) {
                const std::uint8_t scope =
                    client.from_ecs ? std::min(info.ecs_scope, client.source_prefix) : 0;
                w.set_opt(our_udp, q.do_bit, q.ecs.present ? &q.ecs : nullptr, scope);
            }
            count(info.kind, info.fallback);
            count_backends(*snap->topo, {ws_.picked.data(), ws_.picked_count});
            const std::size_t len = w.finish();
            ++counters_.responses;
            if (w.truncated()) ++counters_.truncated;
            return len;
        }
    }

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
            if (q.opcode == kOpcodeNotify && pr.question_ok && snap != nullptr &&
                snap->topo != nullptr) {
                notify(*snap, source, w);
                break;
            }
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
        case dns::ParseStatus::Ok:  // no snapshot (or no memory for the worker state)
            ++counters_.servfail;
            w.begin(q, dns::Rcode::ServFail, false);
            if (q.has_edns) w.set_opt(our_udp, q.do_bit, nullptr, 0);
            break;
    }

    const std::size_t len = w.finish();
    ++counters_.responses;
    if (w.truncated()) ++counters_.truncated;
    return len;
}

[[gnu::cold]] void Pipeline::notify(const gslb::Snapshot& snap, const util::IpAddr& source,
                                    dns::ResponseWriter& w) noexcept {
    const dns::Query& q = query_;
    const gslb::Topology& topo = *snap.topo;
    const std::string_view name(reinterpret_cast<const char*>(q.qname_lower.data()), q.qname_len);
    bool ok = false;
    if (auto it = topo.zone_index.find(name); it != topo.zone_index.end()) {
        const gslb::ZoneRt& z = topo.zones[it->second];
        ok = std::find(z.primaries.begin(), z.primaries.end(), source) != z.primaries.end();
    }
    zone::NotifyBoard& board = zone::notify_board();
    if (ok) {
        board.note(dns::name_hash(q.qname_lower.data(), q.qname_len));
        board.accepted.fetch_add(1, std::memory_order_relaxed);
        ++counters_.noerror;
    } else {
        board.refused.fetch_add(1, std::memory_order_relaxed);
        ++counters_.refused;
    }
    w.begin(q, ok ? dns::Rcode::NoError : dns::Rcode::Refused, ok);
}

// `inline` on the helpers of handle(): GCC's inliner weighs the keyword and takes larger
// functions into the per-packet path when it is there; without it these could stay calls.
inline bool Pipeline::prepare(const gslb::Snapshot* snap, const dns::Query& q,
                              const util::IpAddr& source, gslb::ClientInfo& client) noexcept {
    if (snap == nullptr || snap->topo == nullptr) return false;
    const gslb::Topology& topo = *snap->topo;
    // A no-op unless the topology changed; then it is the one place the per-packet path
    // allocates. Not skipped on a pointer match alone: a new topology may reuse the
    // address of a freed one, and ready() also checks the size.
    if (!ws_.ready(topo)) {
        try {
            ws_.prepare(topo);
        } catch (...) {
            return false;
        }
    }

    switch (gslb::choose_client(topo, q, source, client)) {
        case gslb::ClientChoice::Ecs:
            ++counters_.ecs_used;
            break;
        case gslb::ClientChoice::EcsDisabled:
        case gslb::ClientChoice::EcsUntrusted:
            ++counters_.ecs_ignored;
            break;
        default:
            break;
    }
    return true;
}

inline std::size_t Pipeline::answer_cached(const gslb::Snapshot& snap, const dns::Query& q,
                                           const gslb::ClientInfo& client,
                                           std::span<std::uint8_t> out, std::size_t limit,
                                           bool& truncated) noexcept {
    const gslb::Topology& topo = *snap.topo;
    if (!external_clock_) now_ = cache::coarse_now();
    if (&snap != seen_snap_ || snap.generation != seen_gen_) {
        seen_snap_ = &snap;
        seen_gen_ = snap.generation;
        ++cache_gen_;
    }
    const cache::Key key{q.qname_lower.data(),
                         q.qname_len,
                         q.qtype,
                         q.qclass,
                         q.do_bit,
                         plan_.decision.decision_class,
                         plan_.decision.variant,
                         q.qname_hash,
                         plan_.split};
    // The scope is this query's classification, not the one the entry was built for:
    // clients of one class may sit in blocks of different lengths.
    const std::uint8_t scope =
        client.from_ecs ? std::min(plan_.decision.scope, client.source_prefix) : 0;
    const dns::Ecs* ecs = q.ecs.present ? &q.ecs : nullptr;

    cache::Answer a;
    if (!cache_.lookup(key, cache_gen_, now_, a)) {
        // Built without EDNS so that the stored bytes hold no OPT; write_response adds this
        // query's own.
        dns::Query bare = q;
        bare.has_edns = false;
        bare.ecs.present = false;
        dns::ResponseWriter w({scratch_.get(), dns::kMaxMessage}, dns::kMaxMessage);
        const gslb::AnswerInfo info = gslb::build(snap, bare, client, ws_, plan_, w);
        const std::size_t len = w.finish();
        if (w.truncated() || !cache::split_response({scratch_.get(), len}, q.question_end, a))
            return 0;
        a.tag = tag_of(info.kind, info.fallback);
        a.backends = {ws_.picked.data(), ws_.picked_count};
        cache_.insert(key, cache_gen_, now_, a);
    }
    const std::size_t n =
        cache::write_response(a, q, topo.edns_udp_size, ecs, scope, out, limit, truncated);
    if (n != 0) {
        count(static_cast<gslb::AnswerKind>(a.tag & 0xff), (a.tag & 0x100) != 0);
        count_backends(topo, a.backends);
    }
    return n;
}

inline void Pipeline::count_backends(const gslb::Topology& topo,
                                     std::span<const std::uint32_t> ids) noexcept {
    if (ids.empty() || topo.answers == nullptr || !count_answers_) return;
    std::uint64_t* row = topo.answers->row(stripe_);
    const std::size_t n = topo.answers->backends();
    // Relaxed atomic adds: pipelines outnumbering the stripes (TCP, extra workers) share a
    // row without losing counts; a pipeline alone on its row never waits on another core.
    for (const std::uint32_t id : ids)
        if (id < n) std::atomic_ref<std::uint64_t>(row[id]).fetch_add(1, std::memory_order_relaxed);
}

inline void Pipeline::count(gslb::AnswerKind kind, bool fallback) noexcept {
    last_kind_ = kind;
    switch (kind) {
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
    if (fallback) ++counters_.fallback;
}

}  // namespace gslbd::pipeline
