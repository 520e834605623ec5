#pragma once
/// Shared by the fuzz targets: a check that traps (so libFuzzer and the replay driver both
/// notice), and a walker that reads any DNS message we produced as header + records.
#include <cstddef>
#include <cstdint>
#include <cstring>

#define FUZZ_CHECK(cond)               \
    do {                               \
        if (!(cond)) __builtin_trap(); \
    } while (0)

namespace fuzz {

inline std::uint16_t rd16(const std::uint8_t* p) {
    return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}

/// Reads a possibly compressed name at `pos` of message `m` (`len` bytes) the way a
/// resolver would: pointers must point backwards, labels <= 63, at most 255 bytes
/// decompressed. Returns the offset just after the name in place, 0 when malformed.
/// `out` (kMaxNameWire bytes, may be null) receives the decompressed name.
inline std::size_t walk_name(const std::uint8_t* m, std::size_t len, std::size_t pos,
                             std::uint8_t* out = nullptr, std::size_t* out_len = nullptr) {
    std::size_t end = 0, total = 0, limit = pos;
    for (;;) {
        if (pos >= len) return 0;
        const std::uint8_t b = m[pos];
        if ((b & 0xC0) == 0xC0) {
            if (pos + 1 >= len) return 0;
            const std::size_t target = std::size_t{b & 0x3Fu} << 8 | m[pos + 1];
            if (target >= limit || target < 12) return 0;
            if (end == 0) end = pos + 2;
            pos = limit = target;
            continue;
        }
        if (b > 63) return 0;
        if (total + 1 + b > 255 || pos + 1 + b > len) return 0;
        if (out) std::memcpy(out + total, m + pos, 1u + b);
        total += 1u + b;
        pos += 1u + b;
        if (b == 0) break;
    }
    if (out_len) *out_len = total;
    return end != 0 ? end : pos;
}

struct Walked {
    std::uint16_t id = 0, flags = 0, qd = 0, an = 0, ns = 0, ar = 0;
    unsigned opts = 0;            ///< OPT records seen
    std::uint16_t opt_class = 0;  ///< the OPT's CLASS (advertised size)
};

/// Walks a whole response: header, questions, every record with its RDATA inside the
/// message, at most one OPT (root owner, in the additional section), nothing after the
/// last record. Traps on any violation.
inline Walked walk_message(const std::uint8_t* m, std::size_t len) {
    Walked w;
    FUZZ_CHECK(len >= 12);
    w.id = rd16(m);
    w.flags = rd16(m + 2);
    w.qd = rd16(m + 4);
    w.an = rd16(m + 6);
    w.ns = rd16(m + 8);
    w.ar = rd16(m + 10);
    std::size_t pos = 12;
    for (unsigned i = 0; i < w.qd; ++i) {
        pos = walk_name(m, len, pos);
        FUZZ_CHECK(pos != 0 && len - pos >= 4);
        pos += 4;
    }
    const unsigned total = 0u + w.an + w.ns + w.ar;
    for (unsigned i = 0; i < total; ++i) {
        const std::size_t owner = pos;
        pos = walk_name(m, len, pos);
        FUZZ_CHECK(pos != 0 && len - pos >= 10);
        const std::uint16_t type = rd16(m + pos);
        const std::uint16_t rdlen = rd16(m + pos + 8);
        if (type == 41) {
            ++w.opts;
            FUZZ_CHECK(i >= 0u + w.an + w.ns);  // additional section only
            FUZZ_CHECK(m[owner] == 0);
            w.opt_class = rd16(m + pos + 2);
        }
        pos += 10;
        FUZZ_CHECK(len - pos >= rdlen);
        pos += rdlen;
    }
    FUZZ_CHECK(pos == len);
    FUZZ_CHECK(w.opts <= 1);
    return w;
}

}  // namespace fuzz
