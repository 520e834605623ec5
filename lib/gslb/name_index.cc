#include "gslb/name_index.hh"

#include <bit>
#include <cstring>

namespace gslbd::gslb {

void NameIndex::reserve(std::size_t names) {
    // At most half full: a miss (a name we do not know) ends at an empty slot soon.
    const std::size_t cap = std::bit_ceil(names * 2 < 8 ? std::size_t{8} : names * 2);
    slots_.assign(cap, Slot{});
    arena_.clear();
    mask_ = cap - 1;
    size_ = 0;
}

bool NameIndex::insert(const std::uint8_t* lname, std::size_t len, std::uint64_t hash,
                       const NameInfo& info) {
    if (len == 0 || len > 255) return false;
    if (slots_.empty() || (size_ + 1) * 2 > slots_.size()) reserve_more();
    std::size_t i = hash & mask_;
    for (; slots_[i].len != 0; i = (i + 1) & mask_) {
        const Slot& s = slots_[i];
        if (s.hash == hash && s.len == len && dns::same_bytes(arena_.data() + s.name, lname, len))
            return false;
    }
    Slot& s = slots_[i];
    s.hash = hash;
    s.name = static_cast<std::uint32_t>(arena_.size());
    s.len = static_cast<std::uint8_t>(len);
    s.info = info;
    arena_.insert(arena_.end(), lname, lname + len);
    ++size_;
    return true;
}

void NameIndex::reserve_more() {
    std::vector<Slot> old;
    old.swap(slots_);
    const std::size_t cap = old.empty() ? 8 : old.size() * 2;
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
    for (const Slot& s : old) {
        if (s.len == 0) continue;
        std::size_t i = s.hash & mask_;
        while (slots_[i].len != 0) i = (i + 1) & mask_;
        slots_[i] = s;
    }
}

}  // namespace gslbd::gslb
