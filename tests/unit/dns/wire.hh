#pragma once
/// Test helpers: hand-assembled DNS wire bytes.
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace wire {

using Bytes = std::vector<std::uint8_t>;

/// "12 34 ab" -> bytes. Spaces, newlines and '|' are separators; anything else must be hex.
inline Bytes hex(std::string_view s) {
    Bytes out;
    int hi = -1;
    for (char c : s) {
        int v;
        if (c >= '0' && c <= '9') {
            v = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            v = c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            v = c - 'A' + 10;
        } else if (c == ' ' || c == '\n' || c == '|') {
            if (hi >= 0) throw std::invalid_argument("odd hex digit count");
            continue;
        } else {
            throw std::invalid_argument(std::string("bad hex char: ") + c);
        }
        if (hi < 0) {
            hi = v;
        } else {
            out.push_back(static_cast<std::uint8_t>(hi << 4 | v));
            hi = -1;
        }
    }
    if (hi >= 0) throw std::invalid_argument("odd hex digit count");
    return out;
}

inline Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

/// Uncompressed wire name from labels, root appended; no validation (tests build bad names).
inline Bytes labels(std::initializer_list<std::string> ls) {
    Bytes out;
    for (const auto& l : ls) {
        out.push_back(static_cast<std::uint8_t>(l.size()));
        out.insert(out.end(), l.begin(), l.end());
    }
    out.push_back(0);
    return out;
}

inline Bytes u16(unsigned v) {
    return {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
}

inline Bytes header(unsigned id, unsigned flags, unsigned qd, unsigned an, unsigned ns,
                    unsigned ar) {
    return cat({u16(id), u16(flags), u16(qd), u16(an), u16(ns), u16(ar)});
}

inline std::string to_hex(const Bytes& b) {
    static const char* d = "0123456789abcdef";
    std::string s;
    for (std::size_t i = 0; i < b.size(); ++i) {
        if (i) s += ' ';
        s += d[b[i] >> 4];
        s += d[b[i] & 15];
    }
    return s;
}

// Common fixtures. www.example.com A IN, ID 0x1234, RD.
inline const char* kHdr = "12 34 01 00 00 01 00 00 00 00 00 00";
inline const char* kHdrAr1 = "12 34 01 00 00 01 00 00 00 00 00 01";
inline const char* kQname = "03 77 77 77 07 65 78 61 6d 70 6c 65 03 63 6f 6d 00";
inline const char* kQnameMixed =
    "03 57 77 57 07 45 78 41 6d 50 6c 65 03 43 6f 4d 00";  // WwW.ExAmPle.CoM
inline const char* kTypeA = "00 01 00 01";
/// OPT, UDP 4096, no flags, no options.
inline const char* kOpt = "00 00 29 10 00 00 00 00 00 00 00";
/// OPT, UDP 1232, DO, ECS 192.0.2.0/24.
inline const char* kOptEcs = "00 00 29 04 d0 00 00 80 00 00 0b 00 08 00 07 00 01 18 00 c0 00 02";

/// OPT (UDP 4096) whose RDATA is the given options.
inline Bytes opt_with(const Bytes& options) {
    return cat(
        {hex("00 00 29 10 00 00 00 00 00"), u16(static_cast<unsigned>(options.size())), options});
}

/// Query for www.example.com A with one additional record block `ar` (arcount given).
inline Bytes query_with_additional(unsigned arcount, const Bytes& ar) {
    return cat({header(0x1234, 0x0100, 1, 0, 0, arcount), hex(kQname), hex(kTypeA), ar});
}

}  // namespace wire
