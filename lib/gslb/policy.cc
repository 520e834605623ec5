#include "gslb/policy.hh"

#include <functional>
#include <map>

namespace gslbd::gslb {

namespace {

using Registry = std::map<std::string, std::unique_ptr<Policy>, std::less<>>;

// Function-local static: policies register from static initialisers in other translation
// units, whose order relative to this one is unspecified.
Registry& registry() {
    static Registry r;
    return r;
}

}  // namespace

bool register_policy(std::string_view name, PolicyFactory factory) {
    auto& r = registry();
    if (factory == nullptr || r.find(name) != r.end()) return false;  // first one wins
    r.emplace(std::string(name), factory());
    return true;
}

const Policy* find_policy(std::string_view name) noexcept {
    const auto& r = registry();
    auto it = r.find(name);
    return it == r.end() ? nullptr : it->second.get();
}

std::vector<std::string> policy_names() {
    std::vector<std::string> names;
    names.reserve(registry().size());
    for (const auto& [name, policy] : registry()) names.push_back(name);
    return names;
}

void WorkerState::prepare(const Topology& topo) {
    const std::size_t want = topo.records.size() * 2;
    // The size check guards against a new topology allocated at a freed one's address.
    if (prepared_for == &topo && rr.size() == want) return;
    rr.resize(want);
    // Random start so that workers (and reloads) do not all begin with the first backend.
    for (auto& cursor : rr) cursor = static_cast<std::uint32_t>(rng.next());
    prepared_for = &topo;
}

}  // namespace gslbd::gslb
