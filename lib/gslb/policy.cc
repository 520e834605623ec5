#include "gslb/policy.hh"

#include <functional>
#include <map>

namespace gslbd::gslb {

namespace {

struct Registry {
    std::map<std::string, std::unique_ptr<Policy>, std::less<>> by_name;
    /// lower-case name or alias -> the instance (names are in here too)
    std::map<std::string, const Policy*, std::less<>> by_spelling;
};

// Function-local static: policies register from static initialisers in other translation
// units, whose order relative to this one is unspecified.
Registry& registry() {
    static Registry r;
    return r;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

}  // namespace

bool register_policy(std::string_view name, PolicyFactory factory,
                     std::initializer_list<std::string_view> aliases) {
    auto& r = registry();
    if (factory == nullptr || r.by_name.find(name) != r.by_name.end()) return false;  // first wins
    const Policy* p = r.by_name.emplace(std::string(name), factory()).first->second.get();
    r.by_spelling.emplace(lower(name), p);
    for (std::string_view a : aliases) r.by_spelling.emplace(lower(a), p);  // taken: kept
    return true;
}

const Policy* find_policy(std::string_view name) noexcept {
    const auto& r = registry().by_name;
    auto it = r.find(name);
    return it == r.end() ? nullptr : it->second.get();
}

const Policy* resolve_policy(std::string_view written) {
    const auto& r = registry().by_spelling;
    auto it = r.find(lower(written));
    return it == r.end() ? nullptr : it->second;
}

std::vector<std::string> policy_names() {
    std::vector<std::string> names;
    names.reserve(registry().by_name.size());
    for (const auto& [name, policy] : registry().by_name) names.push_back(name);
    return names;
}

void WorkerState::enable_decision_memo() {
    if (decisions == nullptr) decisions.reset(new DecisionMemo);
}

void WorkerState::prepare(const Topology& topo) {
    if (ready(topo)) return;
    if (places == nullptr && topo.geo != nullptr && topo.geo->city_db != nullptr)
        places.reset(new geo::PlaceMemo(kPlaceMemoSlots));
    words_.resize(topo.state_words);
    for (auto& w : words_) w = rng.next();
    prepared_for_ = &topo;
}

}  // namespace gslbd::gslb
