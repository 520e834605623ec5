// ip-hash: one eligible backend per client address (the ECS address when ECS is used),
// stable while the eligible set is unchanged. CoreDNS-GSLB takes an FNV hash modulo the
// number of healthy backends, so one backend failing moves almost every client. Here the
// choice is rendezvous (highest random weight) hashing: every (client, backend) pair gets
// a pseudo-random score and the highest wins, so when a backend leaves only its own
// clients move, and when it comes back only they move back. Weights bias the scores
// (weighted rendezvous: score = -weight / ln(u), u uniform in (0,1)), so a backend of
// weight 2 gets twice the clients of one of weight 1. Like CoreDNS-GSLB, every eligible
// backend takes part, whatever its priority.
//
// The backend's key is its address (not its position), so reordering the file or adding
// an unrelated backend keeps clients where they are. The client's key is its address
// masked to the ECS source prefix: that prefix is the ECS scope, since every bit of it
// decided. The decision class is the chosen backend itself (its index + 1), so the cache
// holds one entry per backend and a hit serves exactly what a miss would.
#include <cmath>

#include "common.hh"
#include "util/hash.hh"

namespace gslbd::policies {
namespace {

using util::mix64;

std::uint64_t key_of(const util::IpAddr& a) noexcept {
    return gslb::address_hash(a);
}

// The bits of the client address that decide, and so the ECS scope.
std::uint8_t client_bits(const gslb::ClientInfo& c) noexcept {
    const unsigned max = c.addr.max_prefix();
    return static_cast<std::uint8_t>(c.from_ecs ? std::min<unsigned>(c.source_prefix, max) : max);
}

/// The backend's key: its address hash, kept in the topology (computed here only for a
/// BackendRt built without one).
std::uint64_t key_of(const gslb::BackendRt& b) noexcept {
    return b.addr_hash != 0 ? b.addr_hash : key_of(b.addr);
}

/// The rendezvous winner among ctx.eligible for `client_key` (an index into ctx.family).
/// `Ramping`: some backend is in slow start, so weights are Snapshot::effective_weight
/// (clients then only move towards a ramping backend); else the plain weight_of(), without
/// the slow start lookups.
template <bool Ramping>
std::uint16_t iphash_pick_with(const gslb::SelectContext& ctx, std::uint64_t client_key) noexcept {
    auto weight = [&](const gslb::BackendRt& b) noexcept -> std::uint64_t {
        if constexpr (Ramping)
            return std::max<std::uint64_t>(ctx.snap.effective_weight(b), 1);
        else
            return std::max<std::uint32_t>(ctx.snap.weight_of(b), 1);
    };
    std::uint16_t pick = ctx.eligible[0];
    // Equal weights (the usual case): the score -w / ln(u) grows with u, so the largest u
    // wins and no logarithm is needed; u's 53 bits are compared exactly as below.
    const std::uint64_t w0 = weight(ctx.family[pick]);
    bool equal = true;
    for (std::uint16_t i : ctx.eligible)
        if (weight(ctx.family[i]) != w0) {
            equal = false;
            break;
        }
    if (equal) {
        std::int64_t best = -1;
        for (std::uint16_t i : ctx.eligible) {
            const auto u =
                static_cast<std::int64_t>(mix64(client_key ^ key_of(ctx.family[i])) >> 11);
            if (u > best) {
                best = u;
                pick = i;
            }
        }
        return pick;
    }
    double best = -1;
    for (std::uint16_t i : ctx.eligible) {
        const auto& b = ctx.family[i];
        const std::uint64_t h = mix64(client_key ^ key_of(b));
        // u in (0, 1): the top 53 bits, never 0
        const double u = (static_cast<double>(h >> 11) + 0.5) * 0x1.0p-53;
        const auto w = static_cast<double>(weight(b));
        const double score = -w / std::log(u);
        if (score > best) {
            best = score;
            pick = i;
        }
    }
    return pick;
}

std::uint16_t iphash_pick(const gslb::SelectContext& ctx, std::uint64_t client_key) noexcept {
    return ctx.snap.ramping() ? iphash_pick_with<true>(ctx, client_key)
                              : iphash_pick_with<false>(ctx, client_key);
}

class IpHash final : public DecidedPolicy {
  public:
    std::string_view name() const noexcept override { return "ip-hash"; }
    /// A pure function of the snapshot and the client (the decision memo may keep it).
    bool by_client() const noexcept override { return true; }
    /// Weighted rendezvous: a traffic shift lowers the targets' weight.
    bool splits_by_weight() const noexcept override { return true; }
    void classify(const gslb::SelectContext& ctx, gslb::Decision& d) const noexcept override {
        const std::uint8_t bits = client_bits(ctx.client);
        d.scope = bits;
        d.decision_class =
            std::uint32_t{iphash_pick(ctx, key_of(ctx.client.addr.masked(bits)))} + 1;
    }
    void select_decided(const gslb::SelectContext& ctx, const gslb::Decision& d,
                        gslb::Selection& out) const noexcept override {
        reset(out, d);
        if (d.decision_class >= 1 && d.decision_class - 1 < ctx.family.size())
            out.add(static_cast<std::uint16_t>(d.decision_class - 1));
    }
    void explain(const gslb::SelectContext& ctx, const gslb::Decision& d,
                 gslb::Explanation& out) const override {
        const std::uint8_t bits = client_bits(ctx.client);
        out.notes.emplace_back("rule",
                               "rendezvous hash of the client address over every eligible "
                               "backend, biased by weight (the same client keeps its backend "
                               "while the eligible set is unchanged)");
        out.notes.emplace_back(
            "client", ctx.client.addr.masked(bits).to_string() + "/" + std::to_string(bits));
        if (d.decision_class >= 1 && d.decision_class - 1 < ctx.family.size())
            out.notes.emplace_back("pick", ctx.family[d.decision_class - 1].addr.to_string());
    }
};

}  // namespace

GSLBD_REGISTER_POLICY("ip-hash", IpHash, "iphash", "ip_hash", "hash", "client-ip-hash")

}  // namespace gslbd::policies
