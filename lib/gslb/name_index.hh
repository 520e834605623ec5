#pragma once
/// Every name a topology knows (zone apexes, records, in-zone NS names with glue, empty
/// non-terminals) in one flat open-addressing table, keyed by the lower-case wire name and
/// its dns::name_hash(): one probe tells the engine the zone that answers for the name and
/// what the name is there. Built once per topology on the control side; read-only after.
/// Copies share the table (a reload whose names did not change keeps the previous one).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "dns/query.hh"

namespace gslbd::gslb {

/// What one name is, in the zone that answers for it (the longest zone containing it).
struct NameInfo {
    std::uint32_t zone = 0;    ///< index into Topology::zones
    std::int32_t record = -1;  ///< index into Topology::records, -1: no GSLB record here
    std::int32_t ns = -1;      ///< index into the zone's ns (in-zone NS with glue), -1: none
    bool apex = false;         ///< the name is the zone's own name
    bool ent = false;          ///< an empty non-terminal of the zone
};

class NameIndex {
  public:
    NameIndex() = default;
    /// A copy shares the table (immutable once built; insert() copies a shared table first).
    NameIndex(const NameIndex&) = default;
    NameIndex& operator=(const NameIndex&) = default;
    NameIndex(NameIndex&& o) noexcept { *this = std::move(o); }
    NameIndex& operator=(NameIndex&& o) noexcept {
        if (this != &o) {
            t_ = std::move(o.t_);
            slots_ = o.slots_;
            arena_ = o.arena_;
            mask_ = o.mask_;
            size_ = o.size_;
            o.slots_ = nullptr;
            o.arena_ = nullptr;
            o.mask_ = o.size_ = 0;
        }
        return *this;
    }

    /// Starts a new table (a copy keeps the old one) sized for `names` entries (kept at most
    /// half full) of `bytes` bytes of names together. Control side; allocates.
    void reserve(std::size_t names, std::size_t bytes = 0);
    /// Adds `lname` (lower-case wire, 1..255 bytes; `hash` its dns::name_hash(), or any
    /// value: tests use colliding ones). False (nothing changed) when the name is in
    /// already. Grows the table when it would be more than half full. Control side.
    bool insert(const std::uint8_t* lname, std::size_t len, std::uint64_t hash,
                const NameInfo& info);

    /// The entry for `lname` (lower-case wire, `len` bytes) with hash `hash`, or nullptr.
    /// A hash match is confirmed by comparing the whole name.
    const NameInfo* find(const std::uint8_t* lname, std::size_t len,
                         std::uint64_t hash) const noexcept {
        if (mask_ == 0) return nullptr;
        for (std::size_t i = hash & mask_;; i = (i + 1) & mask_) {
            const Slot& s = slots_[i];
            if (s.len == 0) return nullptr;
            if (s.hash == hash && s.len == len && dns::same_bytes(arena_ + s.name, lname, len))
                return &s.info;
        }
    }

    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    /// Slots in the table (a power of two, or 0 before reserve()).
    std::size_t capacity() const noexcept { return t_ != nullptr ? t_->slots.size() : 0; }
    /// True when both use the same table (shared between topologies).
    bool shares(const NameIndex& o) const noexcept { return t_ != nullptr && t_ == o.t_; }

  private:
    struct Slot {
        std::uint64_t hash = 0;
        std::uint32_t name = 0;  ///< offset into arena_
        std::uint8_t len = 0;    ///< 0 = empty slot (a wire name has at least one byte)
        NameInfo info;
    };
    struct Table {
        std::vector<Slot> slots;
        std::vector<std::uint8_t> arena;
    };
    void reserve_more();
    /// The table to write: a copy when another index shares it.
    Table& own();
    void point() noexcept {
        slots_ = t_ != nullptr ? t_->slots.data() : nullptr;
        arena_ = t_ != nullptr ? t_->arena.data() : nullptr;
    }

    std::shared_ptr<Table> t_;
    // find()'s view of *t_ (as a vector's data pointer: the sharing costs the lookup nothing)
    const Slot* slots_ = nullptr;
    const std::uint8_t* arena_ = nullptr;
    std::size_t mask_ = 0;
    std::size_t size_ = 0;
};

}  // namespace gslbd::gslb
