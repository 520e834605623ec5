// Streamed answers (ctl/stream.hh): write_json writes exactly what json::dump(2) writes,
// deferred arrays included; ChunkWriter hands out bounded chunks and stops when the sink does.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "ctl/stream.hh"

namespace {

using gslbd::ctl::ArrayFiller;
using gslbd::ctl::ChunkWriter;
using gslbd::ctl::ElementFn;
using gslbd::ctl::write_json;
using nlohmann::json;

std::string streamed(const json& j, const gslbd::ctl::DeferredFn& deferred = nullptr,
                     std::size_t chunk = 7) {
    std::string out;
    ChunkWriter w(
        [&out](const char* d, std::size_t n) {
            out.append(d, n);
            return true;
        },
        chunk);
    write_json(w, j, deferred);
    w.flush();
    return out;
}

json sample_doc() {
    return json::parse(R"({
        "generation": 12, "ready": true, "config": "/etc/gslbd/gslbd.yml", "state_file": "",
        "reloads": {"ok": 1, "failed": 0, "last_ok": true, "last_at": "", "last_error": ""},
        "zones": [
            {"name": "a.test.", "policy": "a.yml", "records": [], "serial": 1, "source": "config"},
            {"name": "b.test.", "policy": "b \"q\" \\ é", "records": [], "serial": 2}
        ],
        "empty_object": {}, "nested": [[], [1, 2.5, -3, null, false], {"x": {"y": []}}],
        "text": "tab\there, newline\n, control \u0001"
    })");
}

json record(int i) {
    return {{"name", "r" + std::to_string(i) + ".a.test."},
            {"mode", "failover"},
            {"ttl", 30},
            {"backends",
             json::array({{{"address", "192.0.2.1"}, {"weight", i}, {"tags", json::array()}},
                          {{"address", "2001:db8::1"}, {"up", false}}})}};
}

}  // namespace

TEST_CASE("write_json writes what dump(2) writes") {
    const json doc = sample_doc();
    CHECK(streamed(doc) == doc.dump(2));
    CHECK(streamed(json::object()) == json::object().dump(2));
    CHECK(streamed(json::array()) == json::array().dump(2));
    CHECK(streamed(json(42)) == "42");
    CHECK(streamed(doc, nullptr, 1 << 20) == doc.dump(2));
}

TEST_CASE("deferred arrays are written as if they had been filled first") {
    json doc = sample_doc();
    // the filled document, for comparison
    json filled = doc;
    for (int i = 0; i < 5; ++i) filled["zones"][0]["records"].push_back(record(i));
    const json* target = &doc["zones"][0]["records"];
    const json* other = &doc["zones"][1]["records"];  // deferred, but empty
    const ArrayFiller five = [](const ElementFn& element) {
        for (int i = 0; i < 5; ++i) element(record(i));
    };
    const ArrayFiller none = [](const ElementFn&) {};
    const auto deferred = [&](const json* node) -> const ArrayFiller* {
        return node == target ? &five : node == other ? &none : nullptr;
    };
    CHECK(streamed(doc, deferred) == filled.dump(2));
    CHECK(streamed(doc, deferred, 1 << 20) == filled.dump(2));
    // the document itself is unchanged: its arrays are still empty
    CHECK(doc["zones"][0]["records"].empty());
}

TEST_CASE("invalid UTF-8 is replaced, not thrown") {
    const json j = {{"reason", std::string("bad \xff byte")}};
    CHECK(streamed(j) == j.dump(2, ' ', false, json::error_handler_t::replace));
}

TEST_CASE("ChunkWriter: bounded chunks, and a refusing sink stops the writer") {
    std::vector<std::size_t> sizes;
    {
        ChunkWriter w(
            [&sizes](const char*, std::size_t n) {
                sizes.push_back(n);
                return true;
            },
            100);
        for (int i = 0; i < 1000; ++i) w.write("0123456789");
        w.flush();
        CHECK(w.written() == 10000);
    }
    REQUIRE(!sizes.empty());
    for (std::size_t n : sizes) CHECK(n <= 110);  // the chunk plus at most one write

    int calls = 0;
    ChunkWriter w(
        [&calls](const char*, std::size_t) {
            ++calls;
            return false;
        },
        16);
    CHECK_THROWS_AS(
        [&] {
            for (int i = 0; i < 100; ++i) w.write("0123456789");
        }(),
        gslbd::ctl::StreamAborted);
    CHECK(calls == 1);
}

TEST_CASE("ChunkWriter: a client that reads too slowly is cut off") {
    using namespace std::chrono_literals;
    int calls = 0;
    ChunkWriter w(
        [&calls](const char*, std::size_t) {
            ++calls;
            std::this_thread::sleep_for(20ms);  // 100 bytes per 20 ms: 5 KB/s
            return true;
        },
        100, gslbd::ctl::MinPace{30ms, 1e6});
    CHECK_THROWS_AS(
        [&] {
            for (int i = 0; i < 1000; ++i) w.write("0123456789");
        }(),
        gslbd::ctl::StreamAborted);
    CHECK(calls >= 1);
    CHECK(calls < 10);
    // a fast reader is never cut off
    ChunkWriter fast([](const char*, std::size_t) { return true; }, 100,
                     gslbd::ctl::MinPace{1s, 1e3});  // 1 s plus 10 s for 10,000 bytes
    for (int i = 0; i < 1000; ++i) fast.write("0123456789");
    fast.flush();
    CHECK(fast.written() == 10000);
}
