#include "config/model.hh"

#include <algorithm>
#include <unordered_set>

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
