// Reads <dir>/<scenario>.query (written by check_wire_dnspython.py with dnspython), answers
// it with dns::parse_query + dns::ResponseWriter as the scenario says, and writes
// <dir>/<scenario>.response for dnspython to decode. Exit status != 0 on any failure.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "dns/query.hh"
#include "dns/response.hh"

using namespace gslbd::dns;

namespace {

std::vector<std::uint8_t> wire_name(const char* text) {
    std::uint8_t buf[kMaxNameWire];
    const std::size_t n = name_from_text(text, buf);
    return std::vector<std::uint8_t>(buf, buf + n);
}

bool answer(const std::string& scenario, std::span<const std::uint8_t> in,
            std::vector<std::uint8_t>& out) {
    Query q;
    const ParseResult r = parse_query(in, q);
    if (r.status == ParseStatus::Drop) return false;
    std::vector<std::uint8_t> buf(65535);
    ResponseWriter w({buf.data(), buf.size()}, q.max_udp_response());
    if (!r.question_ok) {
        w.begin_header_only(q.id, q.flags, Rcode::FormErr);
    } else {
        w.begin(q, rcode_for(r.status), r.status == ParseStatus::Ok);
    }
    const auto zone = wire_name("example.com.");
    const auto ns1 = wire_name("ns1.example.com.");
    const auto host = wire_name("hostmaster.example.com.");
    const auto target = wire_name("www.example.net.");
    const SoaData soa{ns1, host, 2024010101, 7200, 3600, 1209600, 300};
    const std::uint8_t a[4] = {192, 0, 2, 1};
    const std::uint8_t aaaa[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    const NameRef qn = NameRef::qname();
    bool ok = true;

    if (r.status == ParseStatus::Ok) {
        if (scenario == "a") {
            ok = w.add_a(Section::Answer, qn, 300, a);
        } else if (scenario == "aaaa") {
            ok = w.add_aaaa(Section::Answer, qn, 300, aaaa);
        } else if (scenario == "txt") {
            ok = w.add_txt(Section::Answer, qn, 60, std::string(255, 'x') + std::string(45, 'y')) &&
                 w.add_txt(Section::Answer, qn, 60, "v=spf1 -all");
        } else if (scenario == "nxdomain") {
            w.set_rcode(Rcode::NxDomain);
            ok = w.add_soa(Section::Authority, NameRef::of(zone), 3600, soa);
        } else if (scenario == "cname_ns") {
            ok = w.add_cname(Section::Answer, qn, 120, NameRef::of(target)) &&
                 w.add_ns(Section::Authority, NameRef::of(zone), 86400, NameRef::of(ns1)) &&
                 w.add_a(Section::Additional, NameRef::of(ns1), 86400, a);
        } else if (scenario == "any_hinfo") {
            ok = w.add_hinfo_rfc8482(Section::Answer, qn, 3600);
        } else if (scenario == "ecs") {
            ok = w.add_a(Section::Answer, qn, 300, a);
            w.set_opt(1232, q.do_bit, &q.ecs, 24);
        } else if (scenario == "ecs6") {
            ok = w.add_aaaa(Section::Answer, qn, 300, aaaa);
            w.set_opt(4096, q.do_bit, &q.ecs, 64);  // scope above the source: clamped
        } else if (scenario == "ecs_odd") {
            ok = w.add_a(Section::Answer, qn, 300, a);
        } else if (scenario == "udp_small") {
            ok = w.add_a(Section::Answer, qn, 300, a);
            w.set_opt(100, q.do_bit, nullptr, 0);
        } else if (scenario == "truncated_udp512" || scenario == "truncated_edns") {
            while (w.add_a(Section::Answer, qn, 300, a)) {
            }
            ok = w.truncated();
            if (q.has_edns) w.set_opt(1232, q.do_bit, &q.ecs, 0);
        } else {
            std::cerr << "unknown scenario " << scenario << "\n";
            return false;
        }
    } else if (q.has_edns) {
        w.set_opt(1232, q.do_bit, nullptr, 0);
    }
    if (!ok) {
        std::cerr << scenario << ": writer refused a record\n";
        return false;
    }
    const std::size_t n = w.finish();
    out.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    return n > 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::cerr << "usage: emit_fixtures DIR SCENARIO...\n";
        return 2;
    }
    const std::string dir = argv[1];
    for (int i = 2; i < argc; ++i) {
        const std::string scenario = argv[i];
        std::ifstream f(dir + "/" + scenario + ".query", std::ios::binary);
        if (!f) {
            std::cerr << "cannot read " << dir << "/" << scenario << ".query\n";
            return 1;
        }
        const std::vector<std::uint8_t> in((std::istreambuf_iterator<char>(f)),
                                           std::istreambuf_iterator<char>());
        std::vector<std::uint8_t> out;
        if (!answer(scenario, {in.data(), in.size()}, out)) {
            std::cerr << "scenario " << scenario << " failed\n";
            return 1;
        }
        std::ofstream o(dir + "/" + scenario + ".response", std::ios::binary);
        o.write(reinterpret_cast<const char*>(out.data()),
                static_cast<std::streamsize>(out.size()));
        if (!o) return 1;
    }
    return 0;
}
