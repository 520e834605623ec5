#include "ctl/metrics.hh"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <map>

#include "cache/cache.hh"
#include "ctl/explain.hh"
#include "ctl/fleet.hh"
#include "discovery/discovery.hh"
#include "dns/response.hh"
#include "edge/dynblock.hh"
#include "health/gradual.hh"
#include "health/state.hh"
#include "xfr/secondary.hh"
#include "zone/contents.hh"

namespace gslbd::ctl {

std::string escape_label(const std::string& v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

namespace {

/// Writes families: HELP and TYPE once, then samples, into a ChunkWriter (sent every ~64 KB:
/// the exposition of 100,000 records is never held whole).
class Writer {
  public:
    explicit Writer(ChunkWriter& out) : out_(out) {}
    void family(const char* name, const char* type, const char* help) {
        out_.write(fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type));
    }
    /// `labels` is a list of (name, value) pairs.
    void sample(const std::string& name,
                std::initializer_list<std::pair<const char*, std::string>> labels, double v) {
        sample_raw(name, labels, fmt::format("{}", v));
    }
    void sample(const std::string& name,
                std::initializer_list<std::pair<const char*, std::string>> labels,
                std::uint64_t v) {
        sample_raw(name, labels, std::to_string(v));
    }
    void sample_raw(const std::string& name,
                    std::initializer_list<std::pair<const char*, std::string>> labels,
                    const std::string& value) {
        line_ = name;
        if (labels.size() != 0) {
            line_ += '{';
            bool first = true;
            for (const auto& [k, v] : labels) {
                if (!first) line_ += ',';
                first = false;
                line_ += k;
                line_ += "=\"";
                line_ += escape_label(v);
                line_ += '"';
            }
            line_ += '}';
        }
        line_ += ' ';
        line_ += value;
        line_ += '\n';
        out_.write(line_);
    }

  private:
    ChunkWriter& out_;
    std::string line_;
};

using U = std::uint64_t;

/// Queries, responses by rcode, ECS, drops: the pipelines' counters by transport.
void dns_metrics(Writer& w, const DataPlaneStats& dp) {
    w.family("gslbd_queries_total", "counter",
             "DNS messages handed to the pipeline, by transport.");
    w.sample("gslbd_queries_total", {{"transport", "udp"}}, U{dp.udp.queries});
    w.sample("gslbd_queries_total", {{"transport", "tcp"}}, U{dp.tcp.queries});
    w.family("gslbd_queries_by_type_total", "counter",
             "Parsed queries by question type, all transports (other = any type not listed).");
    for (std::size_t i = 0; i < pipeline::kQtypeSlots; ++i)
        w.sample(
            "gslbd_queries_by_type_total",
            {{"qtype", i < pipeline::kCountedQtypes.size() ? qtype_name(pipeline::kCountedQtypes[i])
                                                           : std::string("other")}},
            U{dp.udp.by_qtype[i] + dp.tcp.by_qtype[i]});
    w.family("gslbd_responses_total", "counter", "DNS responses sent, by transport and rcode.");
    for (const auto& [tr, c] :
         {std::pair<const char*, const pipeline::Counters*>{"udp", &dp.udp}, {"tcp", &dp.tcp}}) {
        const std::pair<const char*, U> rcodes[] = {
            {"NOERROR", c->noerror},   {"NXDOMAIN", c->nxdomain}, {"REFUSED", c->refused},
            {"SERVFAIL", c->servfail}, {"FORMERR", c->formerr},   {"NOTIMP", c->notimp},
            {"BADVERS", c->badvers}};
        for (const auto& [name, v] : rcodes)
            w.sample("gslbd_responses_total", {{"transport", tr}, {"rcode", name}}, v);
    }
    w.family("gslbd_nodata_responses_total", "counter",
             "NOERROR responses without data (part of rcode NOERROR).");
    w.sample("gslbd_nodata_responses_total", {}, U{dp.udp.nodata + dp.tcp.nodata});
    w.family("gslbd_truncated_responses_total", "counter",
             "UDP responses sent with TC=1 because the answer did not fit.");
    w.sample("gslbd_truncated_responses_total", {}, U{dp.udp.truncated + dp.tcp.truncated});
    w.family("gslbd_fallback_answers_total", "counter",
             "Answers decided by a record's fallback policy (no eligible backend).");
    w.sample("gslbd_fallback_answers_total", {}, U{dp.udp.fallback + dp.tcp.fallback});
    w.family("gslbd_ecs_queries_total", "counter",
             "Queries with EDNS Client Subnet: used for the decision, or ignored.");
    w.sample("gslbd_ecs_queries_total", {{"result", "used"}}, U{dp.udp.ecs_used + dp.tcp.ecs_used});
    w.sample("gslbd_ecs_queries_total", {{"result", "ignored"}},
             U{dp.udp.ecs_ignored + dp.tcp.ecs_ignored});
    w.family("gslbd_dropped_total", "counter", "Messages or packets dropped, by reason.");
    w.sample("gslbd_dropped_total", {{"reason", "not_a_query"}},
             U{dp.udp.dropped + dp.tcp.dropped});
    for (const auto& [reason, v] : dp.drops)
        w.sample("gslbd_dropped_total", {{"reason", reason}}, v);
}

/// The response caches of every worker, summed.
void cache_metrics(Writer& w, const cache::Counters& c) {
    w.family("gslbd_cache_hits_total", "counter", "Response cache hits (all workers).");
    w.sample("gslbd_cache_hits_total", {}, U{c.hits});
    w.family("gslbd_cache_misses_total", "counter",
             "Response cache lookups that did not hit, by why.");
    w.sample("gslbd_cache_misses_total", {{"reason", "absent"}},
             U{c.misses - std::min(c.misses, c.generation_misses + c.expired)});
    w.sample("gslbd_cache_misses_total", {{"reason", "generation"}}, U{c.generation_misses});
    w.sample("gslbd_cache_misses_total", {{"reason", "expired"}}, U{c.expired});
    w.family("gslbd_cache_inserts_total", "counter", "Answers stored in the response cache.");
    w.sample("gslbd_cache_inserts_total", {}, U{c.inserts});
    w.family("gslbd_cache_evictions_total", "counter",
             "Live cache entries pushed out to make room.");
    w.sample("gslbd_cache_evictions_total", {}, U{c.evictions});
    w.family("gslbd_cache_uncacheable_total", "counter",
             "Answers not stored: too large, TTL 0, or from a mode that is not cacheable.");
    w.sample("gslbd_cache_uncacheable_total", {}, U{c.uncacheable});
}

/// Edge protection (docs/edge.md): ACL, response rate limiting, DNS cookies, dynamic blocks.
void edge_metrics(Writer& w, const edge::Counters& e) {
    w.family("gslbd_acl_total", "counter", "Queries stopped by the ACL, by action.");
    w.sample("gslbd_acl_total", {{"action", "drop"}}, U{e.acl_dropped});
    w.sample("gslbd_acl_total", {{"action", "refuse"}}, U{e.acl_refused});
    w.family("gslbd_rrl_total", "counter",
             "Responses rate limited (RRL), by what happened to them.");
    w.sample("gslbd_rrl_total", {{"action", "drop"}}, U{e.rrl_dropped});
    w.sample("gslbd_rrl_total", {{"action", "slip"}}, U{e.rrl_slipped});
    w.sample("gslbd_rrl_total", {{"action", "log_only"}}, U{e.rrl_would_limit});
    w.sample("gslbd_rrl_total", {{"action", "exempt"}}, U{e.rrl_exempt});
    w.family("gslbd_cookies_total", "counter", "Queries with a DNS COOKIE option, by outcome.");
    w.sample("gslbd_cookies_total", {{"result", "received"}}, U{e.cookie_queries});
    w.sample("gslbd_cookies_total", {{"result", "valid"}}, U{e.cookie_valid});
    w.sample("gslbd_cookies_total", {{"result", "badcookie"}}, U{e.badcookie});
    w.family("gslbd_dynblocks_active", "gauge",
             "Client prefixes under a dynamic block now (merged over workers).");
    w.sample("gslbd_dynblocks_active", {},
             U{edge::BlockBoard::instance().list(cache::coarse_now()).size()});
    w.family("gslbd_dynblocks_started_total", "counter",
             "Dynamic blocks started (each worker counts the blocks it starts).");
    w.sample("gslbd_dynblocks_started_total", {}, U{e.dyn_started});
    w.family("gslbd_dynblock_queries_total", "counter",
             "Queries stopped by a dynamic block, by the threshold that started it.");
    for (std::size_t i = 0; i < edge::kBlockReasons; ++i)
        w.sample("gslbd_dynblock_queries_total",
                 {{"reason", edge::to_string(static_cast<edge::BlockReason>(i))}},
                 U{e.dyn_blocked[i]});
    w.family("gslbd_dynblock_exempt_total", "counter",
             "Queries not checked against dynamic blocks: valid server cookie.");
    w.sample("gslbd_dynblock_exempt_total", {}, U{e.dyn_exempt});
}

/// Packets, TCP connections and per-worker series of the I/O backends.
void io_metrics(Writer& w, const DataPlaneStats& dp) {
    w.family("gslbd_udp_packets_total", "counter", "UDP datagrams received and sent.");
    w.sample("gslbd_udp_packets_total", {{"direction", "rx"}}, dp.udp_rx);
    w.sample("gslbd_udp_packets_total", {{"direction", "tx"}}, dp.udp_tx);
    w.family("gslbd_tcp_connections_total", "counter", "DNS-over-TCP connection events.");
    w.sample("gslbd_tcp_connections_total", {{"event", "accepted"}}, dp.tcp_accepted);
    w.sample("gslbd_tcp_connections_total", {{"event", "rejected"}}, dp.tcp_rejected);
    w.sample("gslbd_tcp_connections_total", {{"event", "timed_out"}}, dp.tcp_timed_out);
    w.sample("gslbd_tcp_connections_total", {{"event", "closed"}}, dp.tcp_closed);
    w.family("gslbd_tcp_connections_active", "gauge", "DNS-over-TCP connections open now.");
    w.sample("gslbd_tcp_connections_active", {}, dp.tcp_active);
    if (!dp.workers.empty()) {
        w.family("gslbd_worker_packets_total", "counter",
                 "Packets received, per data plane worker.");
        for (const auto& s : dp.workers)
            w.sample("gslbd_worker_packets_total",
                     {{"kind", s.kind}, {"worker", std::to_string(s.index)}}, s.packets);
        bool cycles = false;
        for (const auto& s : dp.workers) cycles |= s.has_cycles;
        if (cycles) {
            w.family(
                "gslbd_worker_cycles_total", "counter",
                "TSC cycles per DPDK worker in polls that found packets (busy) or none (idle).");
            for (const auto& s : dp.workers) {
                if (!s.has_cycles) continue;
                const std::string idx = std::to_string(s.index);
                w.sample("gslbd_worker_cycles_total",
                         {{"kind", s.kind}, {"worker", idx}, {"state", "busy"}}, s.busy_cycles);
                w.sample("gslbd_worker_cycles_total",
                         {{"kind", s.kind}, {"worker", idx}, {"state", "idle"}}, s.idle_cycles);
            }
        }
    }
}

/// The health monitor's probes, all targets.
void probe_metrics(Writer& w, const health::Counters& hc) {
    w.family("gslbd_probes_total", "counter", "Health probe attempts finished (all targets).");
    w.sample("gslbd_probes_total", {}, U{hc.probes});
    w.family("gslbd_probe_failures_total", "counter", "Failed health probe attempts, by reason.");
    for (std::size_t k = 1; k < health::kErrorKinds; ++k)
        w.sample("gslbd_probe_failures_total",
                 {{"reason", std::string(health::to_string(static_cast<health::ErrorKind>(k)))}},
                 U{hc.failures[k]});
    w.family("gslbd_probe_rounds_total", "counter",
             "Health probe rounds (an attempt plus retries), by result.");
    w.sample("gslbd_probe_rounds_total", {{"result", "success"}}, U{hc.rounds - hc.rounds_failed});
    w.sample("gslbd_probe_rounds_total", {{"result", "failure"}}, U{hc.rounds_failed});
    w.family("gslbd_probe_duration_seconds", "histogram", "Duration of health probe attempts.");
    {
        U cum = 0;
        for (std::size_t b = 0; b < health::kDurationBuckets.size(); ++b) {
            cum += hc.duration[b];
            w.sample("gslbd_probe_duration_seconds_bucket",
                     {{"le", fmt::format("{}", health::kDurationBuckets[b])}}, cum);
        }
        cum += hc.duration[health::kDurationBuckets.size()];
        w.sample("gslbd_probe_duration_seconds_bucket", {{"le", "+Inf"}}, cum);
        w.sample("gslbd_probe_duration_seconds_sum", {},
                 static_cast<double>(hc.duration_sum_us) / 1e6);
        w.sample("gslbd_probe_duration_seconds_count", {}, cum);
    }
    w.family("gslbd_health_wakeups_total", "counter",
             "Times the health probe thread woke up (probe events, due probes, timeouts).");
    w.sample("gslbd_health_wakeups_total", {}, U{hc.wakeups});
    w.family("gslbd_health_verdict_changes_total", "counter",
             "Backend verdict changes (up <-> down) made by the health monitor.");
    w.sample("gslbd_health_verdict_changes_total", {}, U{hc.verdict_changes});
}

/// Records per call of Monitor::status, targets per call of Monitor::targets: the monitor's
/// mutex is held for one batch, and no list of every backend or target is ever copied.
constexpr std::size_t kRecordBatch = 256, kTargetBatch = 1024;

/// CoreDNS-GSLB compatible families (same names, labels and values). The probed backends of
/// `view`'s records (the monitor's view of them while it has the same topology).
void healthcheck_metrics(Writer& w, const health::Monitor* mon, const gslb::Snapshot& view) {
    w.family("gslb_healthcheck_total", "counter",
             "Health checks performed, per record, check type, backend and result "
             "(CoreDNS-GSLB).");
    if (mon != nullptr && view.topo != nullptr) {
        std::vector<health::BackendStatus> status;
        const std::size_t n = view.topo->records.size();
        for (std::size_t first = 0; first < n; first += kRecordBatch) {
            if (!mon->status(*view.topo, first, std::min(n, first + kRecordBatch), status)) break;
            for (const auto& b : status) {
                for (const auto& c : b.checks) {
                    const U failed = c.target_failures;
                    w.sample("gslb_healthcheck_total",
                             {{"name", b.record},
                              {"type", c.type},
                              {"address", b.address},
                              {"result", "success"}},
                             c.target_probes - std::min(c.target_probes, failed));
                    w.sample("gslb_healthcheck_total",
                             {{"name", b.record},
                              {"type", c.type},
                              {"address", b.address},
                              {"result", "failure"}},
                             failed);
                }
            }
        }
    }
    w.family("gslb_healthcheck_failures_total", "counter",
             "Failed health checks per check type, address and reason (CoreDNS-GSLB; reasons "
             "are gslbd's, see docs/metrics.md).");
    if (mon == nullptr) return;
    for (std::size_t first = 0;; first += kTargetBatch) {
        const auto targets = mon->targets(first, first + kTargetBatch);
        for (const auto& t : targets) {
            for (std::size_t k = 1; k < health::kErrorKinds; ++k) {
                if (t.failures[k] == 0) continue;
                w.sample(
                    "gslb_healthcheck_failures_total",
                    {{"type", t.type},
                     {"address", t.address},
                     {"reason", std::string(health::to_string(static_cast<health::ErrorKind>(k)))}},
                    U{t.failures[k]});
            }
        }
        if (targets.size() < kTargetBatch) break;
    }
}

/// Calls fn(record, backend) for every backend of `topo`, in topology order (A then AAAA).
template <typename Fn>
void each_backend(const gslb::Topology& topo, Fn&& fn) {
    for (const auto& rec : topo.records)
        for (const auto* fam : {&rec.v4, &rec.v6})
            for (const auto& b : *fam) fn(rec, b);
}

/// The weight in force per backend, and the gradual rules' state per backend (docs/gradual.md;
/// the latter only for records that use the rule). Each family walks the topology again
/// rather than keeping a row per backend.
void gradual_metrics(Writer& w, const gslb::Snapshot& view) {
    if (view.topo == nullptr || view.health == nullptr) return;
    const gslb::Health& h = *view.health;
    const gslb::Topology& topo = *view.topo;
    using Rec = gslb::RecordRt;
    using B = gslb::BackendRt;
    const double now = health::steady_seconds();
    auto percent_of = [&](const B& b) -> U {
        return U{b.id < h.ramp.size() && h.ramp[b.id] != 0 ? h.ramp[b.id] : 100u};
    };
    auto sample = [&](const char* name, const Rec& rec, const B& b, auto v) {
        w.sample(name, {{"name", rec.cfg->name}, {"address", b.addr.to_string()}}, v);
    };
    w.family("gslbd_backend_effective_weight", "gauge",
             "Weight the weighted modes draw with: the weight in force times the percent of "
             "slow start, health score and traffic shift (0 while out of the answers).");
    each_backend(topo, [&](const Rec& rec, const B& b) {
        const bool out = b.id < h.up.size() && h.up[b.id] == 0;
        const std::uint32_t wo = b.id < h.weight.size() ? h.weight[b.id] : 0;
        const U weight = wo != 0 ? wo : b.weight;
        const bool in = !out && b.enabled && h.state_of(b.id) == AdminState::Enabled;
        sample("gslbd_backend_effective_weight", rec, b,
               static_cast<double>(in ? weight * percent_of(b) : 0) / 100.0);
    });
    w.family("gslbd_backend_weight_percent", "gauge",
             "Percent of its weight a backend gets now (slow start x score x traffic shift; "
             "100 = full).");
    each_backend(topo, [&](const Rec& rec, const B& b) {
        sample("gslbd_backend_weight_percent", rec, b, percent_of(b));
    });
    auto note = [&](const B& b) -> const gslb::GradualNote* {
        return b.id < h.notes.size() ? &h.notes[b.id] : nullptr;
    };
    // the per-note families below have nothing to say while no record moves gradually
    const bool notes = !h.notes.empty();
    w.family("gslbd_backend_score_percent", "gauge",
             "Health score: percent of its weight the backend keeps for its recent rounds "
             "(records with `scoring`).");
    if (notes)
        each_backend(topo, [&](const Rec& rec, const B& b) {
            if (const auto* n = note(b); n != nullptr && rec.cfg->gradual.scoring.enabled)
                sample("gslbd_backend_score_percent", rec, b, U{n->score});
        });
    w.family("gslbd_backend_load", "gauge",
             "Health score input: the load gauge read from the backend's metrics (records whose "
             "scoring has `load`, once a check read it).");
    if (notes)
        each_backend(topo, [&](const Rec& rec, const B& b) {
            if (const auto* n = note(b);
                n != nullptr && rec.cfg->gradual.scoring.load > 0 && n->load >= 0)
                sample("gslbd_backend_load", rec, b, n->load);
        });
    w.family("gslbd_backend_ramp_percent", "gauge",
             "Slow start: percent of its weight in force by the ramp (100 when not ramping; "
             "records with `slow_start`).");
    if (notes)
        each_backend(topo, [&](const Rec& rec, const B& b) {
            if (const auto* n = note(b); n != nullptr && rec.cfg->gradual.slow_start.on())
                sample("gslbd_backend_ramp_percent", rec, b,
                       U{n->ramp_until > now ? n->ramp_percent : 100u});
        });
    w.family("gslbd_backend_damping_penalty", "gauge",
             "Flap damping: the RFC 2439 penalty decayed to now (records with `flap_damping`).");
    w.family("gslbd_backend_suppressed", "gauge",
             "Flap damping: 1 while the backend is suppressed (records with `flap_damping`).");
    if (notes)
        each_backend(topo, [&](const Rec& rec, const B& b) {
            const auto* n = note(b);
            const config::Gradual& g = rec.cfg->gradual;
            if (n == nullptr || !g.damping.enabled) return;
            const double hl = static_cast<double>(g.damping.half_life.count()) / 1000.0;
            const double pen =
                n->penalty <= 0 ? 0.0
                                : n->penalty * std::exp2(-std::max(now - n->penalty_at, 0.0) / hl);
            sample("gslbd_backend_damping_penalty", rec, b, std::round(pen * 10.0) / 10.0);
            sample("gslbd_backend_suppressed", rec, b, U{n->suppressed ? 1u : 0u});
        });
}

/// Backend and record gauges from the published snapshot (what the workers answer from).
void backend_metrics(Writer& w, const gslb::Snapshot& view) {
    w.family("gslb_backend_health_status", "gauge",
             "Per backend: 2 = disabled (zone file or API), 1 = healthy, 0 = unhealthy "
             "(CoreDNS-GSLB).");
    using Rec = gslb::RecordRt;
    using B = gslb::BackendRt;
    const gslb::Topology* topo = view.topo.get();
    const gslb::Health* h = view.health.get();
    auto admin_of = [&](const B& b) { return h->state_of(b.id); };
    auto weight_of = [&](const B& b) -> U {
        const std::uint32_t wo = b.id < h->weight.size() ? h->weight[b.id] : 0;
        return wo != 0 ? wo : b.weight;
    };
    auto up_of = [&](const B& b) { return b.id >= h->up.size() || h->up[b.id] != 0; };
    auto disabled = [&](const B& b) { return !b.enabled || admin_of(b) == AdminState::Disabled; };
    if (topo != nullptr)
        each_backend(*topo, [&](const Rec& rec, const B& b) {
            w.sample("gslb_backend_health_status",
                     {{"name", rec.cfg->name}, {"address", b.addr.to_string()}},
                     U{disabled(b) ? 2u : (up_of(b) ? 1u : 0u)});
        });
    // Per record, by name (sorted; records of the same name counted together): an index of
    // record ids, 4 bytes a record, rather than a map of names.
    std::vector<std::uint32_t> by_name;
    if (topo != nullptr) {
        by_name.resize(topo->records.size());
        for (std::size_t i = 0; i < by_name.size(); ++i) by_name[i] = static_cast<std::uint32_t>(i);
        std::sort(by_name.begin(), by_name.end(), [&](std::uint32_t a, std::uint32_t b) {
            return topo->records[a].cfg->name < topo->records[b].cfg->name;
        });
    }
    auto each_name = [&](auto fn) {  // fn(name, backends healthy and in service)
        for (std::size_t i = 0; i < by_name.size();) {
            const std::string& name = topo->records[by_name[i]].cfg->name;
            U active = 0;
            for (; i < by_name.size() && topo->records[by_name[i]].cfg->name == name; ++i) {
                const Rec& rec = topo->records[by_name[i]];
                for (const auto* fam : {&rec.v4, &rec.v6})
                    for (const auto& b : *fam)
                        if (!disabled(b) && admin_of(b) != AdminState::Drained && up_of(b))
                            ++active;
            }
            fn(name, active);
        }
    };
    w.family("gslb_backend_active", "gauge",
             "Per record: backends healthy and in service (not disabled or drained) "
             "(CoreDNS-GSLB).");
    each_name([&](const std::string& name, U a) {
        w.sample("gslb_backend_active", {{"name", name}}, a);
    });
    w.family("gslb_record_health_status", "gauge",
             "Per record: 1 when at least one backend is healthy and in service (CoreDNS-GSLB).");
    each_name([&](const std::string& name, U a) {
        w.sample("gslb_record_health_status", {{"name", name}}, U{a > 0 ? 1u : 0u});
    });
    by_name = {};
    w.family("gslbd_backend_admin_state", "gauge",
             "Operator override per backend: 1 for its current state (enabled, disabled, "
             "drained), 0 for the others.");
    if (topo != nullptr)
        each_backend(*topo, [&](const Rec& rec, const B& b) {
            const AdminState adm = admin_of(b);
            const std::string addr = b.addr.to_string();
            for (const AdminState s :
                 {AdminState::Enabled, AdminState::Disabled, AdminState::Drained})
                w.sample("gslbd_backend_admin_state",
                         {{"name", rec.cfg->name},
                          {"address", addr},
                          {"state", std::string(to_string(s))}},
                         U{adm == s ? 1u : 0u});
        });
    w.family("gslbd_backend_answers_total", "counter",
             "Answers that handed out the backend (A/AAAA, cache hits included), per record "
             "and address; summed over the workers at scrape time, from 0 at each reload.");
    if (topo != nullptr && topo->answers != nullptr)
        each_backend(*topo, [&](const Rec& rec, const B& b) {
            w.sample("gslbd_backend_answers_total",
                     {{"name", rec.cfg->name}, {"address", b.addr.to_string()}},
                     U{topo->answers->total(b.id)});
        });
    w.family("gslbd_backend_weight", "gauge",
             "Effective weight per backend (the API override, else the configured weight).");
    if (topo != nullptr)
        each_backend(*topo, [&](const Rec& rec, const B& b) {
            w.sample("gslbd_backend_weight",
                     {{"name", rec.cfg->name}, {"address", b.addr.to_string()}}, weight_of(b));
        });
    gradual_metrics(w, view);
}

/// Generation, reloads, sizes of the configuration, readiness and build.
void config_metrics(Writer& w, const Control& ctl, const gslb::Snapshot& view,
                    const std::string& version) {
    const ReloadCounters rc = ctl.reload_counters();
    w.family("gslbd_config_generation", "gauge",
             "Generation of the published snapshot (bumps on reloads, health and admin changes).");
    w.sample("gslbd_config_generation", {}, U{view.generation});
    w.family("gslb_config_reload_total", "counter",
             "Configuration reloads by result (CoreDNS-GSLB).");
    w.sample("gslb_config_reload_total", {{"result", "success"}}, U{rc.ok});
    w.sample("gslb_config_reload_total", {{"result", "failure"}}, U{rc.failed});
    w.family("gslbd_config_last_reload_successful", "gauge",
             "1 when the last reload succeeded (or none happened yet), else 0.");
    w.sample("gslbd_config_last_reload_successful", {}, U{rc.last_ok ? 1u : 0u});
    if (view.topo != nullptr) {
        std::size_t backends = 0, checks = 0;
        for (const auto& rec : view.topo->records)
            for (const auto& b : rec.cfg->backends) {
                ++backends;
                checks += b.healthchecks.size();
            }
        w.family("gslbd_zones", "gauge", "Zones configured (CoreDNS-GSLB: gslb_zones_total).");
        w.sample("gslbd_zones", {}, U{view.topo->zones.size()});
        w.family("gslbd_records", "gauge",
                 "GSLB records configured (CoreDNS-GSLB: gslb_records_total).");
        w.sample("gslbd_records", {}, U{view.topo->records.size()});
        w.family("gslbd_backends", "gauge",
                 "Backends configured, all records (CoreDNS-GSLB: gslb_backends_total).");
        w.sample("gslbd_backends", {}, U{backends});
        w.family("gslbd_healthchecks", "gauge",
                 "Health checks configured, all records and backends (CoreDNS-GSLB: "
                 "gslb_healthchecks_total).");
        w.sample("gslbd_healthchecks", {}, U{checks});
    }
    w.family("gslbd_ready", "gauge",
             "1 when the configuration is loaded and the first health round has finished.");
    w.sample("gslbd_ready", {}, U{ctl.ready() ? 1u : 0u});
    w.family("gslb_version_info", "gauge", "Build version, always 1 (CoreDNS-GSLB).");
    w.sample("gslb_version_info", {{"version", version}}, U{1});
    w.family("gslbd_build_info", "gauge", "Build information, always 1.");
    w.sample("gslbd_build_info", {{"version", version}, {"compiler", __VERSION__}}, U{1});
}

}  // namespace

/// Discovery sources (docs/discovery.md), by record and type; nothing without `discovery:`.
static void discovery_metrics(Writer& w, const std::vector<discovery::Discoverer::Status>& st) {
    if (st.empty()) return;
    auto each = [&](const char* name, const char* type, const char* help, auto value) {
        w.family(name, type, help);
        for (const auto& s : st) w.sample(name, {{"record", s.record}, {"type", s.type}}, value(s));
    };
    using S = discovery::Discoverer::Status;
    each("gslbd_discovery_up", "gauge",
         "1 when the source's last answer was good (a failing source keeps its last good pool).",
         [](const S& s) { return U{s.ok ? 1u : 0u}; });
    each("gslbd_discovery_backends", "gauge", "Backends in the source's last good answer.",
         [](const S& s) { return U{s.backends}; });
    each("gslbd_discovery_fetches_total", "counter", "Times the source was asked.",
         [](const S& s) { return U{s.fetches}; });
    each("gslbd_discovery_failures_total", "counter",
         "Failed asks (unreachable, an error status, garbage or an empty answer).",
         [](const S& s) { return U{s.failures}; });
    each("gslbd_discovery_last_success_timestamp_seconds", "gauge",
         "Unix time of the source's last good answer (0: never).", [](const S& s) {
             return U{static_cast<std::uint64_t>(std::max<std::int64_t>(
                 0,
                 std::chrono::duration_cast<std::chrono::seconds>(s.last_success.time_since_epoch())
                     .count()))};
         });
}

/// Zones: the serial served (every zone), and for secondary zones their transfers.
static void zone_metrics(Writer& w, const gslb::Snapshot& view, const xfr::Secondary* sec) {
    if (view.topo == nullptr) return;
    w.family("gslbd_zone_serial", "gauge",
             "SOA serial served per zone (0: a secondary zone with no data yet).");
    for (const auto& z : view.topo->zones) {
        char text[1024];
        if (dns::name_to_text(z.name.bytes.data(), z.name.len, text, sizeof text) == 0) continue;
        w.sample("gslbd_zone_serial", {{"zone", text}}, U{z.servfail ? 0u : z.soa.serial});
    }
    const zone::NotifyBoard& board = zone::notify_board();
    w.family("gslbd_notify_total", "counter",
             "NOTIFY messages: accepted (from a listed primary) or refused (anyone else).");
    w.sample("gslbd_notify_total", {{"result", "accepted"}},
             U{board.accepted.load(std::memory_order_relaxed)});
    w.sample("gslbd_notify_total", {{"result", "refused"}},
             U{board.refused.load(std::memory_order_relaxed)});
    if (sec == nullptr) return;
    const auto st = sec->status();
    if (st.empty()) return;
    using S = xfr::Secondary::Status;
    auto secs = [](std::chrono::system_clock::time_point t) {
        return U{static_cast<std::uint64_t>(std::max<std::int64_t>(
            0, std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count()))};
    };
    w.family("gslbd_zone_transfers_total", "counter",
             "Transfers served, per secondary zone and kind (AXFR, IXFR).");
    for (const S& s : st) {
        w.sample("gslbd_zone_transfers_total", {{"zone", s.zone}, {"kind", "AXFR"}}, U{s.axfr});
        w.sample("gslbd_zone_transfers_total", {{"zone", s.zone}, {"kind", "IXFR"}}, U{s.ixfr});
    }
    auto each = [&](const char* name, const char* type, const char* help, auto value) {
        w.family(name, type, help);
        for (const S& s : st) w.sample(name, {{"zone", s.zone}}, value(s));
    };
    each("gslbd_zone_refresh_checks_total", "counter",
         "Good SOA checks of a secondary zone (up to date or followed by a transfer).",
         [](const S& s) { return U{s.checks}; });
    each("gslbd_zone_refresh_failures_total", "counter",
         "Refreshes where no primary gave a usable answer (the copy is kept).",
         [](const S& s) { return U{s.failures}; });
    each("gslbd_zone_transfers_refused_total", "counter",
         "Transferred zones not served (they conflict with the GSLB records, ...).",
         [](const S& s) { return U{s.refused}; });
    each("gslbd_zone_notifies_total", "counter", "NOTIFYs that triggered a check of the zone.",
         [](const S& s) { return U{s.notifies}; });
    each("gslbd_zone_expired", "gauge",
         "1 while a secondary zone is expired (answered SERVFAIL) or has no data.",
         [](const S& s) { return U{s.expired || !s.loaded ? 1u : 0u}; });
    each("gslbd_zone_last_transfer_success_timestamp_seconds", "gauge",
         "Unix time of the zone's last served transfer (0: never).",
         [&](const S& s) { return secs(s.last_transfer); });
    each("gslbd_zone_last_refresh_success_timestamp_seconds", "gauge",
         "Unix time of the zone's last good SOA check (0: never).",
         [&](const S& s) { return secs(s.last_check); });
}

/// The fleet (docs/fleet.md); nothing without a `cluster:` block.
static void fleet_metrics(Writer& w, const FleetLink& link) {
    const FleetStatus s = link.status();
    const cluster::View& v = *s.view;
    w.family("gslbd_fleet_etcd_connected", "gauge",
             "1 while this node's lease is alive and its watch runs (docs/fleet.md).");
    w.sample("gslbd_fleet_etcd_connected", {}, U{v.connected ? 1u : 0u});
    w.family("gslbd_fleet_degraded", "gauge",
             "1 while this node answers from its own verdicts instead of the fleet's.");
    w.sample("gslbd_fleet_degraded", {}, U{s.degraded ? 1u : 0u});
    w.family("gslbd_fleet_members", "gauge", "Live members of the fleet, by role.");
    U probe = 0, passive = 0, divergent = 0;
    for (const auto& [name, m] : v.members) {
        ++(m.info.role == cluster::Role::Passive ? passive : probe);
        if (m.info.config_digest != s.config_digest) ++divergent;
    }
    w.sample("gslbd_fleet_members", {{"role", "probe"}}, probe);
    w.sample("gslbd_fleet_members", {{"role", "passive"}}, passive);
    w.family("gslbd_fleet_divergent_configs", "gauge",
             "Live members whose config digest differs from this node's.");
    w.sample("gslbd_fleet_divergent_configs", {}, divergent);
    w.family("gslbd_fleet_votes", "gauge", "This node's own votes in etcd, by verdict.");
    w.sample("gslbd_fleet_votes", {{"verdict", "up"}}, U{s.votes_up});
    w.sample("gslbd_fleet_votes", {{"verdict", "down"}}, U{s.votes_down});
    U fleet_up = 0, fleet_down = 0, no_quorum = 0;
    v.targets->for_each([&](const std::string&, const cluster::TargetView& tv) {
        if (tv.verdict == cluster::FleetVerdict::Up)
            ++fleet_up;
        else if (tv.verdict == cluster::FleetVerdict::Down)
            ++fleet_down;
        else
            ++no_quorum;
    });
    w.family("gslbd_fleet_verdicts", "gauge",
             "Probe targets by fleet verdict (no_quorum: fewer fresh voters than min_voters).");
    w.sample("gslbd_fleet_verdicts", {{"verdict", "up"}}, fleet_up);
    w.sample("gslbd_fleet_verdicts", {{"verdict", "down"}}, fleet_down);
    w.sample("gslbd_fleet_verdicts", {{"verdict", "no_quorum"}}, no_quorum);
    w.family("gslbd_fleet_backend_targets", "gauge",
             "Checks of probed backends at the last publish, by who decided them (fleet or own).");
    w.sample("gslbd_fleet_backend_targets", {{"decided_by", "fleet"}}, U{s.targets_fleet});
    w.sample("gslbd_fleet_backend_targets", {{"decided_by", "own"}}, U{s.targets_own});
    const auto& c = v.counters;
    const std::pair<const char*, U> counters[] = {
        {"gslbd_fleet_etcd_errors_total", c.etcd_errors},
        {"gslbd_fleet_resyncs_total", c.resyncs},
        {"gslbd_fleet_watch_events_total", c.watch_events},
        {"gslbd_fleet_txns_total", c.txns},
        {"gslbd_fleet_votes_written_total", c.votes_written},
        {"gslbd_fleet_lease_grants_total", c.lease_grants},
    };
    const char* const help[] = {"Failed etcd calls.",
                                "Full reads of the fleet's keys (start, compaction, reconnect).",
                                "Keys received through the watch.",
                                "Transactions written (votes, member record, overrides).",
                                "Own votes written or withdrawn.",
                                "Leases granted (1, more after a lost lease)."};
    for (std::size_t i = 0; i < std::size(counters); ++i) {
        w.family(counters[i].first, "counter", help[i]);
        w.sample(counters[i].first, {}, counters[i].second);
    }
}

void render_metrics(const Control& ctl, const DataPlaneStats& dp, const std::string& version,
                    ChunkWriter& out) {
    Writer w(out);
    const gslb::Snapshot view = ctl.current();
    dns_metrics(w, dp);
    cache_metrics(w, dp.cache);
    edge_metrics(w, dp.edge);
    io_metrics(w, dp);

    const health::Monitor* mon = ctl.monitor();
    probe_metrics(w, mon != nullptr ? mon->counters() : health::Counters{});
    healthcheck_metrics(w, mon, view);
    backend_metrics(w, view);
    config_metrics(w, ctl, view, version);
    if (const discovery::Discoverer* d = ctl.discoverer()) discovery_metrics(w, d->status());
    zone_metrics(w, view, ctl.secondary());
    if (const FleetLink* f = ctl.fleet()) fleet_metrics(w, *f);
}

std::string render_metrics(const Control& ctl, const DataPlaneStats& dp,
                           const std::string& version) {
    std::string text;
    ChunkWriter out([&text](const char* d, std::size_t n) {
        text.append(d, n);
        return true;
    });
    render_metrics(ctl, dp, version, out);
    out.flush();
    return text;
}

}  // namespace gslbd::ctl
