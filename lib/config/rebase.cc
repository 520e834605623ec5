#include "config/rebase.hh"

namespace gslbd::config::detail {

ScopeMap map_scope(const Reuse& reuse, const std::vector<SourcePos>& now) {
    ScopeMap m;
    if (reuse.records == nullptr || reuse.records->scope_positions() == nullptr) return m;
    const auto& before = *reuse.records->scope_positions();
    if (before.size() != now.size()) return m;
    for (std::size_t i = 0; i < now.size(); ++i) {
        const SourcePos &a = before[i], &b = now[i];
        if (a.line == b.line && a.column == b.column && a.file.str() == b.file.str()) continue;
        if (a.line == 0) return m;  // a block that was not there is there now: not the same
        m.map.add(a, b);
    }
    m.usable = !m.map.ambiguous();
    return m;
}

// Copy on write: a published HealthCheck is never changed.
void Rebase::operator()(CheckRef& hc) const {
    if (hc->raw_params.empty()) {
        if (!moves(hc.pos())) return;
        SourcePos p = hc.pos();
        (*this)(p);
        hc = CheckRef(hc.body(), std::move(p));
        return;
    }
    bool moved = moves(hc->pos), owned = own(hc->pos);
    for (const auto& rp : hc->raw_params) {
        moved = moved || moves(rp.pos);
        owned = owned || own(rp.pos);
    }
    if (!moved) return;
    if (!owned)
        if (auto it = checks.inherited.find(hc.body().get()); it != checks.inherited.end()) {
            hc = it->second;
            return;
        }
    HealthCheck c = *hc;
    (*this)(c.pos);
    for (auto& rp : c.raw_params) (*this)(rp.pos);
    CheckRef now = checks.interner.intern(std::move(c));
    if (!owned) checks.inherited.emplace(hc.body().get(), now);
    hc = std::move(now);
}

// Would anything of `r` change? (Own lines do when delta != 0.)
bool Rebase::touches(const Record& r) const {
    if (delta != 0) return true;
    if (map.empty()) return false;
    auto inherited = [&](const SourcePos& p) { return !own(p) && map.find(p) != nullptr; };
    auto check = [&](const CheckRef& hc) {
        if (inherited(hc.pos())) return true;
        for (const auto& rp : hc->raw_params)
            if (inherited(rp.pos)) return true;
        return false;
    };
    auto backend = [&](const Backend& b) {
        if (inherited(b.pos)) return true;
        for (const auto& hc : b.healthchecks)
            if (check(hc)) return true;
        return false;
    };
    const Gradual& g = r.gradual;
    if (inherited(g.scoring.pos) || inherited(g.slow_start.pos) || inherited(g.damping.pos) ||
        inherited(g.ttl.pos))
        return true;
    for (const auto& b : r.backends)
        if (backend(b)) return true;
    if (r.discovery != nullptr &&
        (inherited(r.discovery->pos) ||
         (r.discovery->defaults != nullptr && backend(*r.discovery->defaults))))
        return true;
    return false;
}

std::shared_ptr<Record> rebased(const Record& old, const Rebase& rebase, std::uint32_t line) {
    auto r = std::make_shared<Record>(old);
    rebase(r->pos);
    if (r->geo_priority_line >= rebase.lo && r->geo_priority_line <= rebase.hi)
        r->geo_priority_line += rebase.delta;  // in the record's own lines by construction
    rebase(r->gradual);
    for (auto& b : r->backends) rebase(b);
    if (r->discovery != nullptr) {
        auto d = std::make_shared<Discovery>(*r->discovery);
        rebase(d->pos);
        if (d->defaults != nullptr) {
            auto b = std::make_shared<Backend>(*d->defaults);
            rebase(*b);
            d->defaults = std::move(b);
        }
        r->discovery = std::move(d);
    }
    r->chunk_line = line;
    return r;
}

}  // namespace gslbd::config::detail
