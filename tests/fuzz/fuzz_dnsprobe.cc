// Fuzz target: the health DNS probe's reply check (health::check_dns_reply) on arbitrary
// replies to a fixed query. Byte 0 picks the question type (A, AAAA, TXT), the expected
// rcode and whether an address is expected; the rest is the reply. The verdict must be
// consistent with the header: Ok only for a response with our ID, rcode_out the header's
// rcode whenever the header was readable.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "fuzz_common.hh"
#include "health/dnsprobe.hh"

using namespace gslbd;
using health::DnsReply;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    static const std::vector<std::uint8_t> qname =
        health::encode_qname("www.example.com", config::SourcePos{});
    static const std::uint16_t qtypes[] = {1, 28, 16, 1};
    static const std::optional<util::IpAddr> addrs[] = {
        std::nullopt, util::IpAddr::parse("192.0.2.10"), util::IpAddr::parse("2001:db8::10"),
        std::nullopt};
    const std::uint16_t qtype = qtypes[data[0] & 3];
    const int expected_rcode = (data[0] >> 2) & 3;  // NOERROR, FORMERR, SERVFAIL, NXDOMAIN
    const auto& expect_addr = addrs[(data[0] >> 4) & 3];
    const std::uint8_t* msg = data + 1;
    const std::size_t len = size - 1;
    int rcode = -1;
    const DnsReply v = health::check_dns_reply({msg, len}, 0x4242, qname, qtype, expected_rcode,
                                               expect_addr, rcode);
    if (v == DnsReply::Ok || v == DnsReply::Rcode || v == DnsReply::NoAddress) {
        FUZZ_CHECK(len >= 12);
        FUZZ_CHECK(fuzz::rd16(msg) == 0x4242 && (msg[2] & 0x80) != 0);
        FUZZ_CHECK(rcode == (msg[3] & 0x0F));
    }
    if (v == DnsReply::Ok) FUZZ_CHECK(rcode == expected_rcode);
    if (v == DnsReply::Rcode) FUZZ_CHECK(rcode != expected_rcode);
    // The verdict is a function of the bytes.
    int rcode2 = -1;
    FUZZ_CHECK(health::check_dns_reply({msg, len}, 0x4242, qname, qtype, expected_rcode,
                                       expect_addr, rcode2) == v &&
               rcode2 == rcode);
    return 0;
}
