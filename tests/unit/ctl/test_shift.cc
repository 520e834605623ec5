// Traffic shifts (ctl/shift.hh) on their own: the documented function, the steps over a
// clock the test holds, what is laid over a Health, and the API request's checks.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "ctl/api_request.hh"
#include "ctl/control.hh"
#include "ctl/shift.hh"

namespace {

using namespace gslbd;

/// w.test.: `mode` (weighted), 192.0.2.1 (tag t) and 192.0.2.2, weight 1 each.
std::shared_ptr<const gslb::Topology> topology(bool with_first = true,
                                               const char* mode = "weighted") {
    std::string tmpl = (std::filesystem::temp_directory_path() / "gslbd-shift-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    const std::filesystem::path dir = tmpl;
    std::ofstream(dir / "gslbd.yml") << "listen:\n  - 127.0.0.1\n"
                                        "zones:\n  - name: test.\n    policy: zone.yml\n"
                                        "    ns:\n      - name: ns1.test.\n"
                                        "        addresses: [127.0.0.1]\n";
    std::ofstream(dir / "zone.yml")
        << "records:\n  w.test.:\n    mode: " << mode << "\n    backends:\n"
        << (with_first ? "      - {address: 192.0.2.1, tags: [t]}\n" : "")
        << "      - {address: 192.0.2.2}\n";
    auto topo = ctl::load_topology((dir / "gslbd.yml").string());
    std::filesystem::remove_all(dir);
    return topo;
}

ctl::ShiftParams params(std::uint32_t share, std::uint32_t step, double interval) {
    ctl::ShiftParams p;
    p.selector.tags = {"t"};
    p.share = share;
    p.step = step;
    p.interval = interval;
    return p;
}

gslb::Health laid(ctl::ShiftBook& book, const std::shared_ptr<const gslb::Topology>& topo,
                  double now) {
    gslb::Health h;
    h.up.assign(topo->backend_count, 1);
    book.apply(topo, h, now);
    return h;
}

}  // namespace

TEST_CASE("shift: the documented function") {
    // two backends of weight 1: 20 % moved -> 67 % of the weight -> 40.1 % of the answers
    CHECK(ctl::shift_percent(20, 1, 1) == 67);
    CHECK(ctl::shift_percent(50, 1, 1) == 33);
    // a share of 1/4 halved: 0.5 * 3 / (3 + 0.5) = 0.43, and 0.43 / 3.43 = 0.125
    CHECK(ctl::shift_percent(50, 1, 3) == 43);
    CHECK(ctl::shift_percent(100, 1, 1) == 0);
    CHECK(ctl::shift_percent(0, 1, 1) == 100);
    CHECK(ctl::shift_percent(40, 1, 0) == 100);   // nowhere to go
    CHECK(ctl::shift_percent(99, 1000, 1) == 1);  // never 0 before the last step
    ctl::ShiftParams p = params(80, 20, 2);
    CHECK(ctl::shift_steps(p) == 4);
    CHECK(ctl::shift_moved(1, p) == 20);
    CHECK(ctl::shift_moved(5, p) == 80);
    p.step = 30;
    CHECK(ctl::shift_steps(p) == 3);  // 30, 60, 80
    CHECK(ctl::shift_moved(3, p) == 80);
}

TEST_CASE("shift: steps over time, pause, resume, abort, and what reaches the Health") {
    const auto topo = topology();
    ctl::ShiftBook book;
    const std::uint64_t id = book.start(params(100, 50, 2), topo, 100.0);
    CHECK(book.live());
    CHECK(book.next_due(100.0) == Approx(2.0));
    // step 1 at once: 50 % moved, 33 % of the weight, in the ramp byte the workers read
    gslb::Health h = laid(book, topo, 100.0);
    REQUIRE(h.ramp.size() == topo->backend_count);
    CHECK(h.ramp[0] == 33);
    CHECK(h.ramp[1] == 0);
    CHECK(h.shift[0] == 33);
    CHECK(h.shift[1] == gslb::Health::kNoShift);
    CHECK_FALSE(book.advance(101.9));
    // paused at 101: the second of the step left is kept while the clock stands still
    book.pause(id, 101.0);
    CHECK_FALSE(book.advance(110.0));
    CHECK(laid(book, topo, 110.0).ramp[0] == 33);
    book.resume(id, 110.0);
    CHECK(book.next_due(110.0) == Approx(1.0));
    CHECK(book.advance(111.0));
    // 100 %: out, as drained; the ramp is left alone
    h = laid(book, topo, 111.0);
    CHECK(h.admin[0] == gslb::AdminState::Drained);
    CHECK(h.ramp.empty());
    const auto j = book.to_json(id, 112.0);
    CHECK(j["state"] == "holding");
    CHECK(j["steps"].size() == 4);  // 50 running, 50 paused, 50 running, 100 holding
    CHECK_THROWS_AS(book.resume(id, 112.0), ctl::RequestError);
    // a second shift over the same backend is refused
    try {
        book.start(params(100, 10, 1), topo, 112.0);
        FAIL("overlap accepted");
    } catch (const ctl::RequestError& e) {
        CHECK(e.status() == 409);
    }
    book.abort(id, 113.0);
    CHECK_FALSE(book.live());
    h = laid(book, topo, 113.0);
    CHECK(h.admin.empty());
    CHECK(h.ramp.empty());
    CHECK(h.shift.empty());
}

TEST_CASE("shift: a drill restores itself; a reload that drops the target ends a shift") {
    const auto topo = topology();
    ctl::ShiftBook book;
    ctl::ShiftParams p = params(100, 10, 1);
    p.restore_after = 5;
    const std::uint64_t drill = book.start(p, topo, 0.0);
    book.pause(drill, 1.0);  // paused or not, a drill ends on time
    CHECK(book.next_due(1.0) == Approx(4.0));
    CHECK(book.advance(5.0));
    CHECK(book.to_json(drill, 5.0)["state"] == "restored");
    const std::uint64_t id = book.start(params(100, 10, 60), topo, 10.0);
    // the same config loaded again: a new topology, the same target, the shift goes on
    const auto again = topology();
    CHECK(laid(book, again, 11.0).ramp[0] != 0);
    CHECK(book.to_json(id, 11.0)["state"] == "running");
    const auto without = topology(false);
    gslb::Health h = laid(book, without, 12.0);
    CHECK(h.ramp.empty());
    const auto j = book.to_json(id, 12.0);
    CHECK(j["state"] == "ended");
    CHECK(j["reason"].get<std::string>().find("reload") != std::string::npos);
}

TEST_CASE("shift: the API request is checked field by field") {
    using nlohmann::json;
    const ctl::ShiftParams p = ctl::parse_shift_request(json{{"tag", "eu"},
                                                             {"share", 60},
                                                             {"step", 20},
                                                             {"interval", "1500ms"},
                                                             {"restore_after", "2m"}});
    CHECK(p.selector.tags == std::vector<std::string>{"eu"});
    CHECK(p.share == 60);
    CHECK(p.step == 20);
    CHECK(p.interval == Approx(1.5));
    CHECK(p.restore_after == Approx(120));
    CHECK(ctl::parse_shift_request(json{{"record", "W.Test"}}).selector.record == "w.test.");
    CHECK(ctl::parse_shift_request(json{{"record", "w.test."}, {"interval", 2}}).interval == 2);
    for (const json& bad :
         {json{{"share", 50}}, json{{"tag", "eu"}, {"step", 0}},
          json{{"tag", "eu"}, {"share", 101}}, json{{"tag", "eu"}, {"interval", "soon"}},
          json{{"tag", "eu"}, {"interval", 0.01}}, json{{"tag", "eu"}, {"restore_after", "30d"}},
          json{{"tag", "eu"}, {"speed", 3}}, json::array()}) {
        CAPTURE(bad.dump());
        try {
            ctl::parse_shift_request(bad);
            FAIL("accepted");
        } catch (const ctl::RequestError& e) {
            CHECK(e.status() == 400);
        }
    }
}

TEST_CASE("shift: a mode that picks by client moves a share of its clients") {
    for (const char* mode : {"failover", "geoip", "roundrobin"}) {
        INFO(mode);
        const auto topo = topology(true, mode);
        ctl::ShiftBook book;
        const std::uint64_t id = book.start(params(100, 30, 2), topo, 100.0);
        // step 1: 30 % of the clients treat the target as unavailable; its weight stays
        gslb::Health h = laid(book, topo, 100.0);
        REQUIRE(h.split.size() == topo->backend_count);
        CHECK(h.split[0] == 30);
        CHECK(h.split[1] == 0);
        CHECK(h.shift[0] == 70);  // what it keeps: 70 % of its clients
        CHECK(h.ramp.empty());
        CHECK(h.admin[0] == gslb::AdminState::Enabled);
        auto j = book.to_json(id, 100.5);
        CHECK(!j.contains("warnings"));
        CHECK(j["steps"][0]["records"][0]["moved_by"] == "clients");
        CHECK(j["steps"][0]["records"][0]["expected_target_share"].is_null());
        CHECK(book.advance(102.0));
        CHECK(laid(book, topo, 102.0).split[0] == 60);
        // 100 %: drained, no split left
        CHECK(book.advance(106.0));
        h = laid(book, topo, 106.0);
        CHECK(h.admin[0] == gslb::AdminState::Drained);
        CHECK(h.split.empty());
        // nowhere to move to (the other backend down): the clients keep the target
        book.abort(id, 107.0);
        book.start(params(100, 30, 2), topo, 108.0);
        gslb::Health down;
        down.up.assign(topo->backend_count, 1);
        down.up[1] = 0;
        book.apply(topo, down, 108.0);
        CHECK(down.split.empty());
        CHECK(down.shift[0] == 100);
    }
}

TEST_CASE("shift: kept documents restore at the step their schedule says now") {
    const auto topo = topology();
    ctl::ShiftBook book;
    // started at steady 100 = wall 5000; 25 % every 10 s up to 100 %
    const std::uint64_t id = book.start(params(100, 25, 10), topo, 100.0, 5000.0);
    const auto out = book.take_outbox();
    REQUIRE(out.size() == 1);
    CHECK(out[0].first == book.uid(id));
    REQUIRE(out[0].second);
    const auto kept = book.durable();
    REQUIRE(kept.size() == 1);
    CHECK(kept[0]["state"] == "running");
    CHECK(kept[0]["started"].get<double>() == Approx(5000.0));

    // a restart 25 s later (another steady clock): steps 1 + 2 taken meanwhile = 3 (75 %)
    ctl::ShiftBook after;
    auto log = after.restore(kept, topo, 7.0, 5025.0);
    REQUIRE(log.size() == 1);
    auto j = after.to_json(7.0)["shifts"][0];
    CHECK(j["uid"] == book.uid(id));
    CHECK(j["state"] == "running");
    CHECK(j["steps_taken"] == 3);
    CHECK(j["next_step_in_s"].get<double>() == Approx(5.0));
    CHECK(after.advance(12.0));
    CHECK(after.to_json(12.0)["shifts"][0]["state"] == "holding");

    // paused: the restart keeps the step and the time left
    book.pause(id, 105.0, 5005.0);
    ctl::ShiftBook paused;
    paused.restore(book.durable(), topo, 0.0, 9000.0);
    j = paused.to_json(0.0)["shifts"][0];
    CHECK(j["state"] == "paused");
    CHECK(j["steps_taken"] == 1);
    CHECK(j["next_step_in_s_after_resume"].get<double>() == Approx(5.0));

    // a drill whose restore time passed while down is not taken; a bad entry is skipped
    ctl::ShiftParams p = params(100, 50, 10);
    p.restore_after = 30;
    ctl::ShiftBook drills;
    drills.start(p, topo, 0.0, 1000.0);
    auto list = drills.durable();
    list.push_back({{"uid", "x"}, {"share", 500}});
    ctl::ShiftBook later;
    log = later.restore(list, topo, 0.0, 1031.0);
    CHECK(log.size() == 2);
    CHECK_FALSE(later.live());
}

TEST_CASE("shift: the fleet's documents are followed, and their removal aborts") {
    const auto topo = topology();
    ctl::ShiftBook one, two;
    const std::uint64_t id = one.start(params(100, 50, 10), topo, 0.0, 1000.0);
    auto docs = [&] {
        std::map<std::string, std::string> m;
        for (const auto& [uid, doc] : one.take_outbox())
            if (doc) m[uid] = *doc;
        return m;
    };
    auto fleet = docs();
    std::vector<std::string> log;
    CHECK(two.adopt(fleet, topo, 50.0, 1002.0, log));
    auto j = two.to_json(50.0)["shifts"][0];
    CHECK(j["state"] == "running");
    CHECK(j["next_step_in_s"].get<double>() == Approx(8.0));
    CHECK_FALSE(two.adopt(fleet, topo, 51.0, 1003.0, log));  // the same: nothing changes
    one.pause(id, 4.0, 1004.0);
    fleet = docs();
    CHECK(two.adopt(fleet, topo, 52.0, 1004.0, log));
    CHECK(two.to_json(52.0)["shifts"][0]["state"] == "paused");
    CHECK(two.adopt({}, topo, 53.0, 1005.0, log));  // removed from the fleet: aborted
    j = two.to_json(53.0)["shifts"][0];
    CHECK(j["state"] == "aborted");
    CHECK_FALSE(two.live());
    // a document that does not read is ignored, never taken
    CHECK_FALSE(two.adopt({{"bad", "{not json"}}, topo, 54.0, 1006.0, log));
}
