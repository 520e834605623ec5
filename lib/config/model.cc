#include "config/model.hh"

#include <algorithm>
#include <functional>
#include <unordered_set>

#include "util/hash.hh"

namespace gslbd::config {

std::string SourcePos::to_string() const {
    std::string s = file.empty() ? std::string("<config>") : file.str();
    if (line > 0) {
        s += ":" + std::to_string(line);
        if (column > 0) s += ":" + std::to_string(column);
    }
    return s;
}

ConfigError::ConfigError(const SourcePos& pos, const std::string& field, const std::string& problem)
    : std::runtime_error(pos.to_string() + ": " + (field.empty() ? "" : field + ": ") + problem),
      pos_(pos),
      field_(field) {}

namespace {

// Enough of a check to tell most unequal ones apart (equality compares all of it).
std::uint64_t check_hash(const HealthCheck& hc) noexcept {
    const std::hash<std::string_view> h;
    std::uint64_t x = h(hc.type) ^ h(hc.pos.file.str());
    x = util::mix64(x ^
                    ((static_cast<std::uint64_t>(static_cast<std::uint32_t>(hc.pos.line)) << 32) |
                     static_cast<std::uint32_t>(hc.pos.column)));
    x = util::mix64(x ^ static_cast<std::uint64_t>(static_cast<std::uint32_t>(hc.port)) ^
                    (static_cast<std::uint64_t>(hc.timeout.count()) << 20));
    return util::mix64(x ^ h(hc.uri) ^ h(hc.query_name) ^ hc.raw_params.size());
}

}  // namespace

CheckRef CheckInterner::intern(HealthCheck&& hc) {
    SourcePos at = hc.pos;
    if (hc.raw_params.empty()) hc.pos = SourcePos{};  // shared wherever it is written
    const std::uint64_t key = check_hash(hc);
    auto [first, last] = by_hash_.equal_range(key);
    for (auto it = first; it != last; ++it)
        if (*it->second == hc) return CheckRef(it->second, std::move(at));
    auto body = std::make_shared<const HealthCheck>(std::move(hc));
    by_hash_.emplace(key, body);
    return CheckRef(std::move(body), std::move(at));
}

Record& RecordList::edit(std::size_t i) {
    std::shared_ptr<Record>& p = items_.at(i);
    // another list (the configuration in force, a reload's candidate) holds it too: copy on
    // write. A count read as 2 while the other holder lets go only costs a needless copy.
    if (p.use_count() > 1) p = std::make_shared<Record>(*p);
    return *p;
}

void RecordList::resize(std::size_t n) {
    const std::size_t old = items_.size();
    items_.resize(n);
    for (std::size_t i = old; i < n; ++i) items_[i] = std::make_shared<Record>();
}

std::size_t RecordList::shared_with(const RecordList& other) const {
    // Records mostly keep their positions: compared there first, and a set is made only of
    // the others' records not found that way (none when records changed in place).
    const std::size_t m = std::min(items_.size(), other.items_.size());
    std::size_t n = 0, rest = 0;
    for (std::size_t i = 0; i < m; ++i) {
        if (items_[i] == other.items_[i])
            ++n;
        else
            ++rest;
    }
    // the longer list's tail can match only the other's unmatched records: none
    if (rest == 0) return n;
    std::unordered_set<const Record*> theirs;
    for (std::size_t i = 0; i < other.items_.size(); ++i)
        if (i >= m || items_[i] != other.items_[i]) theirs.insert(other.items_[i].get());
    for (std::size_t i = 0; i < items_.size(); ++i)
        if (i >= m || items_[i] != other.items_[i]) n += theirs.count(items_[i].get());
    return n;
}

}  // namespace gslbd::config
