// Dynamic blocks (edge/dynblock.hh): the sliding window, block and expiry, actions, exempt
// prefixes, slot reuse, and the control side's merge and lift over several workers' tables.
#include <catch2/catch.hpp>

#include "edge/dynblock.hh"

using namespace gslbd;
using namespace gslbd::edge;

namespace {

util::IpAddr ip(const char* t) {
    return *util::IpAddr::parse(t);
}

DynRules rules(std::uint32_t qps, BlockAction action = BlockAction::Drop, std::uint32_t window = 2,
               std::uint32_t duration = 5) {
    DynRules r;
    r.on = true;
    r.window = window;
    r.thresholds[0] = {qps, action, duration};
    r.exempt.freeze();
    return r;
}

struct Worker {
    DynTable table{64};
    std::uint64_t started = 0;
    std::array<std::uint64_t, kBlockReasons> blocked{};
    BlockAction ask(const DynRules& r, const char* src, std::uint32_t now, bool tcp = false,
                    bool any = false) {
        DynSlot* s = table.find(r, ip(src), now);
        if (s == nullptr) return BlockAction::Pass;
        const BlockAction a = table.query(r, *s, any, tcp, now, started, blocked);
        if (a == BlockAction::Pass) table.response(r, *s, false, 50, now, started);
        return a;
    }
};

}  // namespace

TEST_CASE("dynblock: more than rate x window in the window blocks the prefix for duration") {
    const DynRules r = rules(10);
    Worker w;
    for (int i = 0; i < 20; ++i) REQUIRE(w.ask(r, "192.0.2.1", 100) == BlockAction::Pass);
    REQUIRE(w.ask(r, "192.0.2.77", 100) == BlockAction::Drop);  // the 21st, same /24
    REQUIRE(w.started == 1);
    REQUIRE(w.ask(r, "198.51.100.1", 100) == BlockAction::Pass);  // another prefix
    REQUIRE(w.ask(r, "192.0.2.1", 104) == BlockAction::Drop);     // until 105
    REQUIRE(w.blocked[0] == 2);
    // at 105 the block is over; the window (blocked queries counted) has rolled by then
    REQUIRE(w.ask(r, "192.0.2.1", 105) == BlockAction::Pass);
}

TEST_CASE("dynblock: a steady client just below the rate is never blocked") {
    const DynRules r = rules(10, BlockAction::Drop, 3);
    Worker w;
    for (std::uint32_t t = 100; t < 130; ++t)
        for (int i = 0; i < 9; ++i) REQUIRE(w.ask(r, "192.0.2.1", t) == BlockAction::Pass);
    REQUIRE(w.started == 0);
}

TEST_CASE("dynblock: truncate lets TCP through, refuse does not; exempt prefixes pass") {
    DynRules r = rules(1, BlockAction::Truncate);
    r.exempt.add(*util::IpPrefix::parse("203.0.113.0/24"), 1);
    r.exempt.freeze();
    Worker w;
    for (int i = 0; i < 2; ++i) REQUIRE(w.ask(r, "192.0.2.1", 100) == BlockAction::Pass);
    REQUIRE(w.ask(r, "192.0.2.1", 100) == BlockAction::Truncate);
    REQUIRE(w.ask(r, "192.0.2.1", 100, true) == BlockAction::Pass);
    for (int i = 0; i < 50; ++i) REQUIRE(w.ask(r, "203.0.113.9", 100) == BlockAction::Pass);

    const DynRules any = [] {
        DynRules a;
        a.on = true;
        a.thresholds[2] = {1, BlockAction::Refuse, 5};  // ANY
        a.exempt.freeze();
        return a;
    }();
    Worker v;
    for (int i = 0; i < 30; ++i) REQUIRE(v.ask(any, "192.0.2.1", 100) == BlockAction::Pass);
    for (int i = 0; i < 15; ++i) v.ask(any, "192.0.2.1", 100, false, true);
    REQUIRE(v.ask(any, "192.0.2.1", 100, true) == BlockAction::Refuse);
    REQUIRE(v.blocked[2] >= 1);
}

TEST_CASE("dynblock: IPv6 prefixes of the configured length") {
    const DynRules r = rules(1);
    Worker w;
    w.ask(r, "2001:db8:1:200::1", 100);
    w.ask(r, "2001:db8:1:2ff::2", 100);  // same /56
    REQUIRE(w.ask(r, "2001:db8:1:280::3", 100) == BlockAction::Drop);
    REQUIRE(w.ask(r, "2001:db8:1:300::3", 100) == BlockAction::Pass);  // another /56
}

TEST_CASE("dynblock: the board merges workers, lifts one prefix or all, and forgets counts") {
    const DynRules r = rules(1, BlockAction::Refuse, 2, 30);
    Worker a, b;
    BlockBoard& board = BlockBoard::instance();
    const std::uint32_t now = 1000;
    for (int i = 0; i < 3; ++i) {
        a.ask(r, "192.0.2.1", now);
        b.ask(r, "192.0.2.9", now);
        a.ask(r, "198.51.100.1", now);
    }
    auto list = board.list(now);
    REQUIRE(list.size() == 2);
    REQUIRE(list[0].prefix.to_string() == "192.0.2.0/24");
    REQUIRE(list[0].workers == 2);
    REQUIRE(list[0].blocked == 2);
    REQUIRE(list[0].reason == BlockReason::Queries);
    REQUIRE(list[0].action == BlockAction::Refuse);
    REQUIRE(list[0].until == now + 30);
    REQUIRE(list[1].prefix.to_string() == "198.51.100.0/24");
    REQUIRE(board.scan(now) == 2);

    REQUIRE(board.lift(*util::IpPrefix::parse("192.0.2.0/24"), "test", now) == 1);
    REQUIRE(board.lift(*util::IpPrefix::parse("192.0.2.0/24"), "test", now) == 0);
    REQUIRE(board.list(now).size() == 1);
    // the counts are gone: two queries fit in the window again
    REQUIRE(a.ask(r, "192.0.2.1", now) == BlockAction::Pass);
    REQUIRE(a.ask(r, "192.0.2.1", now) == BlockAction::Pass);
    REQUIRE(board.lift(std::nullopt, "test", now) == 1);
    REQUIRE(board.list(now).empty());
    REQUIRE(board.scan(now) == 0);
}

TEST_CASE("dynblock: a full table keeps its blocks and reuses the stalest free account") {
    const DynRules r = rules(1, BlockAction::Drop, 2, 60);
    Worker w;  // 64 slots
    for (int i = 0; i < 3; ++i) w.ask(r, "192.0.2.1", 100);
    REQUIRE(w.ask(r, "192.0.2.1", 100) == BlockAction::Drop);
    char buf[32];
    for (int i = 0; i < 5000; ++i) {
        std::snprintf(buf, sizeof buf, "10.%d.%d.1", i >> 8 & 255, i & 255);
        w.ask(r, buf, 101);
    }
    REQUIRE(w.ask(r, "192.0.2.1", 102) == BlockAction::Drop);
}

TEST_CASE("dynblock: a block that starts and ends between two scans is logged once") {
    const DynRules r = rules(1, BlockAction::Drop, 2, 1);
    Worker w;
    BlockBoard& board = BlockBoard::instance();
    const std::uint32_t now = 3000;
    board.scan(now);
    const std::uint64_t before = board.logged_starts();
    for (int i = 0; i < 3; ++i) w.ask(r, "203.0.113.1", now);
    REQUIRE(w.started == 1);
    // the next scan comes after the block's end (until = now + 1)
    REQUIRE(board.scan(now + 1) == 0);
    REQUIRE(board.logged_starts() == before + 1);
    REQUIRE(board.scan(now + 1) == 0);
    REQUIRE(board.scan(now + 2) == 0);
    REQUIRE(board.logged_starts() == before + 1);
    // a block the scan saw in force is logged once too, and its end not as a short block
    for (int i = 0; i < 9; ++i) w.ask(r, "203.0.113.1", now + 10);
    REQUIRE(board.scan(now + 10) == 1);
    REQUIRE(board.scan(now + 11) == 0);
    REQUIRE(board.scan(now + 12) == 0);
    REQUIRE(board.logged_starts() == before + 2);
}

TEST_CASE("dynblock: a block started from counts a racing lift forgot goes with them") {
    const DynRules r = rules(1, BlockAction::Drop, 2, 30);
    Worker w;
    BlockBoard& board = BlockBoard::instance();
    const std::uint32_t now = 4000;
    for (int i = 0; i < 3; ++i) w.ask(r, "203.0.113.1", now);
    REQUIRE(w.ask(r, "203.0.113.1", now) == BlockAction::Drop);
    // the worker found the slot (old counts) just before the lift, counts the query after it
    DynSlot* s = w.table.find(r, ip("203.0.113.1"), now);
    REQUIRE(board.lift(*util::IpPrefix::parse("203.0.113.0/24"), "test", now) == 1);
    REQUIRE(w.table.query(r, *s, false, false, now, w.started, w.blocked) == BlockAction::Drop);
    // its next query sees the lift: counts and that block are gone
    REQUIRE(w.ask(r, "203.0.113.1", now) == BlockAction::Pass);
    REQUIRE(w.ask(r, "203.0.113.1", now) == BlockAction::Pass);
    REQUIRE(board.list(now).empty());
}
