// Fuzz target: the DPDK backend's frame processor (io::dpdk::FrameProcessor, no EAL) on
// raw Ethernet frames, answering from the fixed topology (topology.hh). A frame either
// becomes a reply that fits the buffer and the MTU, is handed to the kernel unchanged, or
// is dropped and counted under exactly one reason. A DNS reply carries consistent IP and
// UDP lengths around a well-formed DNS message.
//
// Input: byte 0 picks checksum offload (bit 0) and the health state (bits 1-2); the rest
// is the frame.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz_common.hh"
#include "io/dpdk/packet.hh"
#include "pipeline/pipeline.hh"
#include "topology.hh"

using namespace gslbd;
using io::dpdk::Verdict;

namespace {

constexpr std::uint32_t kRoom = 2048;
constexpr std::uint16_t kMtu = 1500;

const io::dpdk::PortAddresses& addrs() {
    static const io::dpdk::PortAddresses a = [] {
        config::DpdkPort port;
        port.device = "fuzz";
        port.addresses = {{*util::IpAddr::parse("198.18.0.1"), 24},
                          {*util::IpAddr::parse("2001:2::1"), 64}};
        return io::dpdk::PortAddresses::from_config(port, 53, {0x02, 0, 0x5e, 0x10, 0, 1});
    }();
    return a;
}

std::uint64_t drops(const io::dpdk::WorkerCounters& c) {
    std::uint64_t n = 0;
    for (const auto& d : c.drops) n += d.get();
    return n;
}

/// The reply's L3/L4 lengths agree with the frame; a DNS payload walks.
void check_reply(const std::uint8_t* f, std::uint32_t len, const io::dpdk::Result& r) {
    FUZZ_CHECK(len >= 14 && len <= kRoom);
    std::uint32_t l2 = 14;
    std::uint16_t type = fuzz::rd16(f + 12);
    if (type == 0x8100) {
        FUZZ_CHECK(len >= 18);
        type = fuzz::rd16(f + 16);
        l2 = 18;
    }
    FUZZ_CHECK(len - l2 <= kMtu);
    const std::uint8_t* ip = f + l2;
    const std::uint32_t iplen = len - l2;
    if (type == 0x0800) {
        FUZZ_CHECK(iplen >= 20 && (ip[0] >> 4) == 4);
        const std::uint32_t ihl = (ip[0] & 0x0F) * 4u;
        FUZZ_CHECK(ihl >= 20 && ihl <= iplen);
        FUZZ_CHECK(fuzz::rd16(ip + 2) == iplen);
        if (ip[9] == 17) {
            FUZZ_CHECK(r.l2_len == l2 && r.l3_len == ihl);
            const std::uint8_t* udp = ip + ihl;
            FUZZ_CHECK(iplen - ihl >= 8 && fuzz::rd16(udp + 4) == iplen - ihl);
            fuzz::walk_message(udp + 8, iplen - ihl - 8);
        }
    } else if (type == 0x86DD) {
        FUZZ_CHECK(iplen >= 40 && (ip[0] >> 4) == 6);
        FUZZ_CHECK(fuzz::rd16(ip + 4) == iplen - 40);
        if (ip[6] == 17) {
            const std::uint8_t* udp = ip + 40;
            FUZZ_CHECK(iplen >= 48 && fuzz::rd16(udp + 4) == iplen - 40);
            fuzz::walk_message(udp + 8, iplen - 48);
        }
    } else {
        FUZZ_CHECK(type == 0x0806);  // ARP reply
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1 || size - 1 > kRoom) return 0;
    const bool offload = data[0] & 1;
    const auto& holder = fuzz::fixed_topology((data[0] >> 1) & 3);
    const std::uint32_t len = static_cast<std::uint32_t>(size - 1);
    static std::vector<std::uint8_t> frame(kRoom + 64);
    std::memset(frame.data(), 0xEE, frame.size());
    std::memcpy(frame.data(), data + 1, len);

    pipeline::Pipeline pipe(holder, 1, 16, 1024);
    io::dpdk::WorkerCounters c;
    io::dpdk::FrameProcessor proc(pipe, addrs(), c, kMtu, offload);
    const io::dpdk::Result r = proc.process(frame.data(), len, kRoom);
    gslb::RcuThread::quiescent();
    for (std::size_t i = kRoom; i < frame.size(); ++i) FUZZ_CHECK(frame[i] == 0xEE);
    switch (r.verdict) {
        case Verdict::Reply:
            FUZZ_CHECK(drops(c) == 0);
            check_reply(frame.data(), r.len, r);
            break;
        case Verdict::Exception:
            FUZZ_CHECK(drops(c) == 0);
            FUZZ_CHECK(std::memcmp(frame.data(), data + 1, len) == 0);
            break;
        case Verdict::Drop:
            FUZZ_CHECK(drops(c) == 1);
            break;
    }
    return 0;
}
