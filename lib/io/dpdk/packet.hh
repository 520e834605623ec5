#pragma once
/// L2/L3/L4 handling of one Ethernet frame for the DPDK backend, independent of mbufs:
/// parse Ethernet (+ one 802.1Q tag), ARP, IPv4, IPv6, UDP, ICMP/ICMPv6, and either
/// rewrite the frame in place into its reply (DNS answer, ARP reply, neighbour
/// advertisement, echo reply), pass it to the exception path, or drop it with a reason.
///
/// Hot path: noexcept, no allocation, no locks, no syscalls.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "config/model.hh"
#include "io/counter.hh"
#include "pipeline/pipeline.hh"

namespace gslbd::io::dpdk {

/// What a port answers for, in a form the hot path can compare quickly.
struct PortAddresses {
    static constexpr unsigned kMax = 16;
    std::array<std::uint8_t, 6> mac{};
    std::array<std::array<std::uint8_t, 4>, kMax> v4{};
    std::array<std::array<std::uint8_t, 16>, kMax> v6{};
    unsigned n4 = 0, n6 = 0;
    std::uint16_t udp_port = 53;  ///< host byte order

    /// From the config; throws std::runtime_error when there are more than kMax per family.
    static PortAddresses from_config(const config::DpdkPort& port, std::uint16_t udp_port,
                                     const std::array<std::uint8_t, 6>& mac);
    bool has_v4(const std::uint8_t* a) const noexcept;
    bool has_v6(const std::uint8_t* a) const noexcept;
};

/// Why a frame was dropped. Every drop is counted under exactly one reason.
enum class DropReason : std::uint8_t {
    Short,          ///< shorter than the headers it claims
    Malformed,      ///< bad IP version/IHL, lengths that do not add up, bad UDP length
    Ipv4Checksum,   ///< IPv4 header checksum wrong
    L4Checksum,     ///< UDP/ICMP/ICMPv6 checksum wrong (or UDP checksum 0 over IPv6)
    Fragment,       ///< IPv4 fragment or IPv6 fragment header to our address (not reassembled)
    NoAnswer,       ///< the pipeline chose not to answer (QR=1, runt, ...)
    NoRoom,         ///< the mbuf cannot hold a minimal (512-byte) answer
    Multiseg,       ///< chained mbuf received (jumbo frames are not supported)
    NoException,    ///< would go to the kernel but the port has no exception path
    TxFull,         ///< reply not accepted by the port's TX queue after the retries
    ExceptionFull,  ///< the exception TX queue (towards the kernel) was full
    KernelTxFull,   ///< a frame from the kernel not accepted by the port's TX queue
    kCount,
};
inline constexpr std::size_t kDropReasons = static_cast<std::size_t>(DropReason::kCount);
/// Lower-case names for counters and telemetry ("short", "ipv4_checksum", ...).
const char* drop_reason_name(DropReason r) noexcept;

/// Per worker (lcore) counters: written by the worker only, read with relaxed loads.
struct alignas(64) WorkerCounters {
    Counter rx;           ///< frames received from the port
    Counter tx;           ///< frames sent on the port (replies and kernel traffic)
    Counter dns;          ///< UDP DNS datagrams to our address and port
    Counter dns_replies;  ///< DNS answers sent back from this worker
    Counter arp_replies, nd_replies, echo_replies;
    Counter ipv4_options;  ///< IPv4 queries with options (answered without options)
    Counter to_kernel;     ///< frames handed to the exception path
    Counter from_kernel;   ///< frames the kernel sent out through the exception path
    std::array<Counter, kDropReasons> drops;
    Counter busy_polls;   ///< loop iterations that found at least one frame
    Counter idle_polls;   ///< loop iterations that found nothing
    Counter busy_cycles;  ///< TSC cycles spent in busy iterations
    Counter idle_cycles;  ///< TSC cycles spent in idle iterations
};

/// A plain-value copy of WorkerCounters plus the worker's pipeline and cache counters.
struct WorkerStats {
    unsigned lcore = 0;
    std::uint16_t port = 0, queue = 0;
    std::uint64_t rx = 0, tx = 0, dns = 0, dns_replies = 0, arp_replies = 0, nd_replies = 0,
                  echo_replies = 0, ipv4_options = 0, to_kernel = 0, from_kernel = 0;
    std::array<std::uint64_t, kDropReasons> drops{};
    std::uint64_t busy_polls = 0, idle_polls = 0, busy_cycles = 0, idle_cycles = 0;
    pipeline::Counters pipeline;
    cache::Counters cache;
    edge::Counters edge;

    std::uint64_t dropped() const noexcept;
    /// Adds every field of `o` (lcore/port/queue kept).
    void add(const WorkerStats& o) noexcept;
};
WorkerStats snapshot(const WorkerCounters& c) noexcept;

enum class Verdict : std::uint8_t {
    Reply,      ///< the frame now holds the reply, `len` bytes; send it out the port
    Exception,  ///< unchanged; hand it to the kernel
    Drop,       ///< `reason` says why (already counted)
};

struct Result {
    Verdict verdict = Verdict::Drop;
    std::uint16_t len = 0;  ///< new frame length (Reply)
    /// Reply only: set when checksum offload was requested for this reply; then the
    /// IPv4 header checksum is 0 and the UDP checksum holds the pseudo-header sum.
    bool offload_ipv4 = false, offload_ipv6 = false;
    std::uint8_t l2_len = 0, l3_len = 0;
};

/// Everything one worker needs to turn a frame into its reply. Not thread-safe: one per worker.
class FrameProcessor {
  public:
    /// `mtu` bounds the reply's IP packet. `cksum_offload`: leave UDP/IPv4 checksums to the
    /// NIC (Result says so; the caller sets the mbuf offload flags).
    FrameProcessor(pipeline::Pipeline& pipe, const PortAddresses& addrs, WorkerCounters& counters,
                   std::uint16_t mtu, bool cksum_offload) noexcept
        : pipe_(pipe), addrs_(addrs), c_(counters), mtu_(mtu), offload_(cksum_offload) {}

    /// `frame` holds `len` bytes and may be rewritten up to `room` bytes (room >= len).
    /// A DNS answer is written by the pipeline straight into the frame, after the reply's
    /// headers (no copy). Counts drops and replies by kind; does not count rx/tx.
    Result process(std::uint8_t* frame, std::uint32_t len, std::uint32_t room) noexcept;

  private:
    Result drop(DropReason r) noexcept;
    Result arp(std::uint8_t* f, std::uint32_t l2, std::uint32_t len) noexcept;
    Result ipv4(std::uint8_t* f, std::uint32_t l2, std::uint32_t len, std::uint32_t room) noexcept;
    Result ipv6(std::uint8_t* f, std::uint32_t l2, std::uint32_t len, std::uint32_t room) noexcept;
    Result neighbour_advert(std::uint8_t* f, std::uint32_t l2, std::uint32_t room) noexcept;
    /// A checked UDP datagram to our DNS port, IPv4 (`l3` = 20) or IPv6 (`l3` = 40), its
    /// IP header at f + l2 and its UDP header at `udp`: the pipeline writes the answer at
    /// f + l2 + l3 + 8 (over the query, which it has read by then), then the IP and UDP
    /// headers and checksums of the reply are written around it. One ending for both
    /// families.
    Result dns_reply(std::uint8_t* f, std::uint32_t l2, std::uint32_t l3, const std::uint8_t* udp,
                     std::uint32_t udp_len, std::uint32_t room) noexcept;

    pipeline::Pipeline& pipe_;
    const PortAddresses& addrs_;
    WorkerCounters& c_;
    std::uint16_t mtu_;
    bool offload_;
};

}  // namespace gslbd::io::dpdk
