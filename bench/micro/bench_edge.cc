// Micro benchmarks of the edge protection checks (lib/edge, docs/edge.md), each alone: the
// ACL lookup (rules of several prefix lengths, IPv4 and IPv6), one RRL debit (an account that
// is found, one under a flood that is limited) and a server cookie check (one SipHash-2-4
// under the current secret, the previous secret tried too when it fails), and the dynamic
// block accounting of one query.
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "edge/cookie.hh"
#include "edge/guard.hh"

using namespace gslbd;

namespace {

util::IpAddr ip(const char* t) {
    return *util::IpAddr::parse(t);
}

std::shared_ptr<const edge::Rules> acl_rules() {
    config::Config cfg;
    const char* prefixes[] = {"10.0.0.0/8",      "10.1.0.0/16",     "192.0.2.0/24",
                              "198.51.100.0/24", "203.0.113.7/32",  "172.16.0.0/12",
                              "2001:db8::/32",   "2001:db8:1::/48", "2001:db8:1:2::/64"};
    for (const char* p : prefixes)
        cfg.edge.acl.push_back({*util::IpPrefix::parse(p), config::AclAction::Drop, {}});
    return edge::build_rules(cfg);
}

void BM_acl_lookup(benchmark::State& state, const char* addr) {
    const auto rules = acl_rules();
    const util::IpAddr a = ip(addr);
    for (auto _ : state) benchmark::DoNotOptimize(edge::Guard::acl(*rules, a));
}
BENCHMARK_CAPTURE(BM_acl_lookup, v4_miss, "8.8.8.8");
// a first octet some rule starts with (192.0.2.0/24): every length is probed
BENCHMARK_CAPTURE(BM_acl_lookup, v4_miss_probed, "192.0.3.1");
BENCHMARK_CAPTURE(BM_acl_lookup, v6_miss, "2a00:1450::1");
BENCHMARK_CAPTURE(BM_acl_lookup, v4_hit_24, "192.0.2.9");
BENCHMARK_CAPTURE(BM_acl_lookup, v6_hit_64, "2001:db8:1:2::5");

void BM_rrl_check(benchmark::State& state, bool flood) {
    config::Config cfg;
    cfg.edge.rrl.enabled = true;
    cfg.edge.rrl.responses_per_second = flood ? 5 : 1'000'000;
    const auto rules = edge::build_rules(cfg);
    edge::Guard g(65536);
    const util::IpAddr a = ip("198.51.100.7");
    for (auto _ : state)
        benchmark::DoNotOptimize(g.rrl(*rules, a, edge::RrlClass::Answer, 0x1234, 100));
}
BENCHMARK_CAPTURE(BM_rrl_check, within_rate, false);
BENCHMARK_CAPTURE(BM_rrl_check, flooding, true);

void BM_cookie_check(benchmark::State& state, bool valid) {
    edge::CookieSecrets s;
    s.current.fill(7);
    s.previous.fill(9);
    s.has_previous = true;
    const std::uint8_t client[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const util::IpAddr a = ip("198.51.100.7");
    std::uint8_t server[16];
    edge::make_server_cookie(s.current.data(), client, a, 1000, server);
    if (!valid) server[15] ^= 1;
    for (auto _ : state)
        benchmark::DoNotOptimize(edge::server_cookie_valid(s, client, server, 16, a, 1001));
}
BENCHMARK_CAPTURE(BM_cookie_check, valid, true);
BENCHMARK_CAPTURE(BM_cookie_check, invalid_two_secrets, false);

void BM_cookie_make(benchmark::State& state) {
    std::array<std::uint8_t, 16> key{};
    const std::uint8_t client[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const util::IpAddr a = ip("2001:db8::7");
    std::uint8_t server[16];
    for (auto _ : state) {
        edge::make_server_cookie(key.data(), client, a, 1000, server);
        benchmark::DoNotOptimize(server);
    }
}
BENCHMARK(BM_cookie_make);

}  // namespace

// Dynamic blocks: the whole per-packet work of one query, find (hash, probe, window roll),
// query() (count, threshold check) and response() (NXDOMAIN and bytes, threshold check):
// a prefix within its rates, a blocked one (the query is stopped), and a new prefix per
// query (a spoofed flood from many prefixes: a slot is taken over every time).
void BM_dynblock(benchmark::State& state, int kind) {
    config::Config cfg;
    cfg.edge.dynblocks.enabled = true;
    cfg.edge.dynblocks.queries.rate = kind == 1 ? 10 : 1'000'000'000;
    cfg.edge.dynblocks.nxdomains.rate = 1000;
    cfg.edge.dynblocks.response_bytes.rate = 400'000'000;
    const auto rules = edge::build_rules(cfg);
    edge::Guard g(64, 65536);
    util::IpAddr a = ip("198.51.100.7");
    std::uint32_t i = 0;
    for (auto _ : state) {
        if (kind == 2) {
            const std::uint32_t v = __builtin_bswap32(0x0a000000u + (++i << 8));
            std::memcpy(a.bytes.data(), &v, 4);
        }
        edge::DynSlot* s = g.dyn_find(*rules, a, 100);
        if (g.dyn_query(*rules, *s, false, false, 100) == edge::BlockAction::Pass)
            g.dyn_response(*rules, *s, false, 60, 100);
        benchmark::DoNotOptimize(s);
    }
}
BENCHMARK_CAPTURE(BM_dynblock, within_rates, 0);
BENCHMARK_CAPTURE(BM_dynblock, blocked, 1);
BENCHMARK_CAPTURE(BM_dynblock, new_prefix_each, 2);
