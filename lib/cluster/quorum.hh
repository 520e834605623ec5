#pragma once
/// Pure pieces of the fleet: the quorum rule that turns votes into a fleet verdict, and the
/// rendezvous hashing that shares probes among nodes. No I/O, no clocks: tested alone, like
/// health/state.hh's RiseFall.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gslbd::cluster {

/// How the fresh votes of the fleet on one target become its fleet verdict.
///
/// * `majority` (default): up when at least half of the voters say up. A tie counts as up:
///   between two equally sized halves gslbd keeps serving (it never fails closed by accident).
/// * `any`: up when one voter says up (a backend reachable from anywhere is kept).
/// * `all`: up only when no voter says down.
/// * a fraction `f` in (0, 1): up when more than f of the voters say up (Route 53 uses 0.18:
///   "healthy when more than 18 % of the checkers say so").
/// With fewer fresh voters than `min_voters` there is no fleet verdict: the node falls back to
/// its own verdict (degraded, never fail closed).
struct QuorumRule {
    enum class Kind : std::uint8_t { Majority, Any, All, Fraction };
    Kind kind = Kind::Majority;
    double fraction = 0.5;    ///< Kind::Fraction only, in (0, 1)
    unsigned min_voters = 1;  ///< >= 1

    /// "majority", "any", "all" or a decimal fraction strictly between 0 and 1 ("0.18");
    /// nullopt when the text is none of these.
    static std::optional<QuorumRule> parse(std::string_view text);
    /// The rule as written in the config ("majority", "0.18"), for logs, status and explain.
    std::string to_string() const;
};

/// Votes counted for one target. `stale` votes (a voter that is no longer a live member, or
/// a vote left by an older incarnation of it) are reported but never decide.
struct Tally {
    unsigned up = 0, down = 0, stale = 0;
    unsigned voters() const noexcept { return up + down; }
};

enum class FleetVerdict : std::uint8_t {
    NoQuorum,  ///< fewer fresh voters than min_voters: use the node's own verdict
    Up,
    Down,
};

constexpr std::string_view to_string(FleetVerdict v) noexcept {
    switch (v) {
        case FleetVerdict::Up:
            return "up";
        case FleetVerdict::Down:
            return "down";
        default:
            return "no_quorum";
    }
}

/// The fleet verdict of `t` under `rule`.
FleetVerdict decide(const QuorumRule& rule, const Tally& t) noexcept;

/// Rendezvous (highest random weight) hashing: each target is probed by the k live probing
/// nodes with the highest score(node, target). When a node joins or leaves only the targets
/// for which it is (or was) among the k highest move; every other assignment stays.
namespace rendezvous {

/// 64-bit hash of a name (node or target key); stable across processes and versions, since
/// every node of a fleet must compute the same assignment.
std::uint64_t hash(std::string_view name) noexcept;
/// The score of a node for a target, from their hashes.
std::uint64_t score(std::uint64_t node_hash, std::uint64_t target_hash) noexcept;
/// Indices into `node_hashes` of the min(k, size) nodes with the highest scores for
/// `target_hash`, best first. k == 0 means every node. Ties (equal scores) go to the lower
/// index, so the result is deterministic for a given order of nodes; callers sort nodes by
/// name so every node sees the same order.
std::vector<std::size_t> choose(std::span<const std::uint64_t> node_hashes,
                                std::uint64_t target_hash, unsigned k);
/// Whether `self` (an index into node_hashes) is among the k chosen for `target_hash`; no
/// allocation.
bool is_chosen(std::span<const std::uint64_t> node_hashes, std::size_t self,
               std::uint64_t target_hash, unsigned k) noexcept;

}  // namespace rendezvous

}  // namespace gslbd::cluster
