#include "cluster/votes.hh"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace gslbd::cluster {

bool valid_node_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > 63) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
    });
}

Keys::Keys(std::string_view p) : prefix(p) {
    if (prefix.empty() || prefix.back() != '/') prefix.push_back('/');
}

std::string Keys::vote(std::string_view target, std::string_view node) const {
    std::string k = votes();
    k.append(target);
    k.push_back('/');
    k.append(node);
    return k;
}

Keys::Parsed Keys::parse(std::string_view key) const noexcept {
    Parsed p;
    if (key.substr(0, prefix.size()) != prefix) return p;
    std::string_view rest = key.substr(prefix.size());
    auto strip = [&](std::string_view dir) {
        if (rest.substr(0, dir.size()) != dir) return false;
        rest.remove_prefix(dir.size());
        return !rest.empty();
    };
    if (strip("nodes/")) {
        if (rest.find('/') != std::string_view::npos) return p;
        p.kind = Kind::Node;
        p.name = rest;
    } else if (strip("votes/")) {
        // the target may contain '/', the node name never does
        const auto slash = rest.rfind('/');
        if (slash == std::string_view::npos || slash == 0 || slash + 1 == rest.size()) return p;
        p.kind = Kind::Vote;
        p.target = rest.substr(0, slash);
        p.name = rest.substr(slash + 1);
    } else if (strip("overrides/")) {
        p.kind = Kind::Override;
        p.name = rest;
    }
    return p;
}

std::string NodeInfo::to_json() const {
    nlohmann::json j = {{"name", name},
                        {"role", std::string(cluster::to_string(role))},
                        {"labels", labels},
                        {"version", version},
                        {"config_digest", config_digest},
                        {"generation", generation},
                        {"degraded", degraded}};
    return j.dump();
}

std::optional<NodeInfo> NodeInfo::from_json(std::string_view text) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    NodeInfo n;
    try {
        n.name = j.value("name", "");
        n.role = j.value("role", "probe") == "passive" ? Role::Passive : Role::Probe;
        if (auto it = j.find("labels"); it != j.end() && it->is_object())
            n.labels = it->get<std::map<std::string, std::string>>();
        n.version = j.value("version", "");
        n.config_digest = j.value("config_digest", "");
        n.generation = j.value("generation", std::uint64_t{0});
        n.degraded = j.value("degraded", false);
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;
    }
    return n;
}

std::uint32_t VoteBook::intern(std::string_view node) {
    auto it = name_ids_.find(std::string(node));
    if (it != name_ids_.end()) return it->second;
    const auto id = static_cast<std::uint32_t>(names_.size());
    names_.emplace_back(node);
    name_ids_.emplace(std::string(node), id);
    return id;
}

void VoteBook::all_dirty() {
    for (const auto& [t, _] : votes_) dirty_.insert(t);
}

void VoteBook::clear() {
    all_dirty();
    members_.clear();
    votes_.clear();
    vote_count_ = 0;
    ++membership_epoch_;
}

bool VoteBook::put(std::string_view key, std::string_view value, std::int64_t lease) {
    const auto p = keys_.parse(key);
    if (p.kind == Keys::Kind::Node) {
        auto info = NodeInfo::from_json(value);
        if (!info) info = NodeInfo{};  // unreadable record: a member without details
        info->name = std::string(p.name);
        auto it = members_.find(p.name);
        const bool changed =
            it == members_.end() || it->second.lease != lease || it->second.info.role != info->role;
        members_[std::string(p.name)] = Member{std::move(*info), lease};
        if (changed) {
            ++membership_epoch_;
            all_dirty();
        }
        return true;
    }
    if (p.kind != Keys::Kind::Vote) return false;
    const std::uint32_t node = intern(p.name);
    const bool up = value == "up";
    std::string target(p.target);
    auto& list = votes_[target];
    auto it = std::find_if(list.begin(), list.end(), [&](const Vote& v) { return v.node == node; });
    if (it == list.end()) {
        list.push_back(Vote{node, up, lease});
        ++vote_count_;
    } else {
        it->up = up;
        it->lease = lease;
    }
    dirty_.insert(std::move(target));
    return true;
}

bool VoteBook::erase(std::string_view key) {
    const auto p = keys_.parse(key);
    if (p.kind == Keys::Kind::Node) {
        if (auto it = members_.find(p.name); it != members_.end()) {
            members_.erase(it);
            ++membership_epoch_;
            all_dirty();
        }
        return true;
    }
    if (p.kind != Keys::Kind::Vote) return false;
    auto id = name_ids_.find(std::string(p.name));
    auto vit = votes_.find(std::string(p.target));
    if (id == name_ids_.end() || vit == votes_.end()) return true;
    auto& list = vit->second;
    auto it =
        std::find_if(list.begin(), list.end(), [&](const Vote& v) { return v.node == id->second; });
    if (it != list.end()) {
        list.erase(it);
        --vote_count_;
    }
    dirty_.insert(vit->first);
    if (list.empty()) votes_.erase(vit);
    return true;
}

bool VoteBook::fresh(const Vote& v) const {
    auto m = members_.find(names_[v.node]);
    return m != members_.end() && m->second.lease == v.lease && m->second.info.role == Role::Probe;
}

std::vector<std::string> VoteBook::probing_members() const {
    std::vector<std::string> out;
    for (const auto& [name, m] : members_)
        if (m.info.role == Role::Probe) out.push_back(name);
    return out;  // std::map: already sorted by name
}

Tally VoteBook::tally(std::string_view target) const {
    Tally t;
    auto it = votes_.find(std::string(target));
    if (it == votes_.end()) return t;
    for (const auto& v : it->second) {
        if (!fresh(v))
            ++t.stale;
        else if (v.up)
            ++t.up;
        else
            ++t.down;
    }
    return t;
}

std::vector<VoteBook::VoteView> VoteBook::votes(std::string_view target) const {
    std::vector<VoteView> out;
    auto it = votes_.find(std::string(target));
    if (it == votes_.end()) return out;
    for (const auto& v : it->second) out.push_back({names_[v.node], v.up, fresh(v)});
    std::sort(out.begin(), out.end(),
              [](const VoteView& a, const VoteView& b) { return a.node < b.node; });
    return out;
}

std::vector<std::string> VoteBook::take_dirty() {
    std::vector<std::string> out(dirty_.begin(), dirty_.end());
    dirty_.clear();
    return out;
}

std::vector<std::string> VoteBook::targets() const {
    std::vector<std::string> out;
    out.reserve(votes_.size());
    for (const auto& [t, _] : votes_) out.push_back(t);
    return out;
}

}  // namespace gslbd::cluster
