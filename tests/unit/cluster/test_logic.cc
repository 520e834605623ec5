// Pure logic of lib/cluster: quorum rules, stale votes, fleet verdicts, rendezvous hashing,
// key layout, and the etcd client's encoding helpers. No etcd is started here.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "cluster/etcd.hh"
#include "cluster/fleet.hh"
#include "cluster/quorum.hh"
#include "cluster/votes.hh"

using namespace gslbd::cluster;

namespace {
Tally tally(unsigned up, unsigned down, unsigned stale = 0) {
    return Tally{up, down, stale};
}
QuorumRule rule(std::string_view text, unsigned min_voters = 1) {
    auto r = QuorumRule::parse(text);
    REQUIRE(r);
    r->min_voters = min_voters;
    return *r;
}
}  // namespace

TEST_CASE("quorum: parsing and printing") {
    CHECK(rule("majority").kind == QuorumRule::Kind::Majority);
    CHECK(rule("any").kind == QuorumRule::Kind::Any);
    CHECK(rule("all").kind == QuorumRule::Kind::All);
    CHECK(rule("0.18").kind == QuorumRule::Kind::Fraction);
    CHECK(rule("0.18").fraction == Approx(0.18));
    CHECK(rule(".5").to_string() == "0.5");
    CHECK(rule("0.18").to_string() == "0.18");
    CHECK(rule("majority").to_string() == "majority");
    for (const char* bad : {"", "0", "1", "1.0", "-0.2", "0.2x", "1e-1", "half", "Majority"})
        CHECK_FALSE(QuorumRule::parse(bad));
}

TEST_CASE("quorum: majority keeps a backend on a split and a cut view") {
    const auto r = rule("majority");
    CHECK(decide(r, tally(2, 1)) == FleetVerdict::Up);  // one node's view is cut
    CHECK(decide(r, tally(1, 2)) == FleetVerdict::Down);
    CHECK(decide(r, tally(1, 1)) == FleetVerdict::Up);  // a tie keeps serving
    CHECK(decide(r, tally(0, 3)) == FleetVerdict::Down);
    CHECK(decide(r, tally(3, 0)) == FleetVerdict::Up);
}

TEST_CASE("quorum: any, all") {
    CHECK(decide(rule("any"), tally(1, 4)) == FleetVerdict::Up);
    CHECK(decide(rule("any"), tally(0, 4)) == FleetVerdict::Down);
    CHECK(decide(rule("all"), tally(2, 1)) == FleetVerdict::Down);
    CHECK(decide(rule("all"), tally(3, 0)) == FleetVerdict::Up);
}

TEST_CASE("quorum: a fraction means strictly more than that share says up") {
    const auto r = rule("0.18");                          // Route 53
    CHECK(decide(r, tally(1, 4)) == FleetVerdict::Up);    // 20 % > 18 %
    CHECK(decide(r, tally(1, 5)) == FleetVerdict::Down);  // 16.7 %
    CHECK(decide(r, tally(0, 1)) == FleetVerdict::Down);
    const auto half = rule("0.5");
    CHECK(decide(half, tally(1, 1)) == FleetVerdict::Down);  // exactly half is not more
    CHECK(decide(half, tally(2, 1)) == FleetVerdict::Up);
}

TEST_CASE("quorum: too few fresh voters is no quorum; stale votes never count") {
    const auto r = rule("majority", 2);
    CHECK(decide(r, tally(1, 0)) == FleetVerdict::NoQuorum);
    CHECK(decide(r, tally(1, 0, 5)) == FleetVerdict::NoQuorum);
    CHECK(decide(r, tally(0, 0, 3)) == FleetVerdict::NoQuorum);
    CHECK(decide(r, tally(1, 1)) == FleetVerdict::Up);
    CHECK(decide(rule("all"), tally(0, 0)) == FleetVerdict::NoQuorum);  // nobody voted
}

TEST_CASE("rendezvous: k nodes per target, spread evenly, stable when nodes come and go") {
    std::vector<std::string> names;
    for (int i = 0; i < 10; ++i) names.push_back("node-" + std::to_string(i));
    std::vector<std::uint64_t> hashes;
    for (const auto& n : names) hashes.push_back(rendezvous::hash(n));

    const unsigned k = 3;
    std::map<std::size_t, int> load;
    std::vector<std::vector<std::size_t>> before;
    for (int t = 0; t < 3000; ++t) {
        const auto th =
            rendezvous::hash("198.51.100." + std::to_string(t % 250) + "|tcp|" + std::to_string(t));
        auto chosen = rendezvous::choose(hashes, th, k);
        REQUIRE(chosen.size() == k);
        CHECK(std::set<std::size_t>(chosen.begin(), chosen.end()).size() == k);
        for (std::size_t i = 0; i < hashes.size(); ++i) {
            const bool in = std::find(chosen.begin(), chosen.end(), i) != chosen.end();
            CHECK(rendezvous::is_chosen(hashes, i, th, k) == in);
        }
        for (auto c : chosen) ++load[c];
        before.push_back(chosen);
    }
    // 9000 assignments over 10 nodes: each near 900
    for (const auto& [node, n] : load) {
        CHECK(n > 750);
        CHECK(n < 1050);
    }

    // node-4 leaves: only the targets it had move, and each loses just that node
    std::vector<std::uint64_t> fewer = hashes;
    fewer.erase(fewer.begin() + 4);
    auto map_back = [](std::size_t i) { return i >= 4 ? i + 1 : i; };
    int moved = 0;
    for (int t = 0; t < 3000; ++t) {
        const auto th =
            rendezvous::hash("198.51.100." + std::to_string(t % 250) + "|tcp|" + std::to_string(t));
        auto chosen = rendezvous::choose(fewer, th, k);
        std::set<std::size_t> now;
        for (auto c : chosen) now.insert(map_back(c));
        std::set<std::size_t> was(before[t].begin(), before[t].end());
        if (was.count(4)) {
            ++moved;
            was.erase(4);
            for (auto w : was) CHECK(now.count(w) == 1);
        } else {
            CHECK(now == was);
        }
    }
    CHECK(moved > 0);
    CHECK(moved < 1200);  // about 3/10 of the targets
}

TEST_CASE("rendezvous: k = 0 or k >= nodes means everyone") {
    std::vector<std::uint64_t> h = {rendezvous::hash("a"), rendezvous::hash("b")};
    CHECK(rendezvous::choose(h, 42, 0).size() == 2);
    CHECK(rendezvous::choose(h, 42, 5).size() == 2);
    CHECK(rendezvous::is_chosen(h, 1, 42, 0));
    CHECK(rendezvous::is_chosen(h, 0, 42, 2));
    CHECK_FALSE(rendezvous::is_chosen(h, 2, 42, 1));  // not a member
    // fixed forever: every node of a fleet, any version, computes the same assignment
    CHECK(rendezvous::hash("") == rendezvous::hash(""));
    CHECK(rendezvous::hash("node-1") != rendezvous::hash("node-2"));
}

TEST_CASE("keys: layout and parsing") {
    Keys k("/gslbd");
    CHECK(k.prefix == "/gslbd/");
    CHECK(k.node("n1") == "/gslbd/nodes/n1");
    CHECK(k.vote("192.0.2.1|http|80|/h", "n1") == "/gslbd/votes/192.0.2.1|http|80|/h/n1");
    auto p = k.parse("/gslbd/votes/192.0.2.1|http|80|/h/n1");
    CHECK(p.kind == Keys::Kind::Vote);
    CHECK(p.target == "192.0.2.1|http|80|/h");
    CHECK(p.name == "n1");
    CHECK(k.parse("/gslbd/nodes/n2").kind == Keys::Kind::Node);
    CHECK(k.parse("/gslbd/nodes/n2").name == "n2");
    CHECK(k.parse("/gslbd/overrides/www.example./192.0.2.1").kind == Keys::Kind::Override);
    CHECK(k.parse("/gslbd/votes/t/").kind == Keys::Kind::Other);
    CHECK(k.parse("/gslbd/votes/n1").kind == Keys::Kind::Other);
    CHECK(k.parse("/other/nodes/n1").kind == Keys::Kind::Other);
    CHECK(k.parse("/gslbd/nodes/a/b").kind == Keys::Kind::Other);
    CHECK(valid_node_name("edge-fra1.example"));
    CHECK_FALSE(valid_node_name("a/b"));
    CHECK_FALSE(valid_node_name(""));
}

TEST_CASE("node info: JSON round trip; garbage is refused") {
    NodeInfo n;
    n.name = "n1";
    n.role = Role::Passive;
    n.labels = {{"site", "fra1"}, {"region", "eu"}};
    n.version = "0.1.0";
    n.config_digest = "abc";
    n.generation = 7;
    auto back = NodeInfo::from_json(n.to_json());
    REQUIRE(back);
    CHECK(back->role == Role::Passive);
    CHECK(back->labels == n.labels);
    CHECK(back->generation == 7);
    CHECK(back->config_digest == "abc");
    CHECK_FALSE(NodeInfo::from_json("not json"));
    CHECK_FALSE(NodeInfo::from_json("[1]"));
}

TEST_CASE("vote book: fresh votes need a live probing member with the same lease") {
    VoteBook b(Keys("/g/"));
    NodeInfo probe;
    NodeInfo passive;
    passive.role = Role::Passive;
    b.put("/g/nodes/a", probe.to_json(), 10);
    b.put("/g/nodes/b", probe.to_json(), 20);
    b.put("/g/nodes/c", passive.to_json(), 30);
    b.put("/g/votes/t1/a", "up", 10);
    b.put("/g/votes/t1/b", "down", 20);
    b.put("/g/votes/t1/c", "down", 30);  // passive: stale
    b.put("/g/votes/t1/d", "down", 40);  // no member record: stale
    auto t = b.tally("t1");
    CHECK(t.up == 1);
    CHECK(t.down == 1);
    CHECK(t.stale == 2);
    CHECK(b.probing_members() == std::vector<std::string>{"a", "b"});

    // b restarts: new lease, its old vote is left from the older incarnation
    b.take_dirty();
    b.put("/g/nodes/b", probe.to_json(), 21);
    CHECK(b.take_dirty() == std::vector<std::string>{"t1"});  // membership: all dirty
    t = b.tally("t1");
    CHECK(t.up == 1);
    CHECK(t.down == 0);
    CHECK(t.stale == 3);
    b.put("/g/votes/t1/b", "up", 21);
    t = b.tally("t1");
    CHECK(t.up == 2);

    // a's lease expires: record and votes deleted
    b.erase("/g/nodes/a");
    CHECK(b.tally("t1").up == 1);
    CHECK(b.tally("t1").stale == 3);
    b.erase("/g/votes/t1/a");
    CHECK(b.tally("t1").stale == 2);
    CHECK(b.vote_count() == 3);

    auto votes = b.votes("t1");
    REQUIRE(votes.size() == 3);
    CHECK(votes[0].node == "b");
    CHECK(votes[0].fresh);
    CHECK(votes[0].up);

    // a resync forgets everything and marks every target dirty
    b.take_dirty();
    b.clear();
    CHECK(b.take_dirty() == std::vector<std::string>{"t1"});
    CHECK(b.members().empty());
    CHECK(b.tally("t1").voters() == 0);
    CHECK_FALSE(b.put("/g/overrides/x", "{}", 0));  // not the book's
}

TEST_CASE("vote book + rule: a cut view, a dead backend, a node that leaves") {
    VoteBook b(Keys("/g/"));
    for (auto n : {"n1", "n2", "n3"}) b.put(std::string("/g/nodes/") + n, NodeInfo{}.to_json(), 1);
    b.put("/g/votes/t/n1", "down", 1);  // n1 cannot reach the backend
    b.put("/g/votes/t/n2", "up", 1);
    b.put("/g/votes/t/n3", "up", 1);
    CHECK(decide(rule("majority"), b.tally("t")) == FleetVerdict::Up);
    CHECK(decide(rule("all"), b.tally("t")) == FleetVerdict::Down);
    b.erase("/g/nodes/n2");
    b.erase("/g/votes/t/n2");
    CHECK(decide(rule("majority", 3), b.tally("t")) == FleetVerdict::NoQuorum);
}

TEST_CASE("view: probe assignment falls back to everything when this node is unknown") {
    View v;
    CHECK(v.assigned("t", 2));
    v.probing_hashes = {rendezvous::hash("a"), rendezvous::hash("b"), rendezvous::hash("c")};
    v.self_index = 0;
    int mine = 0;
    for (int i = 0; i < 300; ++i) mine += v.assigned("t" + std::to_string(i), 1) ? 1 : 0;
    CHECK(mine > 50);
    CHECK(mine < 150);
    CHECK(v.assigned("t", 0));
    CHECK(v.target("t").verdict == FleetVerdict::NoQuorum);
}

TEST_CASE("etcd helpers: base64 and prefix ends") {
    using namespace gslbd::cluster::etcd;
    for (std::string s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar",
                                                  std::string("\0\xff\x10", 3)})
        CHECK(base64_decode(base64_encode(s)) == s);
    CHECK(base64_encode("foobar") == "Zm9vYmFy");
    CHECK(base64_encode("fo") == "Zm8=");
    CHECK_THROWS_AS(base64_decode("Zm9v*"), Error);
    CHECK(prefix_end("/g/") == "/g0");
    CHECK(prefix_end(std::string("a\xff", 2)) == "b");
    CHECK(prefix_end("") == std::string(1, '\0'));
    CHECK_THROWS_AS(Client(Options{}), std::invalid_argument);
}
