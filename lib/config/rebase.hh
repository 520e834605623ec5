#pragma once
// Positions of the records a reload reuses (zone.cc's two ways of reading a file): a record
// whose lines moved, or whose inherited blocks (`defaults`, profiles) moved, is copied with
// every position rebased; its health checks copy on write (a published HealthCheck is never
// changed). Internal to lib/config.
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/yaml_util.hh"

namespace gslbd::config::detail {

// Old inherited positions -> new ones (only those that changed), by line and column first.
class PosMap {
  public:
    void add(const SourcePos& from, const SourcePos& to) {
        auto& slot = map_[key(from)];
        for (const auto& [f, t] : slot)
            if (f.file.str() == from.file.str()) {
                // two nodes at one place (cannot happen in one parse): not a map to trust
                if (t.file.str() != to.file.str() || t.line != to.line || t.column != to.column)
                    ambiguous_ = true;
                return;
            }
        slot.emplace_back(from, to);
    }
    bool empty() const noexcept { return map_.empty(); }
    bool ambiguous() const noexcept { return ambiguous_; }
    const SourcePos* find(const SourcePos& p) const {
        if (map_.empty() || p.line == 0) return nullptr;
        auto it = map_.find(key(p));
        if (it == map_.end()) return nullptr;
        for (const auto& [f, t] : it->second)
            if (f.file.str() == p.file.str()) return &t;
        return nullptr;
    }

  private:
    static std::uint64_t key(const SourcePos& p) noexcept {
        return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(p.line)) << 32) |
               static_cast<std::uint32_t>(p.column);
    }
    std::unordered_map<std::uint64_t, std::vector<std::pair<SourcePos, SourcePos>>> map_;
    bool ambiguous_ = false;
};

// How the previous load's records map onto this load's scope. `usable` false: the previous
// list does not say where its inherited positions were, or the shapes differ (then the record
// hashes differ too, as they include the content): nothing is reused.
struct ScopeMap {
    bool usable = false;
    PosMap map;  ///< empty when nothing inherited moved
};

ScopeMap map_scope(const Reuse& reuse, const std::vector<SourcePos>& now);

// The health checks of the records one file read moves (Rebase). A check without raw_params
// keeps its content (shared, no position) and gets the new position in its CheckRef. One with
// raw_params holds its positions: it becomes a new HealthCheck (the old one stays as it is:
// the previous configuration, and records not moved, still hold it), interned with the
// file's other checks so that moved backends still share.
struct MovedChecks {
    CheckInterner& interner;
    /// Checks whose positions are all inherited (profiles): they move the same way in every
    /// record, so the old object maps to one new object (the old ones live as long as the
    /// previous records, which outlive this read).
    std::unordered_map<const HealthCheck*, CheckRef> inherited{};
};

// Every position of a reused record, old to new: those inside the record's own lines
// [lo, hi] (1-based) of `file` move by `delta`; inherited ones (`defaults`, profiles: other
// lines or files) go where `map` says they are now.
struct Rebase {
    const std::string& file;
    int lo, hi, delta;
    const PosMap& map;
    MovedChecks& checks;
    bool own(const SourcePos& p) const {
        return p.line >= lo && p.line <= hi && p.file.str() == file;
    }
    bool moves(const SourcePos& p) const { return own(p) ? delta != 0 : map.find(p) != nullptr; }
    void operator()(SourcePos& p) const {
        if (own(p)) {
            p.line += delta;
        } else if (const SourcePos* to = map.find(p)) {
            p = *to;
        }
    }
    // Copy on write: a published HealthCheck is never changed.
    void operator()(CheckRef& hc) const;
    void operator()(Backend& b) const {
        (*this)(b.pos);
        for (auto& hc : b.healthchecks) (*this)(hc);
    }
    void operator()(Gradual& g) const {
        (*this)(g.scoring.pos);
        (*this)(g.slow_start.pos);
        (*this)(g.damping.pos);
        (*this)(g.ttl.pos);
    }
    // Would anything of `r` change? (Own lines do when delta != 0.)
    bool touches(const Record& r) const;
};

// A copy of `old` with its positions rebased (see Rebase); `line`: where its key is now
// (0-based).
std::shared_ptr<Record> rebased(const Record& old, const Rebase& rebase, std::uint32_t line);

}  // namespace gslbd::config::detail
