#include "ctl/shift.hh"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <stdexcept>

#include "gslb/policy.hh"

namespace gslbd::ctl {

using nlohmann::json;

std::uint32_t shift_moved(std::uint32_t steps, const ShiftParams& p) noexcept {
    const std::uint64_t m = std::uint64_t{steps} * p.step;
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(m, p.share));
}

std::uint32_t shift_steps(const ShiftParams& p) noexcept {
    return p.step == 0 ? 1 : (p.share + p.step - 1) / p.step;
}

std::uint32_t shift_percent(std::uint32_t moved, double wt, double wo) noexcept {
    if (moved >= 100) return 0;
    if (moved == 0) return 100;
    if (wo <= 0) return 100;  // nowhere to move a share to
    const double m = moved / 100.0;
    const double f = (1.0 - m) * wo / (wo + m * std::max(wt, 0.0));
    return std::clamp<std::uint32_t>(static_cast<std::uint32_t>(std::lround(100.0 * f)), 1, 100);
}

std::string_view to_string(ShiftState s) noexcept {
    switch (s) {
        case ShiftState::Running:
            return "running";
        case ShiftState::Paused:
            return "paused";
        case ShiftState::Holding:
            return "holding";
        case ShiftState::Aborted:
            return "aborted";
        case ShiftState::Restored:
            return "restored";
        case ShiftState::Ended:
            return "ended";
    }
    return "?";
}

namespace {

// A mode that splits a record's answers by weight follows a share through the targets'
// weight; every other mode through a share of its clients (Health::split).
bool by_weight(const gslb::RecordRt& rec) {
    return rec.policy != nullptr && rec.policy->splits_by_weight();
}

template <class Fn>
void for_backends(const gslb::Topology& topo, const std::set<std::string>& records, Fn&& fn) {
    for (const auto& rec : topo.records)
        if (records.count(rec.cfg->name) != 0)
            for (const auto* fam : {&rec.v4, &rec.v6})
                for (const auto& b : *fam) fn(rec, b);
}

double round3(double x) {
    return std::round(x * 1000.0) / 1000.0;
}

}  // namespace

ShiftBook::Shift& ShiftBook::find(std::uint64_t id) {
    for (auto& s : shifts_)
        if (s.id == id) return s;
    throw RequestError(404, "no shift " + std::to_string(id));
}

bool ShiftBook::resolve(Shift& s, const gslb::Topology& topo) {
    std::vector<std::pair<const gslb::RecordRt*, const gslb::BackendRt*>> matched;
    try {
        matched = AdminStore::select(topo, s.p.selector);
    } catch (const RequestError&) {
        return false;
    }
    s.targets.clear();
    s.records.clear();
    for (const auto& [rec, b] : matched) {
        s.targets.emplace(rec->cfg->name, b->addr.to_string());
        s.records.insert(rec->cfg->name);
    }
    return !s.targets.empty();
}

void ShiftBook::sample(Shift& s) {
    if (s.topo == nullptr || s.topo->answers == nullptr) return;
    Segment* seg = !s.segments.empty() && s.segments.back().to < 0 ? &s.segments.back() : nullptr;
    for_backends(*s.topo, s.records, [&](const gslb::RecordRt& rec, const gslb::BackendRt& b) {
        const BackendKey key{rec.cfg->name, b.addr.to_string()};
        const std::uint64_t total = s.topo->answers->total(b.id);
        auto it = s.seen.find(key);
        if (it == s.seen.end()) {
            s.seen.emplace(key, total);  // not read before: a baseline, nothing to count
            return;
        }
        const std::uint64_t delta = total >= it->second ? total - it->second : total;
        it->second = total;
        if (seg != nullptr) seg->answers[key] += delta;
    });
}

void ShiftBook::boundary(Shift& s, double now) {
    sample(s);
    if (!s.segments.empty()) s.segments.back().to = now;
    if (!s.live()) return;
    Segment seg;
    seg.step = s.steps;
    seg.moved = shift_moved(s.steps, s.p);
    seg.state = s.state;
    seg.from = now;
    if (!s.segments.empty()) seg.records = s.segments.back().records;
    s.segments.push_back(std::move(seg));
}

void ShiftBook::finish(Shift& s, ShiftState st, std::string reason, double now) {
    // the fleet forgets it (every node restores it by itself too; Ended is this node's topology)
    if (!s.uid.empty() && s.live() && st != ShiftState::Ended)
        outbox_.emplace_back(s.uid, std::nullopt);
    s.doc = nullptr;
    sample(s);
    if (!s.segments.empty() && s.segments.back().to < 0) s.segments.back().to = now;
    s.state = st;
    s.reason = std::move(reason);
    s.ended = now;
    s.topo.reset();  // its counters are read; do not keep an old topology alive
}

void ShiftBook::trim() {
    std::size_t finished = 0;
    for (const auto& s : shifts_) finished += s.live() ? 0 : 1;
    for (auto it = shifts_.begin(); it != shifts_.end() && finished > kKeepFinished;) {
        if (!it->live()) {
            it = shifts_.erase(it);
            --finished;
        } else {
            ++it;
        }
    }
}

std::uint64_t ShiftBook::start(const ShiftParams& p,
                               const std::shared_ptr<const gslb::Topology>& topo, double now,
                               double wall) {
    Shift s;
    s.p = p;
    if (!resolve(s, *topo)) {
        // select() says why (unknown record, or no backend matches)
        AdminStore::select(*topo, p.selector);
        throw RequestError(404, "no backend matches " + p.selector.describe());
    }
    for (const auto& o : shifts_) {
        if (!o.live()) continue;
        for (const auto& t : s.targets)
            if (o.targets.count(t) != 0)
                throw RequestError(409, "backend " + t.second + " of " + t.first +
                                            " is already in shift " + std::to_string(o.id) + " (" +
                                            std::string(to_string(o.state)) +
                                            "): abort that one first");
    }
    s.id = next_id_++;
    s.started = now;
    s.steps = 1;
    s.state = shift_steps(p) <= 1 ? ShiftState::Holding : ShiftState::Running;
    s.next_at = now + p.interval;
    s.topo = topo;
    sample(s);  // the baseline of every counter
    Segment seg;
    seg.step = 1;
    seg.moved = shift_moved(1, p);
    seg.state = s.state;
    seg.from = now;
    s.segments.push_back(std::move(seg));
    // a name that stays unique across the nodes of a fleet and their restarts
    static std::mt19937_64 gen{std::random_device{}()};
    char uid[17];
    std::snprintf(uid, sizeof uid, "%016llx", static_cast<unsigned long long>(gen()));
    s.uid = uid;
    shifts_.push_back(std::move(s));
    write_doc(shifts_.back(), now, wall);
    return shifts_.back().id;
}

void ShiftBook::pause(std::uint64_t id, double now, double wall) {
    Shift& s = find(id);
    if (s.state != ShiftState::Running)
        throw RequestError(409, "shift " + std::to_string(id) + " is " +
                                    std::string(to_string(s.state)) + ", not running");
    s.paused_left = std::max(s.next_at - now, 0.0);
    s.state = ShiftState::Paused;
    boundary(s, now);
    write_doc(s, now, wall);
}

void ShiftBook::resume(std::uint64_t id, double now, double wall) {
    Shift& s = find(id);
    if (s.state != ShiftState::Paused)
        throw RequestError(409, "shift " + std::to_string(id) + " is " +
                                    std::string(to_string(s.state)) + ", not paused");
    s.next_at = now + s.paused_left;
    s.state = ShiftState::Running;
    boundary(s, now);
    write_doc(s, now, wall);
}

void ShiftBook::abort(std::uint64_t id, double now) {
    Shift& s = find(id);
    if (!s.live())
        throw RequestError(
            409, "shift " + std::to_string(id) + " is already " + std::string(to_string(s.state)));
    finish(s, ShiftState::Aborted, "aborted through the API", now);
    trim();
}

bool ShiftBook::advance(double now) {
    bool changed = false;
    for (auto& s : shifts_) {
        if (!s.live()) continue;
        if (s.p.restore_after > 0 && now >= s.started + s.p.restore_after) {
            finish(s, ShiftState::Restored, "the drill's time is over", now);
            changed = true;
            continue;
        }
        if (s.state != ShiftState::Running || now < s.next_at) continue;
        const std::uint32_t total = shift_steps(s.p);
        while (now >= s.next_at && s.steps < total) {  // a late tick takes the latest step
            ++s.steps;
            s.next_at += s.p.interval;
        }
        if (s.steps >= total) s.state = ShiftState::Holding;
        boundary(s, now);
        changed = true;
    }
    trim();  // after the loop: trim() erases from shifts_
    return changed;
}

double ShiftBook::next_due(double now) const noexcept {
    double due = 1e9;
    for (const auto& s : shifts_) {
        if (!s.live()) continue;
        if (s.state == ShiftState::Running) due = std::min(due, s.next_at - now);
        if (s.p.restore_after > 0) due = std::min(due, s.started + s.p.restore_after - now);
    }
    return std::max(due, 0.0);
}

bool ShiftBook::live() const noexcept {
    return std::any_of(shifts_.begin(), shifts_.end(), [](const Shift& s) { return s.live(); });
}

void ShiftBook::apply(const std::shared_ptr<const gslb::Topology>& topo_ptr, gslb::Health& h,
                      double now) {
    h.shift.clear();
    h.split.clear();
    bool any = false;
    for (auto& s : shifts_) {
        if (!s.live()) continue;
        if (s.topo != topo_ptr) {
            sample(s);  // what the old topology counted, up to the switch
            if (!resolve(s, *topo_ptr)) {
                finish(s, ShiftState::Ended,
                       "a reload or pool change left no backend that matches " +
                           s.p.selector.describe(),
                       now);
                continue;
            }
            s.topo = topo_ptr;
            s.seen.clear();
            sample(s);  // the new topology's counters: a baseline
        }
        any = any || s.live();
    }
    trim();
    if (!any) return;
    const gslb::Topology& topo = *topo_ptr;
    const std::size_t n = topo.backend_count;
    h.shift.assign(n, gslb::Health::kNoShift);
    if (h.ramp.size() < n) h.ramp.resize(n, 0);
    if (h.admin.size() < n) h.admin.resize(n, gslb::AdminState::Enabled);
    if (h.up.size() < n) h.up.resize(n, 1);
    for (auto& s : shifts_) {
        if (!s.live()) continue;
        const std::uint32_t moved = shift_moved(s.steps, s.p);
        Segment& seg = s.segments.back();
        for (const auto& rec : topo.records) {
            if (s.records.count(rec.cfg->name) == 0) continue;
            for (int f = 0; f < 2; ++f) {
                const auto& fam = f == 0 ? rec.v4 : rec.v6;
                double wt = 0, wo = 0;
                bool has_target = false;
                std::vector<const gslb::BackendRt*> targets;
                for (const auto& b : fam) {
                    const bool target = s.targets.count({rec.cfg->name, b.addr.to_string()}) != 0;
                    const bool usable =
                        b.enabled && h.up[b.id] != 0 && h.admin[b.id] == gslb::AdminState::Enabled;
                    const std::uint32_t wov = b.id < h.weight.size() ? h.weight[b.id] : 0;
                    const double e = static_cast<double>(wov != 0 ? wov : b.weight) *
                                     (h.ramp[b.id] != 0 ? h.ramp[b.id] : 100) / 100.0;
                    if (usable) (target ? wt : wo) += e;
                    if (target) targets.push_back(&b);
                    has_target = has_target || target;
                }
                if (!has_target) continue;
                // modes that pick by client: m % of the clients (by bucket) treat the targets
                // as unavailable; the targets keep 100 - m % of their clients
                const bool clients = !by_weight(rec);
                const std::uint32_t p = !clients       ? shift_percent(moved, wt, wo)
                                        : moved >= 100 ? 0
                                        : wo > 0       ? 100 - moved
                                                       : 100;  // nowhere to move a share to
                for (const auto* b : targets) {
                    h.shift[b->id] = static_cast<std::uint8_t>(p);
                    if (p == 0) {
                        // moved entirely: out, as drained (a fail-open last resort only)
                        if (h.admin[b->id] == gslb::AdminState::Enabled)
                            h.admin[b->id] = gslb::AdminState::Drained;
                        continue;
                    }
                    if (clients) {
                        if (p < 100) {
                            if (h.split.size() < n) h.split.resize(n, 0);
                            h.split[b->id] = static_cast<std::uint8_t>(moved);
                        }
                        continue;
                    }
                    const std::uint32_t r = h.ramp[b->id] != 0 ? h.ramp[b->id] : 100;
                    const std::uint32_t q = std::max<std::uint32_t>((r * p + 50) / 100, 1);
                    h.ramp[b->id] = q >= 100 ? 0 : static_cast<std::uint8_t>(q);
                }
                if (f == 0 || rec.v4.empty()) {
                    RecordPlan& rp = seg.records[rec.cfg->name];
                    rp.wt = wt;
                    rp.wo = wo;
                    rp.percent = p;
                    rp.clients = clients;
                    rp.mode = std::string(rec.policy->name());
                }
                // answers change with every step: dynamic_ttl shortens them meanwhile
                const auto& ttl = rec.cfg->gradual.ttl;
                if (ttl.enabled && s.state != ShiftState::Holding && ttl.min < rec.ttl) {
                    const std::size_t i = std::size_t{rec.id} * 2 + static_cast<std::size_t>(f);
                    if (h.short_ttl.size() <= i) h.short_ttl.resize(topo.records.size() * 2, 0);
                    h.short_ttl[i] = std::max<std::uint32_t>(ttl.min, 1);
                }
            }
        }
    }
    if (std::all_of(h.ramp.begin(), h.ramp.end(), [](std::uint8_t r) { return r == 0; }))
        h.ramp.clear();
}

json ShiftBook::shift_json(Shift& s, double now) {
    if (s.live()) sample(s);
    const double end = s.live() ? now : s.ended;
    json targets = json::array();
    for (const auto& [rec, addr] : s.targets)
        targets.push_back({{"record", rec}, {"address", addr}});
    json steps = json::array();
    for (const auto& seg : s.segments) {
        std::uint64_t to_targets = 0, total = 0;
        std::map<std::string, std::uint64_t> per_record;
        json backends = json::array();
        for (const auto& [key, n] : seg.answers) {
            const bool target = s.targets.count(key) != 0;
            backends.push_back({{"record", key.first},
                                {"address", key.second},
                                {"target", target},
                                {"answers", n}});
            total += n;
            per_record[key.first] += n;
            if (target) to_targets += n;
        }
        // what the documented function promises, weighted by each record's answers
        json records = json::array();
        double expected = 0;
        std::uint64_t weighed = 0;
        bool by_clients = false;  // a record whose share depends on where its clients are
        for (const auto& [name, rp] : seg.records) {
            double e = 0;
            if (rp.percent > 0 && rp.wt > 0)
                e = rp.percent * rp.wt / (rp.percent * rp.wt + 100.0 * rp.wo);
            records.push_back(
                {{"name", name},
                 {"mode", rp.mode},
                 {"moved_by", rp.clients ? "clients" : "weight"},
                 {"percent", rp.percent},
                 {"targets_weight", round3(rp.wt)},
                 {"others_weight", round3(rp.wo)},
                 {"expected_target_share", rp.clients ? json(nullptr) : json(round3(e))}});
            auto it = per_record.find(name);
            if (it != per_record.end()) {
                by_clients = by_clients || (rp.clients && it->second != 0);
                expected += e * static_cast<double>(it->second);
                weighed += it->second;
            }
        }
        if (by_clients) weighed = 0;  // no expected share for the step as a whole
        json j = {
            {"step", seg.step},
            {"moved_percent", seg.moved},
            {"state", std::string(to_string(seg.state))},
            {"from_s", round3(seg.from - s.started)},
            {"to_s", seg.to < 0 ? json(nullptr) : json(round3(seg.to - s.started))},
            {"answers", {{"targets", to_targets}, {"total", total}}},
            {"target_share",
             total != 0 ? json(round3(static_cast<double>(to_targets) / static_cast<double>(total)))
                        : json(nullptr)},
            {"expected_target_share",
             weighed != 0 ? json(round3(expected / static_cast<double>(weighed))) : json(nullptr)},
            {"records", std::move(records)},
            {"backends", std::move(backends)}};
        steps.push_back(std::move(j));
    }
    json sel = json::object();
    if (s.p.selector.address) sel["address"] = s.p.selector.address->to_string();
    if (!s.p.selector.tags.empty()) sel["tags"] = s.p.selector.tags;
    if (s.p.selector.location) sel["location"] = *s.p.selector.location;
    if (s.p.selector.record) sel["record"] = *s.p.selector.record;
    json j = {{"id", s.id},
              {"uid", s.uid},
              {"selector", std::move(sel)},
              {"describe", s.p.selector.describe()},
              {"share", s.p.share},
              {"step", s.p.step},
              {"interval_s", round3(s.p.interval)},
              {"drill", s.p.restore_after > 0},
              {"state", std::string(to_string(s.state))},
              {"steps_taken", s.steps},
              {"steps_total", shift_steps(s.p)},
              {"moved_percent", s.live() ? shift_moved(s.steps, s.p) : 0},
              {"elapsed_s", round3(end - s.started)},
              {"targets", std::move(targets)},
              {"steps", std::move(steps)}};
    if (s.p.restore_after > 0) {
        j["restore_after_s"] = round3(s.p.restore_after);
        if (s.live())
            j["restore_in_s"] = round3(std::max(s.started + s.p.restore_after - now, 0.0));
    }
    if (s.state == ShiftState::Running)
        j["next_step_in_s"] = round3(std::max(s.next_at - now, 0.0));
    if (s.state == ShiftState::Paused) j["next_step_in_s_after_resume"] = round3(s.paused_left);
    if (!s.reason.empty()) j["reason"] = s.reason;
    if (!s.warnings.empty()) j["warnings"] = s.warnings;
    if (s.in_fleet) j["fleet"] = true;
    return j;
}

namespace {

json selector_json(const Selector& sel) {
    json out = json::object();
    if (sel.address) out["address"] = sel.address->to_string();
    if (!sel.tags.empty()) out["tags"] = sel.tags;
    if (sel.location) out["location"] = *sel.location;
    if (sel.record) out["record"] = *sel.record;
    return out;
}

[[noreturn]] void bad_doc(const std::string& why) {
    throw std::runtime_error(why);
}

double number(const json& doc, const char* key, double lo, double hi) {
    auto it = doc.find(key);
    if (it == doc.end() || !it->is_number() || !(it->get<double>() >= lo) ||
        !(it->get<double>() <= hi))
        bad_doc(std::string("field '") + key + "' missing or out of range");
    return it->get<double>();
}

ShiftParams params_from(const json& doc) {
    ShiftParams p;
    auto sel = doc.find("selector");
    if (sel == doc.end() || !sel->is_object()) bad_doc("no selector");
    if (auto a = sel->find("address"); a != sel->end()) {
        std::optional<util::IpAddr> addr;
        if (a->is_string()) addr = util::IpAddr::parse(a->get<std::string>());
        if (!addr) bad_doc("bad selector address");
        p.selector.address = *addr;
    }
    if (auto t = sel->find("tags"); t != sel->end()) {
        if (!t->is_array()) bad_doc("bad selector tags");
        for (const auto& x : *t) {
            if (!x.is_string()) bad_doc("bad selector tags");
            p.selector.tags.push_back(x.get<std::string>());
        }
    }
    if (auto l = sel->find("location"); l != sel->end()) {
        if (!l->is_string()) bad_doc("bad selector location");
        p.selector.location = l->get<std::string>();
    }
    if (auto r = sel->find("record"); r != sel->end()) {
        if (!r->is_string()) bad_doc("bad selector record");
        p.selector.record = r->get<std::string>();
    }
    if (!p.selector.address && p.selector.tags.empty() && !p.selector.location &&
        !p.selector.record)
        bad_doc("empty selector");
    p.share = static_cast<std::uint32_t>(number(doc, "share", 1, 100));
    p.step = static_cast<std::uint32_t>(number(doc, "step", 1, 100));
    p.interval = number(doc, "interval", 0.001, 1e9);
    p.restore_after = number(doc, "restore_after", 0, 1e9);
    return p;
}

bool drill_over(const ShiftParams& p, const json& doc, double wall) {
    return p.restore_after > 0 && wall >= doc.value("started", 0.0) + p.restore_after;
}

}  // namespace

void ShiftBook::write_doc(Shift& s, double now, double wall) {
    if (wall < 0) wall = now;
    s.wall_off = now - wall;
    json d = {{"uid", s.uid},
              {"selector", selector_json(s.p.selector)},
              {"share", s.p.share},
              {"step", s.p.step},
              {"interval", s.p.interval},
              {"restore_after", s.p.restore_after},
              {"started", s.started - s.wall_off},
              {"steps", s.steps}};
    if (s.state == ShiftState::Paused) {
        d["state"] = "paused";
        d["paused_left"] = s.paused_left;
    } else {
        d["state"] = "running";  // holding is running with every step taken
        d["next_at"] = s.next_at - s.wall_off;
    }
    s.doc = std::move(d);
    outbox_.emplace_back(s.uid, s.doc.dump());
}

void ShiftBook::schedule_from(Shift& s, const json& doc, double now, double wall) {
    const double off = now - wall;  // steady = wall + off
    const ShiftParams p = params_from(doc);
    const std::uint32_t total = shift_steps(p);
    const double started = number(doc, "started", 0, 1e12);
    std::uint32_t steps = static_cast<std::uint32_t>(number(doc, "steps", 1, total));
    const std::string state = doc.value("state", "");
    ShiftState st = ShiftState::Running;
    double next_at = 0, paused_left = 0;
    if (state == "paused") {
        st = ShiftState::Paused;
        paused_left = number(doc, "paused_left", 0, 1e9);
    } else if (state == "running") {
        next_at = number(doc, "next_at", 0, 1e12) + off;
        // the steps whose time came meanwhile (a restart, a late watch event)
        while (now >= next_at && steps < total) {
            ++steps;
            next_at += p.interval;
        }
        if (steps >= total) st = ShiftState::Holding;
    } else {
        bad_doc("unknown state '" + state + "'");
    }
    s.p = p;
    s.started = started + off;
    s.steps = steps;
    s.state = st;
    s.next_at = next_at;
    s.paused_left = paused_left;
    s.wall_off = off;
    s.doc = doc;
    s.doc.erase("in_fleet");
}

ShiftBook::Shift* ShiftBook::install(const json& doc,
                                     const std::shared_ptr<const gslb::Topology>& topo, double now,
                                     double wall, std::vector<std::string>& log) {
    Shift s;
    schedule_from(s, doc, now, wall);  // throws for a document that does not read
    auto uid = doc.find("uid");
    if (uid == doc.end() || !uid->is_string() || uid->get<std::string>().empty()) bad_doc("no uid");
    s.uid = uid->get<std::string>();
    s.id = next_id_++;
    s.topo = topo;
    Segment seg;
    seg.step = s.steps;
    seg.moved = shift_moved(s.steps, s.p);
    seg.state = s.state;
    seg.from = now;
    s.segments.push_back(std::move(seg));
    if (!resolve(s, *topo)) {
        log.push_back("shift " + s.uid + ": no backend of this configuration matches " +
                      s.p.selector.describe() + ": not taken");
        return nullptr;
    }
    shifts_.push_back(std::move(s));
    Shift& in = shifts_.back();
    sample(in);  // baseline
    log.push_back("shift " + std::to_string(in.id) + " (" + in.uid + "): " +
                  in.p.selector.describe() + ", " + std::string(to_string(in.state)) + " at step " +
                  std::to_string(in.steps) + " of " + std::to_string(shift_steps(in.p)) + " (" +
                  std::to_string(shift_moved(in.steps, in.p)) + " % moved)");
    return &in;
}

json ShiftBook::durable() const {
    json out = json::array();
    for (const auto& s : shifts_) {
        if (!s.live() || s.doc.is_null()) continue;
        json d = s.doc;
        d["in_fleet"] = s.in_fleet;
        out.push_back(std::move(d));
    }
    return out;
}

std::vector<std::string> ShiftBook::restore(const json& list,
                                            const std::shared_ptr<const gslb::Topology>& topo,
                                            double now, double wall) {
    std::vector<std::string> log;
    if (!list.is_array()) return {"shifts: not a list; none restored"};
    std::size_t i = 0;
    for (const auto& doc : list) {
        const std::string where = "shifts[" + std::to_string(i++) + "]";
        try {
            if (!doc.is_object()) bad_doc("not an object");
            const ShiftParams p = params_from(doc);
            if (drill_over(p, doc, wall)) {
                log.push_back(where +
                              ": a drill whose restore time passed while gslbd was "
                              "down: restored (" +
                              p.selector.describe() + ")");
                const std::string uid = doc.value("uid", "");
                if (!uid.empty()) outbox_.emplace_back(uid, std::nullopt);
                continue;
            }
            Shift* s = install(doc, topo, now, wall, log);
            if (s == nullptr) continue;
            s->in_fleet = doc.value("in_fleet", false);
            // started while the fleet could not take it: offer it again
            if (s->live() && !s->in_fleet) outbox_.emplace_back(s->uid, s->doc.dump());
        } catch (const std::exception& e) {
            log.push_back(where + ": skipped, it does not read: " + e.what());
        }
    }
    trim();
    return log;
}

bool ShiftBook::adopt(const std::map<std::string, std::string>& fleet,
                      const std::shared_ptr<const gslb::Topology>& topo, double now, double wall,
                      std::vector<std::string>& log) {
    bool changed = false;
    for (const auto& [uid, text] : fleet) {
        const json doc = json::parse(text, nullptr, false);
        try {
            if (doc.is_discarded() || !doc.is_object()) bad_doc("not a JSON object");
            json plain = doc;
            plain.erase("in_fleet");
            Shift* mine = nullptr;
            for (auto& s : shifts_)
                if (s.uid == uid) mine = &s;
            if (mine != nullptr) {
                mine->in_fleet = true;
                if (!mine->live() || mine->doc == plain) continue;
                if (drill_over(params_from(plain), plain, wall)) {
                    finish(*mine, ShiftState::Restored, "the drill's time is over", now);
                } else {
                    const ShiftState was = mine->state;
                    schedule_from(*mine, plain, now, wall);
                    boundary(*mine, now);
                    log.push_back("shift " + std::to_string(mine->id) + ": " +
                                  std::string(to_string(was)) + " -> " +
                                  std::string(to_string(mine->state)) + " (the fleet)");
                }
                changed = true;
                continue;
            }
            if (drill_over(params_from(plain), plain, wall)) continue;
            if (Shift* s = install(plain, topo, now, wall, log); s != nullptr) {
                s->in_fleet = true;
                s->uid = uid;
                changed = true;
            }
        } catch (const std::exception& e) {
            log.push_back("fleet shift " + uid + ": ignored, it does not read: " + e.what());
        }
    }
    for (auto& s : shifts_) {
        if (!s.live() || !s.in_fleet || fleet.count(s.uid) != 0) continue;
        finish(s, ShiftState::Aborted, "aborted on another node of the fleet", now);
        log.push_back("shift " + std::to_string(s.id) + ": aborted on another node of the fleet");
        changed = true;
    }
    trim();
    return changed;
}

std::vector<std::pair<std::string, std::optional<std::string>>> ShiftBook::take_outbox() {
    return std::exchange(outbox_, {});
}

std::string ShiftBook::uid(std::uint64_t id) const {
    for (const auto& s : shifts_)
        if (s.id == id) return s.uid;
    return "";
}

json ShiftBook::to_json(double now) {
    json list = json::array();
    for (auto& s : shifts_) list.push_back(shift_json(s, now));
    return {{"shifts", std::move(list)}};
}

json ShiftBook::to_json(std::uint64_t id, double now) {
    return shift_json(find(id), now);
}

}  // namespace gslbd::ctl
