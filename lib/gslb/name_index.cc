#include "gslb/name_index.hh"

#include <bit>
#include <cstring>

namespace gslbd::gslb {

void NameIndex::reserve(std::size_t names, std::size_t bytes) {
    // At most half full: a miss (a name we do not know) ends at an empty slot soon.
    const std::size_t cap = std::bit_ceil(names * 2 < 8 ? std::size_t{8} : names * 2);
    t_ = std::make_shared<Table>();
    t_->slots.assign(cap, Slot{});
    t_->arena.reserve(bytes);
    mask_ = cap - 1;
    size_ = 0;
    point();
}

NameIndex::Table& NameIndex::own() {
    if (t_ == nullptr) {
        t_ = std::make_shared<Table>();
    } else if (t_.use_count() > 1) {
        t_ = std::make_shared<Table>(*t_);
    }
    point();
    return *t_;
}

bool NameIndex::insert(const std::uint8_t* lname, std::size_t len, std::uint64_t hash,
                       const NameInfo& info) {
    if (len == 0 || len > 255) return false;
    Table& t = own();
    if (t.slots.empty() || (size_ + 1) * 2 > t.slots.size()) reserve_more();
    std::size_t i = hash & mask_;
    for (; t.slots[i].len != 0; i = (i + 1) & mask_) {
        const Slot& s = t.slots[i];
        if (s.hash == hash && s.len == len && dns::same_bytes(t.arena.data() + s.name, lname, len))
            return false;
    }
    Slot& s = t.slots[i];
    s.hash = hash;
    s.name = static_cast<std::uint32_t>(t.arena.size());
    s.len = static_cast<std::uint8_t>(len);
    s.info = info;
    t.arena.insert(t.arena.end(), lname, lname + len);
    ++size_;
    point();
    return true;
}

void NameIndex::reserve_more() {
    Table& t = own();
    std::vector<Slot> old;
    old.swap(t.slots);
    const std::size_t cap = old.empty() ? 8 : old.size() * 2;
    t.slots.assign(cap, Slot{});
    mask_ = cap - 1;
    for (const Slot& s : old) {
        if (s.len == 0) continue;
        std::size_t i = s.hash & mask_;
        while (t.slots[i].len != 0) i = (i + 1) & mask_;
        t.slots[i] = s;
    }
    point();
}

}  // namespace gslbd::gslb
