#include "ctl/plan.hh"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <vector>

#include "ctl/admin.hh"
#include "ctl/explain.hh"
#include "dns/query.hh"
#include "dns/response.hh"
#include "dns/wire.hh"
#include "gslb/engine.hh"
#include "gslb/policy.hh"
#include "health/gradual.hh"

namespace gslbd::ctl {

using nlohmann::json;

namespace {

/// One class on one snapshot: the class in words and the share of each answer.
struct Outcome {
    std::string cls;
    std::map<std::string, double> answers;
};

/// A query for `name` / `qtype` without EDNS (the client comes as ClientInfo, not from ECS).
struct PlainQuery {
    std::vector<std::uint8_t> packet;
    dns::Query q;
    bool ok = false;
};

PlainQuery plain_query(const std::string& name, std::uint16_t qtype) {
    PlainQuery out;
    const gslb::WireName wire =
        gslb::WireName::from_text(name, config::SourcePos{"plan", 0, 0}, "name");
    out.packet.resize(dns::kHeaderSize + wire.len + 4);
    dns::Writer w(out.packet);
    w.u16(0x9a11);  // ID
    w.u16(0);       // flags
    w.u16(1);       // QDCOUNT
    w.u16(0);
    w.u16(0);
    w.u16(0);
    w.bytes(wire.span());
    w.u16(qtype);
    w.u16(dns::kClassIN);
    out.ok = w.ok() && dns::parse_query(out.packet, out.q).status == dns::ParseStatus::Ok;
    return out;
}

std::string kind_text(const gslb::AnswerInfo& info) {
    switch (info.kind) {
        case gslb::AnswerKind::Answer:
            return info.fallback ? "fallback answer (no backend)" : "answer without backends";
        case gslb::AnswerKind::NoData:
            return "NODATA";
        case gslb::AnswerKind::NxDomain:
            return "NXDOMAIN";
        case gslb::AnswerKind::Refused:
            return "REFUSED";
        case gslb::AnswerKind::ServFail:
            break;
    }
    return rcode_name(static_cast<unsigned>(info.rcode));
}

/// Runs the data plane's plan and build on one snapshot, as a worker would.
class Evaluator {
  public:
    explicit Evaluator(const gslb::Snapshot& snap)
        : snap_(snap), plan_(std::make_unique<gslb::Plan>()), buf_(dns::kMaxMessage) {
        if (snap.topo == nullptr) return;
        addr_.resize(snap.topo->backend_count);
        for (const auto& rec : snap.topo->records)
            for (const auto* fam : {&rec.v4, &rec.v6})
                for (const auto& b : *fam)
                    if (b.id < addr_.size()) addr_[b.id] = b.addr.to_string();
    }

    /// `clients`: the class's sampled clients, which share its draws.
    Outcome run(const std::string& name, std::uint16_t qtype, const gslb::ClientInfo& client,
                std::size_t clients = 1) {
        Outcome o;
        const PlainQuery pq = plain_query(name, qtype);
        if (!pq.ok || snap_.topo == nullptr) {
            o.cls = "unanswerable";
            return o;
        }
        // The same seed on both sides of the plan and for every class: the draws of a mode
        // that picks per query are the same wherever the eligible set and weights are.
        gslb::WorkerState ws(0x91a2b3c4d5e6f708ull);
        ws.prepare(*snap_.topo);
        gslb::Plan& p = *plan_;
        gslb::plan(snap_, pq.q, client, ws, p);
        bool per_query = false;
        o.cls = class_text(pq.q, client, ws, per_query);
        // a mode that draws per query: the class's draws shared among its sampled clients
        const int draws =
            per_query
                ? std::max(kPlanDraws / static_cast<int>(std::max<std::size_t>(clients, 1)), 250)
                : 1;
        std::map<std::string, int> tally;
        for (int i = 0; i < draws; ++i) {
            if (i != 0) gslb::plan(snap_, pq.q, client, ws, p);
            dns::ResponseWriter w(buf_, buf_.size());
            const gslb::AnswerInfo info = gslb::build(snap_, pq.q, client, ws, p, w);
            ++tally[answer_text(info, ws)];
        }
        for (const auto& [a, n] : tally) o.answers[a] = static_cast<double>(n) / draws;
        return o;
    }

  private:
    std::string answer_text(const gslb::AnswerInfo& info, const gslb::WorkerState& ws) const {
        if (ws.picked_count == 0) return kind_text(info);
        std::vector<std::string> addrs;
        for (std::size_t i = 0; i < ws.picked_count; ++i)
            if (ws.picked[i] < addr_.size()) addrs.push_back(addr_[ws.picked[i]]);
        std::sort(addrs.begin(), addrs.end());
        std::string out;
        for (const auto& a : addrs) out += (out.empty() ? "" : ", ") + a;
        if (info.fallback) out += " (fail-open)";
        return out;
    }

    /// The decision class in words, from what the mode says about it (Policy::explain).
    std::string class_text(const dns::Query& q, const gslb::ClientInfo& client,
                           gslb::WorkerState& ws, bool& per_query) const {
        const gslb::Plan& p = *plan_;
        if (p.zone == nullptr) return "name not served (REFUSED)";
        if (p.rec == nullptr) return "not a GSLB record";
        const gslb::RecordRt& rec = *p.rec;
        const bool v4 = q.qtype == dns::qtype::A;
        if (!p.address)
            return (v4 ? rec.v4 : rec.v6).empty() ? "no backends of the family"
                                                  : "no eligible backend (fallback)";
        if (p.fallback && rec.fallback.mode == config::FallbackMode::FailOpen)
            return "no eligible backend (fail-open)";
        per_query = !p.cacheable;
        if (rec.policy == nullptr) return "any client";
        gslb::Explanation e;
        const gslb::SelectContext ctx{snap_,
                                      rec,
                                      v4 ? std::span<const gslb::BackendRt>(rec.v4) : rec.v6,
                                      {p.eligible.data(), p.eligible_count},
                                      client,
                                      ws,
                                      v4 ? std::uint8_t{4} : std::uint8_t{6}};
        rec.policy->explain(ctx, p.decision, e);
        per_query = per_query || e.per_query;
        std::string text = p.fallback ? "no eligible backend (fallback), " : "";
        if (p.decision.decision_class == 0) return text + "any client";
        std::string by, matched, pick;
        for (const auto& [what, note] : e.notes) {
            if (what == "decided_by") by = note.substr(0, note.find(':'));  // the words before why
            if (what == "matched") matched = note;
            if (what == "pick") pick = note;
        }
        if (!by.empty()) return text + by + (matched.empty() ? "" : " " + matched);
        if (!pick.empty()) return text + "hashed to " + pick;
        char hex[24];
        std::snprintf(hex, sizeof hex, "class 0x%08x", p.decision.decision_class);
        return text + hex;
    }

    const gslb::Snapshot& snap_;
    std::unique_ptr<gslb::Plan> plan_;
    std::vector<std::uint8_t> buf_;
    std::vector<std::string> addr_;  ///< by backend id
};

/// The share of queries whose answer differs: the total variation distance of the two
/// answer distributions (1 - the share both sides agree on).
double changed_share(const Outcome& a, const Outcome& b) {
    double same = 0;
    for (const auto& [ans, p] : a.answers) {
        auto it = b.answers.find(ans);
        if (it != b.answers.end()) same += std::min(p, it->second);
    }
    return std::clamp(1.0 - same, 0.0, 1.0);
}

json answers_json(const Outcome& o) {
    std::vector<std::pair<std::string, double>> v(o.answers.begin(), o.answers.end());
    std::sort(v.begin(), v.end(), [](const auto& x, const auto& y) { return x.second > y.second; });
    json out = json::array();
    for (const auto& [a, p] : v)
        out.push_back({{"answer", a}, {"share", std::round(p * 10000.0) / 10000.0}});
    return out;
}

double round4(double x) {
    return std::round(x * 10000.0) / 10000.0;
}

}  // namespace

json plan_json(const gslb::Snapshot& now, const gslb::Snapshot& after, const std::string& change) {
    if (now.topo == nullptr || after.topo == nullptr)
        throw RequestError(503, "no configuration loaded yet");
    const gslb::Topology& topo = *now.topo;
    std::vector<gslb::ClassCounts::Entry> entries;
    std::uint64_t unclassified = 0;
    double window = 0;
    if (topo.classes != nullptr) {
        entries = topo.classes->collect();
        unclassified = topo.classes->overflow();
        window = health::steady_seconds() - topo.classes->since();
    }
    std::unordered_map<std::string, const gslb::RecordRt*> after_by_name;
    for (const auto& rec : after.topo->records) after_by_name.emplace(rec.cfg->name, &rec);

    Evaluator before_ev(now), after_ev(after);
    struct RecordPlan {
        json classes = json::array();
        std::uint64_t queries = 0;
        double changed = 0;
    };
    std::map<std::uint32_t, RecordPlan> by_record;
    std::uint64_t total = 0;
    double changed_total = 0;
    std::sort(entries.begin(), entries.end(),
              [](const auto& a, const auto& b) { return a.queries > b.queries; });
    for (const auto& e : entries) {
        if (e.record >= topo.records.size() || e.samples.empty()) {
            unclassified += e.queries;
            continue;
        }
        const gslb::RecordRt& rec = topo.records[e.record];
        const std::uint16_t qtype = e.af == 6 ? dns::qtype::AAAA : dns::qtype::A;
        // Every sampled client of the class, weighted by the queries it stands for: the
        // class's answers now and after are their mix, its share the weighted fraction of
        // them whose answer changes (a change that splits a class shows a split).
        Outcome a, b;
        double weight = 0, changed = 0;
        for (const auto& smp : e.samples) {
            gslb::ClientInfo client;
            client.addr = smp.client;
            client.source_prefix = smp.source_prefix;
            client.from_ecs = smp.from_ecs;
            const Outcome sa = before_ev.run(rec.cfg->name, qtype, client, e.samples.size());
            const Outcome sb = after_ev.run(rec.cfg->name, qtype, client, e.samples.size());
            if (a.cls.empty()) a.cls = sa.cls;
            if (b.cls.empty()) b.cls = sb.cls;
            for (const auto& [ans, p] : sa.answers) a.answers[ans] += smp.weight * p;
            for (const auto& [ans, p] : sb.answers) b.answers[ans] += smp.weight * p;
            changed += smp.weight * changed_share(sa, sb);
            weight += smp.weight;
        }
        if (weight <= 0) weight = 1;
        for (auto* o : {&a, &b})
            for (auto& [ans, p] : o->answers) p /= weight;
        const double share = std::clamp(changed / weight, 0.0, 1.0);
        json c = {{"type", qtype_name(qtype)},
                  {"class", a.cls},
                  {"client", e.from_ecs ? e.client.to_string() + "/" +
                                              std::to_string(e.source_prefix) + " (ECS)"
                                        : e.client.to_string()},
                  {"clients_sampled", e.samples.size()},
                  {"queries", e.queries},
                  {"now", answers_json(a)},
                  {"after", answers_json(b)},
                  {"changed_share", round4(share)},
                  {"changed_queries", std::llround(share * static_cast<double>(e.queries))}};
        if (b.cls != a.cls) c["class_after"] = b.cls;
        RecordPlan& rp = by_record[e.record];
        rp.classes.push_back(std::move(c));
        rp.queries += e.queries;
        rp.changed += share * static_cast<double>(e.queries);
        total += e.queries;
        changed_total += share * static_cast<double>(e.queries);
    }

    json records = json::array();
    std::vector<std::pair<std::uint32_t, RecordPlan*>> order;
    for (auto& [id, rp] : by_record) order.emplace_back(id, &rp);
    std::sort(order.begin(), order.end(),
              [](const auto& x, const auto& y) { return x.second->queries > y.second->queries; });
    for (auto& [id, rp] : order) {
        const gslb::RecordRt& rec = topo.records[id];
        auto it = after_by_name.find(rec.cfg->name);
        json r = {{"name", rec.cfg->name},
                  {"mode", rec.policy != nullptr ? std::string(rec.policy->name()) : ""},
                  {"queries", rp->queries},
                  {"changed_share",
                   rp->queries != 0 ? round4(rp->changed / static_cast<double>(rp->queries)) : 0.0},
                  {"changed_queries", std::llround(rp->changed)},
                  {"classes", std::move(rp->classes)}};
        if (it == after_by_name.end())
            r["removed"] = true;
        else if (it->second->policy != rec.policy && it->second->policy != nullptr)
            r["mode_after"] = std::string(it->second->policy->name());
        records.push_back(std::move(r));
    }

    // Records the change touches that no counted query asked for: named, without shares.
    std::unordered_map<std::string, std::uint64_t> before_hash;
    for (const auto& rec : topo.records) before_hash.emplace(rec.cfg->name, rec.cfg->source_hash);
    json added = json::array(), quiet = json::array();
    for (const auto& rec : after.topo->records) {
        auto it = before_hash.find(rec.cfg->name);
        if (it == before_hash.end()) {
            added.push_back(rec.cfg->name);
            continue;
        }
        const bool counted = std::any_of(by_record.begin(), by_record.end(), [&](const auto& kv) {
            return topo.records[kv.first].cfg->name == rec.cfg->name;
        });
        if (!counted && it->second != rec.cfg->source_hash) quiet.push_back(rec.cfg->name);
    }
    json removed = json::array();
    for (const auto& rec : topo.records)
        if (after_by_name.find(rec.cfg->name) == after_by_name.end())
            removed.push_back(rec.cfg->name);

    return {
        {"change", change},
        {"applied", false},
        {"generation", now.generation},
        {"window_s", std::round(window * 10.0) / 10.0},
        {"queries", total},
        {"changed_queries", std::llround(changed_total)},
        {"changed_share", total != 0 ? round4(changed_total / static_cast<double>(total)) : 0.0},
        {"unclassified_queries", unclassified},
        {"records", std::move(records)},
        {"records_added", std::move(added)},
        {"records_removed", std::move(removed)},
        {"changed_without_queries", std::move(quiet)}};
}

}  // namespace gslbd::ctl
