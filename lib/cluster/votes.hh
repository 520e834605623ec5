#pragma once
/// The fleet as this node sees it through etcd: the key layout, the members and their votes.
/// Pure (no I/O): the etcd side feeds it keys and values from a range or a watch, and asks
/// for tallies; tested alone.
///
/// Key layout under the configured prefix (e.g. "/gslbd/"):
///   nodes/<node>            member record (JSON NodeInfo), bound to the node's lease
///   votes/<target>/<node>   "up" or "down": that node's own verdict on one probe target,
///                           bound to the node's lease
///   overrides/<backend>     a fleet-wide operator override (JSON), no lease: survives restarts
/// A vote counts (is fresh) only while its node has a member record with the same lease and
/// the role `probe`: a vote left by an older incarnation of a node, or by a node that is gone
/// or passive, is stale. Lease expiry deletes a dead node's record and votes by itself.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cluster/quorum.hh"

namespace gslbd::cluster {

/// Node names go into keys: 1..63 of [A-Za-z0-9._-].
bool valid_node_name(std::string_view name) noexcept;

struct Keys {
    std::string prefix;  ///< ends with '/'

    /// `prefix` with a trailing '/' added when missing.
    explicit Keys(std::string_view prefix = "/gslbd/");
    std::string nodes() const { return prefix + "nodes/"; }
    std::string node(std::string_view name) const { return nodes() + std::string(name); }
    std::string votes() const { return prefix + "votes/"; }
    std::string vote(std::string_view target, std::string_view node) const;
    std::string overrides() const { return prefix + "overrides/"; }
    std::string override_key(std::string_view id) const { return overrides() + std::string(id); }

    enum class Kind : std::uint8_t { Node, Vote, Override, Other };
    struct Parsed {
        Kind kind = Kind::Other;
        std::string_view target;  ///< Vote
        std::string_view name;    ///< Node: node name; Vote: voter; Override: backend id
    };
    /// Splits a key of this layout (views into `key`); Other for anything else.
    Parsed parse(std::string_view key) const noexcept;
};

enum class Role : std::uint8_t { Probe, Passive };
constexpr std::string_view to_string(Role r) noexcept {
    return r == Role::Passive ? "passive" : "probe";
}

/// What each node publishes about itself under nodes/<node>.
struct NodeInfo {
    std::string name;
    Role role = Role::Probe;
    std::map<std::string, std::string> labels;  ///< site, region, ...
    std::string version;
    std::string config_digest;  ///< hash of the loaded model: differs = divergent config
    std::uint64_t generation = 0;
    bool degraded = false;  ///< the node currently answers from its own verdicts

    std::string to_json() const;
    /// nullopt when `text` is not a NodeInfo document.
    static std::optional<NodeInfo> from_json(std::string_view text);
};

/// Members and votes, fed from etcd keys.
class VoteBook {
  public:
    explicit VoteBook(Keys keys) : keys_(std::move(keys)) {}

    const Keys& keys() const noexcept { return keys_; }

    /// Forgets everything (before a full resync); every target known so far becomes dirty.
    void clear();
    /// A key was put (range result or watch PUT event). `lease` is the key's lease id
    /// (0 = none). Keys outside nodes/ and votes/ are ignored (false).
    bool put(std::string_view key, std::string_view value, std::int64_t lease);
    /// A key was deleted (watch DELETE event, lease expiry).
    bool erase(std::string_view key);

    struct Member {
        NodeInfo info;
        std::int64_t lease = 0;
    };
    /// Live members by name.
    const std::map<std::string, Member, std::less<>>& members() const noexcept { return members_; }
    /// Names of live members with role probe, sorted (the order rendezvous hashing uses).
    std::vector<std::string> probing_members() const;

    /// The votes on `target` under the membership of now.
    Tally tally(std::string_view target) const;
    struct VoteView {
        std::string node;
        bool up = false;
        bool fresh = false;
    };
    /// Every vote on `target`, for explain.
    std::vector<VoteView> votes(std::string_view target) const;

    /// Targets whose tally may have changed since the last call (membership changes make every
    /// target dirty); clears the set.
    std::vector<std::string> take_dirty();
    /// Every target with at least one vote.
    std::vector<std::string> targets() const;
    std::size_t vote_count() const noexcept { return vote_count_; }
    /// Increases when the membership changes (join, leave, new lease, role).
    std::uint64_t membership_epoch() const noexcept { return membership_epoch_; }

  private:
    struct Vote {
        std::uint32_t node = 0;  ///< index into names_
        bool up = false;
        std::int64_t lease = 0;
    };
    std::uint32_t intern(std::string_view node);
    bool fresh(const Vote& v) const;
    void all_dirty();

    Keys keys_;
    std::vector<std::string> names_;
    std::unordered_map<std::string, std::uint32_t> name_ids_;
    std::map<std::string, Member, std::less<>> members_;
    std::unordered_map<std::string, std::vector<Vote>> votes_;
    std::unordered_set<std::string> dirty_;
    std::size_t vote_count_ = 0;
    std::uint64_t membership_epoch_ = 0;
};

}  // namespace gslbd::cluster
