#pragma once
/// Test-only Ethernet/ARP/IPv4/IPv6/UDP/ICMP frame builder with its own checksum code
/// (RFC 1071, byte by byte), independent of lib/io/dpdk, so expected frames do not trust
/// the code under test.
#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

namespace frames {

using Bytes = std::vector<std::uint8_t>;
using Mac = std::array<std::uint8_t, 6>;
using V4 = std::array<std::uint8_t, 4>;
using V6 = std::array<std::uint8_t, 16>;

inline void put16(Bytes& b, unsigned v) {
    b.push_back(static_cast<std::uint8_t>(v >> 8));
    b.push_back(static_cast<std::uint8_t>(v));
}
inline void set16(Bytes& b, std::size_t at, unsigned v) {
    b[at] = static_cast<std::uint8_t>(v >> 8);
    b[at + 1] = static_cast<std::uint8_t>(v);
}
template <typename C>
void append(Bytes& b, const C& c) {
    b.insert(b.end(), c.begin(), c.end());
}

/// One's complement checksum over `parts` (concatenated), as the field value.
inline std::uint16_t cksum(std::initializer_list<Bytes> parts) {
    Bytes all;
    for (const auto& p : parts) append(all, p);
    std::uint32_t s = 0;
    for (std::size_t i = 0; i < all.size(); i += 2) {
        std::uint32_t w = static_cast<std::uint32_t>(all[i]) << 8;
        if (i + 1 < all.size()) w |= all[i + 1];
        s += w;
    }
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return static_cast<std::uint16_t>(~s & 0xffff);
}

struct Eth {
    Mac dst{}, src{};
    int vlan = -1;  ///< TCI, -1 = untagged
};
inline Bytes eth(const Eth& e, unsigned type) {
    Bytes b;
    append(b, e.dst);
    append(b, e.src);
    if (e.vlan >= 0) {
        put16(b, 0x8100);
        put16(b, static_cast<unsigned>(e.vlan));
    }
    put16(b, type);
    return b;
}

struct Ip4 {
    V4 src{}, dst{};
    std::uint8_t proto = 17, ttl = 64, tos = 0;
    std::uint16_t id = 0, frag = 0x4000;
    Bytes options;        ///< multiple of 4
    int bad_cksum = 0;    ///< added to the correct checksum
    int total_delta = 0;  ///< added to the correct total length
};
inline Bytes ip4(const Ip4& h, const Bytes& payload) {
    Bytes b;
    b.push_back(static_cast<std::uint8_t>(0x40 | (5 + h.options.size() / 4)));
    b.push_back(h.tos);
    put16(b, static_cast<unsigned>(20 + h.options.size() + payload.size() + h.total_delta));
    put16(b, h.id);
    put16(b, h.frag);
    b.push_back(h.ttl);
    b.push_back(h.proto);
    put16(b, 0);
    append(b, h.src);
    append(b, h.dst);
    append(b, h.options);
    set16(b, 10, static_cast<std::uint16_t>(cksum({b}) + h.bad_cksum));
    append(b, payload);
    return b;
}

struct Ip6 {
    V6 src{}, dst{};
    std::uint8_t nh = 17, hlim = 64;
};
inline Bytes ip6_pseudo(const Ip6& h, std::size_t len, std::uint8_t nh) {
    Bytes p;
    append(p, h.src);
    append(p, h.dst);
    put16(p, 0);
    put16(p, static_cast<unsigned>(len));
    p.insert(p.end(), {0, 0, 0, nh});
    return p;
}
inline Bytes ip6(const Ip6& h, const Bytes& payload) {
    Bytes b = {0x60, 0, 0, 0};
    put16(b, static_cast<unsigned>(payload.size()));
    b.push_back(h.nh);
    b.push_back(h.hlim);
    append(b, h.src);
    append(b, h.dst);
    append(b, payload);
    return b;
}

struct Udp {
    std::uint16_t sport = 40000, dport = 53;
    int len_delta = 0;
    bool zero_cksum = false;
    int bad_cksum = 0;
};
inline Bytes udp_raw(const Udp& u, const Bytes& data) {
    Bytes b;
    put16(b, u.sport);
    put16(b, u.dport);
    put16(b, static_cast<unsigned>(8 + data.size() + u.len_delta));
    put16(b, 0);
    append(b, data);
    return b;
}
inline Bytes udp4(const Ip4& ip, const Udp& u, const Bytes& data) {
    Bytes b = udp_raw(u, data);
    if (!u.zero_cksum) {
        Bytes ph;
        append(ph, ip.src);
        append(ph, ip.dst);
        ph.push_back(0);
        ph.push_back(17);
        put16(ph, static_cast<unsigned>(b.size()));
        std::uint16_t c = cksum({ph, b});
        set16(b, 6, static_cast<std::uint16_t>((c == 0 ? 0xffff : c) + u.bad_cksum));
    }
    return b;
}
inline Bytes udp6(const Ip6& ip, const Udp& u, const Bytes& data) {
    Bytes b = udp_raw(u, data);
    if (!u.zero_cksum) {
        std::uint16_t c = cksum({ip6_pseudo(ip, b.size(), 17), b});
        set16(b, 6, static_cast<std::uint16_t>((c == 0 ? 0xffff : c) + u.bad_cksum));
    }
    return b;
}
inline Bytes icmp4(std::uint8_t type, std::uint16_t id, std::uint16_t seq, const Bytes& data) {
    Bytes b = {type, 0, 0, 0};
    put16(b, id);
    put16(b, seq);
    append(b, data);
    set16(b, 2, cksum({b}));
    return b;
}
/// ICMPv6 body with its checksum filled in for `ip` (src/dst as sent).
inline Bytes icmp6(const Ip6& ip, Bytes body) {
    set16(body, 2, 0);
    set16(body, 2, cksum({ip6_pseudo(ip, body.size(), 58), body}));
    return body;
}
inline Bytes arp(unsigned op, const Mac& sha, const V4& spa, const Mac& tha, const V4& tpa) {
    Bytes b;
    put16(b, 1);
    put16(b, 0x0800);
    b.push_back(6);
    b.push_back(4);
    put16(b, op);
    append(b, sha);
    append(b, spa);
    append(b, tha);
    append(b, tpa);
    return b;
}
inline Bytes cat(const Bytes& a, const Bytes& b) {
    Bytes r = a;
    append(r, b);
    return r;
}

}  // namespace frames
