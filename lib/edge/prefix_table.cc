#include "edge/prefix_table.hh"

#include <algorithm>
#include <bit>

#include "util/hash.hh"
#include "util/random.hh"

namespace gslbd::edge {

namespace {

inline std::uint64_t be64(const std::uint8_t* p) noexcept {
    std::uint64_t v;
    __builtin_memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

inline std::uint64_t keep_high(std::uint64_t w, unsigned bits) noexcept {
    return bits == 0 ? 0 : (bits >= 64 ? w : w & ~(~std::uint64_t{0} >> bits));
}

// Sets the bits of `lead` for every value of the first `bits` address bits that `p` covers.
template <std::size_t N>
void mark_lead(std::array<std::uint64_t, N>& lead, unsigned bits, const util::IpPrefix& p) {
    const unsigned first = static_cast<unsigned>(be64(p.addr.bytes.data()) >> (64 - bits));
    const unsigned span = p.len >= bits ? 1u : 1u << (bits - p.len);
    for (unsigned v = first & ~(span - 1); v < (first & ~(span - 1)) + span; ++v)
        lead[v >> 6] |= std::uint64_t{1} << (v & 63);
}

template <std::size_t N>
inline bool has_lead(const std::array<std::uint64_t, N>& lead, unsigned v) noexcept {
    return (lead[v >> 6] >> (v & 63) & 1) != 0;
}

inline std::uint64_t slot_hash(std::uint64_t seed, std::uint64_t hi, std::uint64_t lo,
                               unsigned len) noexcept {
    return util::mix64(seed ^ util::mix64(hi ^ len) ^ (lo * 0x9e3779b97f4a7c15ull));
}

}  // namespace

void PrefixTable::add(const util::IpPrefix& prefix, std::uint8_t value) {
    for (std::size_t i = 0; i < pending_.size(); ++i) {
        if (pending_[i] == prefix) {
            pending_values_[i] = value;
            return;
        }
    }
    pending_.push_back(prefix);
    pending_values_.push_back(value);
}

void PrefixTable::freeze() {
    v4_lens_.clear();
    v6_lens_.clear();
    v4_lead_ = {};
    v6_lead_ = {};
    for (const auto& p : pending_) {
        auto& lens = p.addr.family == 4 ? v4_lens_ : v6_lens_;
        if (std::find(lens.begin(), lens.end(), p.len) == lens.end()) lens.push_back(p.len);
        if (p.addr.family == 4)
            mark_lead(v4_lead_, 8, p);
        else
            mark_lead(v6_lead_, 12, p);
    }
    std::sort(v4_lens_.rbegin(), v4_lens_.rend());
    std::sort(v6_lens_.rbegin(), v6_lens_.rend());
    const std::size_t size = std::bit_ceil(std::max<std::size_t>(8, pending_.size() * 2));
    slots_.assign(size, Slot{});
    mask_ = size - 1;
    seed_ = util::random_seed();
    for (std::size_t i = 0; i < pending_.size(); ++i) {
        const util::IpPrefix& p = pending_[i];
        Slot s;
        s.len = p.len;
        s.family = p.addr.family;
        if (p.addr.family == 4) {
            s.lo = keep_high(be64(p.addr.bytes.data()) & 0xffffffff00000000ull, p.len);
        } else {
            s.hi = keep_high(be64(p.addr.bytes.data()), p.len);
            s.lo = keep_high(be64(p.addr.bytes.data() + 8), p.len > 64 ? p.len - 64u : 0u);
        }
        s.value = pending_values_[i];
        std::uint64_t h = slot_hash(seed_, s.hi, s.lo, s.len + 256u * s.family) & mask_;
        while (slots_[h].value != 0) h = (h + 1) & mask_;
        slots_[h] = s;
    }
}

std::uint8_t PrefixTable::lookup(const util::IpAddr& a) const noexcept {
    if (a.family == 4) {
        if (!has_lead(v4_lead_, a.bytes[0])) return 0;
        const std::uint64_t w = be64(a.bytes.data()) & 0xffffffff00000000ull;
        for (const std::uint8_t len : v4_lens_) {
            const std::uint64_t lo = keep_high(w, len);
            for (std::uint64_t h = slot_hash(seed_, 0, lo, len + 256u * 4) & mask_;;
                 h = (h + 1) & mask_) {
                const Slot& s = slots_[h];
                if (s.value == 0) break;
                if (s.lo == lo && s.len == len && s.family == 4) return s.value;
            }
        }
        return 0;
    }
    const std::uint64_t w0 = be64(a.bytes.data()), w1 = be64(a.bytes.data() + 8);
    if (!has_lead(v6_lead_, static_cast<unsigned>(w0 >> 52))) return 0;
    for (const std::uint8_t len : v6_lens_) {
        const std::uint64_t hi = keep_high(w0, len);
        const std::uint64_t lo = keep_high(w1, len > 64 ? len - 64u : 0u);
        for (std::uint64_t h = slot_hash(seed_, hi, lo, len + 256u * 6) & mask_;;
             h = (h + 1) & mask_) {
            const Slot& s = slots_[h];
            if (s.value == 0) break;
            if (s.lo == lo && s.hi == hi && s.len == len && s.family == 6) return s.value;
        }
    }
    return 0;
}

}  // namespace gslbd::edge
