#include "cluster/quorum.hh"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "util/hash.hh"

namespace gslbd::cluster {

std::optional<QuorumRule> QuorumRule::parse(std::string_view text) {
    QuorumRule r;
    if (text == "majority") return r;
    if (text == "any") {
        r.kind = Kind::Any;
        return r;
    }
    if (text == "all") {
        r.kind = Kind::All;
        return r;
    }
    // only plain decimals: "0.18", ".5"; no exponents, no signs, no trailing text
    if (text.empty() || text.find_first_not_of("0123456789.") != std::string_view::npos)
        return std::nullopt;
    double f = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), f);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    if (!(f > 0.0 && f < 1.0)) return std::nullopt;
    r.kind = Kind::Fraction;
    r.fraction = f;
    return r;
}

std::string QuorumRule::to_string() const {
    switch (kind) {
        case Kind::Any:
            return "any";
        case Kind::All:
            return "all";
        case Kind::Fraction:
            return fmt::format("{}", fraction);
        default:
            return "majority";
    }
}

FleetVerdict decide(const QuorumRule& rule, const Tally& t) noexcept {
    const unsigned n = t.voters();
    if (n == 0 || n < rule.min_voters) return FleetVerdict::NoQuorum;
    bool up = false;
    switch (rule.kind) {
        case QuorumRule::Kind::Majority:
            up = t.up >= t.down;
            break;
        case QuorumRule::Kind::Any:
            up = t.up > 0;
            break;
        case QuorumRule::Kind::All:
            up = t.down == 0;
            break;
        case QuorumRule::Kind::Fraction:
            // "more than f of the voters": up / n > f, in integers where f * n is exact enough
            up = static_cast<double>(t.up) > rule.fraction * static_cast<double>(n) + 1e-9;
            break;
    }
    return up ? FleetVerdict::Up : FleetVerdict::Down;
}

namespace rendezvous {

using util::mix64;

std::uint64_t hash(std::string_view name) noexcept {
    // FNV-1a over the bytes, then mixed: simple, fixed forever (part of the fleet protocol)
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : name) {
        h ^= c;
        h *= 0x100000001b3ull;
    }
    return mix64(h);
}

std::uint64_t score(std::uint64_t node_hash, std::uint64_t target_hash) noexcept {
    return mix64(node_hash ^ mix64(target_hash + 0x9e3779b97f4a7c15ull));
}

std::vector<std::size_t> choose(std::span<const std::uint64_t> node_hashes,
                                std::uint64_t target_hash, unsigned k) {
    std::vector<std::size_t> idx(node_hashes.size());
    for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    const std::size_t n = (k == 0 || k > idx.size()) ? idx.size() : k;
    std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(n), idx.end(),
                      [&](std::size_t a, std::size_t b) {
                          const auto sa = score(node_hashes[a], target_hash);
                          const auto sb = score(node_hashes[b], target_hash);
                          return sa != sb ? sa > sb : a < b;
                      });
    idx.resize(n);
    return idx;
}

bool is_chosen(std::span<const std::uint64_t> node_hashes, std::size_t self,
               std::uint64_t target_hash, unsigned k) noexcept {
    if (self >= node_hashes.size()) return false;
    if (k == 0 || k >= node_hashes.size()) return true;
    const std::uint64_t mine = score(node_hashes[self], target_hash);
    unsigned better = 0;
    for (std::size_t i = 0; i < node_hashes.size(); ++i) {
        if (i == self) continue;
        const std::uint64_t s = score(node_hashes[i], target_hash);
        if (s > mine || (s == mine && i < self)) {
            if (++better >= k) return false;
        }
    }
    return true;
}

}  // namespace rendezvous

}  // namespace gslbd::cluster
