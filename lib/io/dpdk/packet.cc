#include "io/dpdk/packet.hh"

#include <rte_ip.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "util/bytes.hh"

namespace gslbd::io::dpdk {

namespace {

constexpr std::uint16_t kEthIpv4 = 0x0800, kEthArp = 0x0806, kEthVlan = 0x8100, kEthIpv6 = 0x86DD;
constexpr std::uint8_t kProtoIcmp = 1, kProtoUdp = 17, kProtoFrag6 = 44, kProtoIcmp6 = 58;
constexpr std::uint32_t kEth = 14, kVlan = 4, kIp4 = 20, kIp6 = 40, kUdp = 8;

using util::load16;
using util::store16;
// Checksums are one's complement sums of 16-bit words; rte_raw_cksum reads them in host
// order and the result is stored back as read, which is byte-order neutral.
inline void store_cksum(std::uint8_t* p, std::uint16_t c) noexcept {
    std::memcpy(p, &c, 2);
}

// Folded (not complemented) sum of the pseudo header and the L4 bytes; 0xffff = valid.
std::uint16_t l4_sum_v4(const std::uint8_t* ip, const std::uint8_t* l4, std::uint16_t l4_len,
                        std::uint8_t proto) noexcept {
    std::uint8_t ph[12];
    std::memcpy(ph, ip + 12, 8);
    ph[8] = 0;
    ph[9] = proto;
    store16(ph + 10, l4_len);
    std::uint32_t s = __rte_raw_cksum(ph, sizeof ph, 0);
    return __rte_raw_cksum_reduce(__rte_raw_cksum(l4, l4_len, s));
}
std::uint16_t l4_sum_v6(const std::uint8_t* ip, const std::uint8_t* l4, std::uint16_t l4_len,
                        std::uint8_t proto) noexcept {
    std::uint8_t ph[40] = {};
    std::memcpy(ph, ip + 8, 32);
    store16(ph + 34, l4_len);
    ph[39] = proto;
    std::uint32_t s = __rte_raw_cksum(ph, sizeof ph, 0);
    return __rte_raw_cksum_reduce(__rte_raw_cksum(l4, l4_len, s));
}
inline std::uint16_t finish(std::uint16_t folded, bool udp) noexcept {
    auto c = static_cast<std::uint16_t>(~folded);
    return (udp && c == 0) ? 0xffff : c;  // UDP sends a computed 0 as all ones
}

inline void set_macs(std::uint8_t* f, const std::array<std::uint8_t, 6>& ours) noexcept {
    std::memcpy(f, f + 6, 6);  // destination = the query's source
    std::memcpy(f + 6, ours.data(), 6);
}

}  // namespace

PortAddresses PortAddresses::from_config(const config::DpdkPort& port, std::uint16_t udp_port,
                                         const std::array<std::uint8_t, 6>& mac) {
    PortAddresses a;
    a.mac = mac;
    a.udp_port = udp_port;
    for (const auto& da : port.addresses) {
        if (da.addr.family == 4) {
            if (a.n4 == kMax)
                throw std::runtime_error("port " + port.device + ": more than " +
                                         std::to_string(kMax) + " IPv4 addresses");
            std::memcpy(a.v4[a.n4++].data(), da.addr.bytes.data(), 4);
        } else {
            if (a.n6 == kMax)
                throw std::runtime_error("port " + port.device + ": more than " +
                                         std::to_string(kMax) + " IPv6 addresses");
            std::memcpy(a.v6[a.n6++].data(), da.addr.bytes.data(), 16);
        }
    }
    return a;
}

bool PortAddresses::has_v4(const std::uint8_t* p) const noexcept {
    for (unsigned i = 0; i < n4; ++i)
        if (std::memcmp(v4[i].data(), p, 4) == 0) return true;
    return false;
}

bool PortAddresses::has_v6(const std::uint8_t* p) const noexcept {
    for (unsigned i = 0; i < n6; ++i)
        if (std::memcmp(v6[i].data(), p, 16) == 0) return true;
    return false;
}

const char* drop_reason_name(DropReason r) noexcept {
    switch (r) {
        case DropReason::Short:
            return "short";
        case DropReason::Malformed:
            return "malformed";
        case DropReason::Ipv4Checksum:
            return "ipv4_checksum";
        case DropReason::L4Checksum:
            return "l4_checksum";
        case DropReason::Fragment:
            return "fragment";
        case DropReason::NoAnswer:
            return "no_answer";
        case DropReason::NoRoom:
            return "no_room";
        case DropReason::Multiseg:
            return "multiseg";
        case DropReason::NoException:
            return "no_exception_path";
        case DropReason::TxFull:
            return "tx_full";
        case DropReason::ExceptionFull:
            return "exception_full";
        case DropReason::KernelTxFull:
            return "kernel_tx_full";
        case DropReason::kCount:
            break;
    }
    return "?";
}

std::uint64_t WorkerStats::dropped() const noexcept {
    std::uint64_t n = 0;
    for (auto d : drops) n += d;
    return n;
}

void WorkerStats::add(const WorkerStats& o) noexcept {
    rx += o.rx;
    tx += o.tx;
    dns += o.dns;
    dns_replies += o.dns_replies;
    arp_replies += o.arp_replies;
    nd_replies += o.nd_replies;
    echo_replies += o.echo_replies;
    ipv4_options += o.ipv4_options;
    to_kernel += o.to_kernel;
    from_kernel += o.from_kernel;
    for (std::size_t i = 0; i < kDropReasons; ++i) drops[i] += o.drops[i];
    busy_polls += o.busy_polls;
    idle_polls += o.idle_polls;
    busy_cycles += o.busy_cycles;
    idle_cycles += o.idle_cycles;
    pipeline::add_relaxed(pipeline, o.pipeline);
    pipeline::add_relaxed(cache, o.cache);
    edge::add_relaxed(edge, o.edge);
}

WorkerStats snapshot(const WorkerCounters& c) noexcept {
    WorkerStats s;
    s.rx = c.rx.get();
    s.tx = c.tx.get();
    s.dns = c.dns.get();
    s.dns_replies = c.dns_replies.get();
    s.arp_replies = c.arp_replies.get();
    s.nd_replies = c.nd_replies.get();
    s.echo_replies = c.echo_replies.get();
    s.ipv4_options = c.ipv4_options.get();
    s.to_kernel = c.to_kernel.get();
    s.from_kernel = c.from_kernel.get();
    for (std::size_t i = 0; i < kDropReasons; ++i) s.drops[i] = c.drops[i].get();
    s.busy_polls = c.busy_polls.get();
    s.idle_polls = c.idle_polls.get();
    s.busy_cycles = c.busy_cycles.get();
    s.idle_cycles = c.idle_cycles.get();
    return s;
}

Result FrameProcessor::drop(DropReason r) noexcept {
    c_.drops[static_cast<std::size_t>(r)].add();
    return Result{Verdict::Drop};
}

Result FrameProcessor::process(std::uint8_t* f, std::uint32_t len, std::uint32_t room) noexcept {
    if (len < kEth) return drop(DropReason::Short);
    std::uint32_t l2 = kEth;
    std::uint16_t type = load16(f + 12);
    if (type == kEthVlan) {
        if (len < kEth + kVlan) return drop(DropReason::Short);
        type = load16(f + 16);
        l2 += kVlan;
    }
    switch (type) {
        case kEthArp:
            return arp(f, l2, len);
        case kEthIpv4:
            return ipv4(f, l2, len, room);
        case kEthIpv6:
            return ipv6(f, l2, len, room);
        default:
            return Result{Verdict::Exception};
    }
}

Result FrameProcessor::arp(std::uint8_t* f, std::uint32_t l2, std::uint32_t len) noexcept {
    if (len < l2 + 28) return drop(DropReason::Short);
    std::uint8_t* a = f + l2;
    // Ethernet/IPv4 request for one of our addresses; replies and the rest are the kernel's.
    if (load16(a) != 1 || load16(a + 2) != kEthIpv4 || a[4] != 6 || a[5] != 4 ||
        load16(a + 6) != 1 || !addrs_.has_v4(a + 24))
        return Result{Verdict::Exception};
    std::uint8_t spa[4];
    std::memcpy(spa, a + 14, 4);
    store16(a + 6, 2);
    std::memcpy(a + 18, a + 8, 6);  // THA = requester's hardware address
    std::memcpy(a + 8, addrs_.mac.data(), 6);
    std::memcpy(a + 14, a + 24, 4);  // SPA = the address asked for
    std::memcpy(a + 24, spa, 4);
    set_macs(f, addrs_.mac);
    c_.arp_replies.add();
    return Result{Verdict::Reply, static_cast<std::uint16_t>(len)};
}

// Inlined into ipv4() and ipv6(): one ending in the source, specialised per family (the
// family tests fold away) without the cost of a call per packet.
[[gnu::always_inline]] inline Result FrameProcessor::dns_reply(std::uint8_t* f, std::uint32_t l2,
                                                               std::uint32_t l3,
                                                               const std::uint8_t* udp_in,
                                                               std::uint32_t udp_len,
                                                               std::uint32_t room) noexcept {
    c_.dns.add();
    const bool v4 = l3 == kIp4;
    std::uint8_t* ip = f + l2;
    util::IpAddr src;
    if (v4) {
        src.family = 4;
        std::memcpy(src.bytes.data(), ip + 12, 4);
    } else {
        src.family = 6;
        std::memcpy(src.bytes.data(), ip + 8, 16);
    }
    // Read before the answer is written: with IPv4 options the reply's payload starts
    // before the query's, over the query's UDP header.
    const std::uint16_t sport = load16(udp_in), dport = load16(udp_in + 2);
    const std::uint32_t hdrs = l2 + l3 + kUdp;
    const std::size_t max_out = std::min<std::size_t>(room > hdrs ? room - hdrs : 0,
                                                      mtu_ > l3 + kUdp ? mtu_ - l3 - kUdp : 0);
    if (max_out < dns::kMinUdpSize) return drop(DropReason::NoRoom);
    std::uint8_t* udp = ip + l3;
    // In place: the pipeline parses the whole query before it writes the answer over it.
    const std::size_t n =
        pipe_.handle({udp_in + kUdp, udp_len - kUdp}, src, {udp + kUdp, max_out}, false);
    if (n == 0) return drop(DropReason::NoAnswer);

    // The reply gets a fresh header (IPv4 without options); the query's ports swap places.
    const auto ulen = static_cast<std::uint16_t>(kUdp + n);
    if (v4) {
        std::uint8_t tmp[4];
        std::memcpy(tmp, ip + 12, 4);
        std::memcpy(ip + 12, ip + 16, 4);  // our address (the query's destination)
        std::memcpy(ip + 16, tmp, 4);
        ip[0] = 0x45;
        // ip[1] (DSCP/ECN) is kept from the query
        store16(ip + 2, static_cast<std::uint16_t>(kIp4 + ulen));
        store16(ip + 4, 0);
        store16(ip + 6, 0x4000);  // DF: we never fragment
        ip[8] = 64;
        ip[9] = kProtoUdp;
        std::memset(ip + 10, 0, 2);
    } else {
        std::uint8_t tmp[16];
        std::memcpy(tmp, ip + 8, 16);
        std::memcpy(ip + 8, ip + 24, 16);
        std::memcpy(ip + 24, tmp, 16);
        store16(ip + 4, ulen);
        ip[6] = kProtoUdp;
        ip[7] = 64;
    }
    store16(udp, dport);
    store16(udp + 2, sport);
    store16(udp + 4, ulen);
    std::memset(udp + 6, 0, 2);
    set_macs(f, addrs_.mac);

    Result r{Verdict::Reply, static_cast<std::uint16_t>(hdrs + n)};
    r.l2_len = static_cast<std::uint8_t>(l2);
    r.l3_len = static_cast<std::uint8_t>(l3);
    if (offload_) {
        std::uint16_t ph;
        if (v4) {
            r.offload_ipv4 = true;
            ph = rte_ipv4_phdr_cksum(reinterpret_cast<const rte_ipv4_hdr*>(ip),
                                     RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_UDP_CKSUM);
        } else {
            r.offload_ipv6 = true;
            ph = rte_ipv6_phdr_cksum(reinterpret_cast<const rte_ipv6_hdr*>(ip),
                                     RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_UDP_CKSUM);
        }
        std::memcpy(udp + 6, &ph, 2);
    } else {
        if (v4)
            store_cksum(ip + 10,
                        finish(__rte_raw_cksum_reduce(__rte_raw_cksum(ip, kIp4, 0)), false));
        const std::uint16_t sum =
            v4 ? l4_sum_v4(ip, udp, ulen, kProtoUdp) : l4_sum_v6(ip, udp, ulen, kProtoUdp);
        store_cksum(udp + 6, finish(sum, true));
    }
    c_.dns_replies.add();
    return r;
}

Result FrameProcessor::ipv4(std::uint8_t* f, std::uint32_t l2, std::uint32_t len,
                            std::uint32_t room) noexcept {
    if (len < l2 + kIp4) return drop(DropReason::Short);
    std::uint8_t* ip = f + l2;
    const std::uint32_t ihl = (ip[0] & 0x0f) * 4u;
    const std::uint32_t total = load16(ip + 2);
    if ((ip[0] >> 4) != 4 || ihl < kIp4 || total < ihl) return drop(DropReason::Malformed);
    if (l2 + total > len) return drop(DropReason::Short);
    if (!addrs_.has_v4(ip + 16)) return Result{Verdict::Exception};
    if (__rte_raw_cksum_reduce(__rte_raw_cksum(ip, ihl, 0)) != 0xffff)
        return drop(DropReason::Ipv4Checksum);
    if ((load16(ip + 6) & 0x3fff) != 0) return drop(DropReason::Fragment);  // MF or offset

    std::uint8_t* l4 = ip + ihl;
    const std::uint32_t l4_len = total - ihl;
    if (ip[9] == kProtoIcmp) {
        if (l4_len < 8) return drop(DropReason::Short);
        if (l4[0] != 8 || l4[1] != 0) return Result{Verdict::Exception};  // echo request only
        if (__rte_raw_cksum_reduce(__rte_raw_cksum(l4, l4_len, 0)) != 0xffff)
            return drop(DropReason::L4Checksum);
        std::uint8_t tmp[4];
        std::memcpy(tmp, ip + 12, 4);
        std::memcpy(ip + 12, ip + 16, 4);
        std::memcpy(ip + 16, tmp, 4);
        ip[8] = 64;
        std::memset(ip + 10, 0, 2);
        store_cksum(ip + 10, finish(__rte_raw_cksum_reduce(__rte_raw_cksum(ip, ihl, 0)), false));
        l4[0] = 0;
        std::memset(l4 + 2, 0, 2);
        store_cksum(l4 + 2, finish(__rte_raw_cksum_reduce(__rte_raw_cksum(l4, l4_len, 0)), false));
        set_macs(f, addrs_.mac);
        c_.echo_replies.add();
        return Result{Verdict::Reply, static_cast<std::uint16_t>(l2 + total)};
    }
    if (ip[9] != kProtoUdp) return Result{Verdict::Exception};
    if (l4_len < kUdp) return drop(DropReason::Short);
    const std::uint32_t udp_len = load16(l4 + 4);
    if (udp_len < kUdp || udp_len > l4_len) return drop(DropReason::Malformed);
    if (load16(l4 + 2) != addrs_.udp_port) return Result{Verdict::Exception};
    if ((l4[6] | l4[7]) != 0 &&
        l4_sum_v4(ip, l4, static_cast<std::uint16_t>(udp_len), kProtoUdp) != 0xffff)
        return drop(DropReason::L4Checksum);
    if (ihl > kIp4) c_.ipv4_options.add();
    return dns_reply(f, l2, kIp4, l4, udp_len, room);
}

Result FrameProcessor::neighbour_advert(std::uint8_t* f, std::uint32_t l2,
                                        std::uint32_t room) noexcept {
    constexpr std::uint32_t kNa = 32;  // header + target + target link-layer address option
    if (room < l2 + kIp6 + kNa) return drop(DropReason::NoRoom);
    std::uint8_t* ip = f + l2;
    std::uint8_t* icmp = ip + kIp6;
    static constexpr std::uint8_t kAllNodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0,
                                                   0,    0,    0, 0, 0, 0, 0, 1};
    static constexpr std::uint8_t kUnspecified[16] = {};
    const bool dad = std::memcmp(ip + 8, kUnspecified, 16) == 0;
    // Destination: the soliciting node, or all nodes when it has no address yet (DAD).
    if (dad) {
        std::memcpy(ip + 24, kAllNodes, 16);
        static constexpr std::uint8_t kAllNodesMac[6] = {0x33, 0x33, 0, 0, 0, 1};
        std::memcpy(f, kAllNodesMac, 6);
    } else {
        std::memcpy(ip + 24, ip + 8, 16);
        std::memcpy(f, f + 6, 6);
    }
    std::memcpy(f + 6, addrs_.mac.data(), 6);
    std::memcpy(ip + 8, icmp + 8, 16);  // source = the target asked about
    ip[0] = 0x60;
    ip[1] = ip[2] = ip[3] = 0;
    store16(ip + 4, kNa);
    ip[6] = kProtoIcmp6;
    ip[7] = 255;
    icmp[0] = 136;
    icmp[1] = 0;
    std::memset(icmp + 2, 0, 2);
    icmp[4] = dad ? 0x20 : 0x60;  // Solicited unless DAD, Override
    icmp[5] = icmp[6] = icmp[7] = 0;
    icmp[24] = 2;  // target link-layer address
    icmp[25] = 1;
    std::memcpy(icmp + 26, addrs_.mac.data(), 6);
    store_cksum(icmp + 2, finish(l4_sum_v6(ip, icmp, kNa, kProtoIcmp6), false));
    c_.nd_replies.add();
    return Result{Verdict::Reply, static_cast<std::uint16_t>(l2 + kIp6 + kNa)};
}

Result FrameProcessor::ipv6(std::uint8_t* f, std::uint32_t l2, std::uint32_t len,
                            std::uint32_t room) noexcept {
    if (len < l2 + kIp6) return drop(DropReason::Short);
    std::uint8_t* ip = f + l2;
    if ((ip[0] >> 4) != 6) return drop(DropReason::Malformed);
    const std::uint32_t plen = load16(ip + 4);
    if (l2 + kIp6 + plen > len) return drop(DropReason::Short);
    std::uint8_t* l4 = ip + kIp6;
    const std::uint8_t nh = ip[6];

    if (nh == kProtoIcmp6 && plen >= 4) {
        const std::uint8_t type = l4[0];
        // Neighbour solicitation for one of our addresses (sent to the solicited-node
        // multicast group, so the destination is not ours: the target is what counts).
        if (type == 135 && plen >= 24 && l4[1] == 0 && ip[7] == 255 && addrs_.has_v6(l4 + 8)) {
            if (l4_sum_v6(ip, l4, static_cast<std::uint16_t>(plen), kProtoIcmp6) != 0xffff)
                return drop(DropReason::L4Checksum);
            return neighbour_advert(f, l2, room);
        }
        if (type == 128 && l4[1] == 0 && addrs_.has_v6(ip + 24)) {
            if (l4_sum_v6(ip, l4, static_cast<std::uint16_t>(plen), kProtoIcmp6) != 0xffff)
                return drop(DropReason::L4Checksum);
            std::uint8_t tmp[16];
            std::memcpy(tmp, ip + 8, 16);
            std::memcpy(ip + 8, ip + 24, 16);
            std::memcpy(ip + 24, tmp, 16);
            ip[7] = 64;
            l4[0] = 129;
            std::memset(l4 + 2, 0, 2);
            store_cksum(
                l4 + 2,
                finish(l4_sum_v6(ip, l4, static_cast<std::uint16_t>(plen), kProtoIcmp6), false));
            set_macs(f, addrs_.mac);
            c_.echo_replies.add();
            return Result{Verdict::Reply, static_cast<std::uint16_t>(l2 + kIp6 + plen)};
        }
        return Result{Verdict::Exception};
    }
    if (!addrs_.has_v6(ip + 24)) return Result{Verdict::Exception};
    if (nh == kProtoFrag6) return drop(DropReason::Fragment);
    if (nh != kProtoUdp) return Result{Verdict::Exception};
    if (plen < kUdp) return drop(DropReason::Short);
    const std::uint32_t udp_len = load16(l4 + 4);
    if (udp_len < kUdp || udp_len > plen) return drop(DropReason::Malformed);
    if (load16(l4 + 2) != addrs_.udp_port) return Result{Verdict::Exception};
    // RFC 8200 §8.1: a zero UDP checksum over IPv6 is invalid.
    if ((l4[6] | l4[7]) == 0 ||
        l4_sum_v6(ip, l4, static_cast<std::uint16_t>(udp_len), kProtoUdp) != 0xffff)
        return drop(DropReason::L4Checksum);

    return dns_reply(f, l2, kIp6, l4, udp_len, room);
}

}  // namespace gslbd::io::dpdk
