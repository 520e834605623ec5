// The YAML document reader (lib/config/yaml_doc): node kinds, nulls as yaml-cpp read them,
// positions, anchors, and the parent links that field paths are computed from.
#include <catch2/catch.hpp>

#include <string>

#include "config/yaml_doc.hh"
#include "config/yaml_util.hh"

using namespace gslbd::config;
using yaml::Document;
using yaml::Kind;

namespace {

// The value of `key` in the root mapping.
std::uint32_t get(const Document& d, std::string_view key) {
    const auto kids = d.kids(d.root());
    for (std::size_t i = 0; i + 1 < kids.size(); i += 2)
        if (d.scalar(kids[i]) == key) return kids[i + 1];
    FAIL("no key " << key);
    return 0;
}

}  // namespace

TEST_CASE("yaml_doc: kinds, scalars and positions", "[yaml]") {
    const Document d = Document::parse("a: 1\nb: [x, 'y']\nc:\n  d: text\n");
    REQUIRE(d.node(d.root()).kind == Kind::Map);
    CHECK(d.kids(d.root()).size() == 6);
    const auto a = get(d, "a");
    CHECK(d.node(a).kind == Kind::Scalar);
    CHECK(d.scalar(a) == "1");
    CHECK(d.node(a).line == 0);
    CHECK(d.node(a).column == 3);
    const auto b = get(d, "b");
    REQUIRE(d.node(b).kind == Kind::Seq);
    REQUIRE(d.kids(b).size() == 2);
    CHECK(d.scalar(d.kids(b)[1]) == "y");
    const auto c = get(d, "c");
    REQUIRE(d.node(c).kind == Kind::Map);
    CHECK(d.node(c).line == 3);
    CHECK(d.scalar(d.kids(c)[1]) == "text");
}

TEST_CASE("yaml_doc: nulls are plain untagged ~, null, Null, NULL or empty", "[yaml]") {
    const Document d =
        Document::parse("a:\nb: ~\nc: null\nd: NULL\ne: 'null'\nf: \"\"\ng: !!null x\nh: nul\n");
    for (const char* k : {"a", "b", "c", "d", "g"}) CHECK(d.node(get(d, k)).kind == Kind::Null);
    for (const char* k : {"e", "f", "h"}) CHECK(d.node(get(d, k)).kind == Kind::Scalar);
    CHECK(d.scalar(get(d, "e")) == "null");
    CHECK(d.scalar(get(d, "f")).empty());
}

TEST_CASE("yaml_doc: empty input, first document only, anchors", "[yaml]") {
    const Document empty = Document::parse("");
    CHECK(empty.node(empty.root()).kind == Kind::Null);
    const Document two = Document::parse("a: 1\n---\nb: 2\n");
    CHECK(two.kids(two.root()).size() == 2);
    const Document anch = Document::parse("x: &p {port: 80}\ny: *p\n");
    CHECK(get(anch, "x") == get(anch, "y"));  // an alias is the anchored node itself
    CHECK_THROWS_AS(Document::parse("y: *nowhere\n"), yaml::SyntaxError);
}

TEST_CASE("yaml_doc: syntax errors carry libyaml's position", "[yaml]") {
    try {
        (void)Document::parse("listen: [127.0.0.1:5353\nzones: []\n");
        FAIL("no error");
    } catch (const yaml::SyntaxError& e) {
        CHECK(e.line() == 1);
        CHECK(e.column() == 5);
        CHECK(std::string(e.what()).find("did not find expected") != std::string::npos);
    }
    // Bytes that are not text at all are an error, not a crash.
    CHECK_THROWS_AS(Document::parse(std::string("a: \xff\xfe\x00\x01", 7)), yaml::SyntaxError);
}

TEST_CASE("yaml_doc: a Val's path and position come from the parent links", "[yaml]") {
    const FileName file("z.yml");
    const Document d = Document::parse(
        "records:\n  www.example.:\n    backends:\n      - address: 192.0.2.1\n      - weight:\n");
    const detail::Val root(file, d);
    const auto recs = root.entries()[0].value.entries();
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].key == "www.example.");
    const auto rec = recs[0].value.entries();
    const auto items = rec[0].value.items();
    REQUIRE(items.size() == 2);
    const auto addr = items[0].entries()[0].value;
    CHECK(addr.path() == "records.\"www.example.\".backends[0].address");
    CHECK(addr.pos().line == 4);
    CHECK(addr.pos().column == 18);
    // An empty value is blamed on its key.
    const auto weight = items[1].entries()[0].value;
    CHECK(weight.is_null());
    CHECK(weight.path() == "records.\"www.example.\".backends[1].weight");
    CHECK(weight.pos().line == 5);
    CHECK(weight.pos().column == 9);
}

TEST_CASE("yaml_doc: duplicate keys in a large mapping are found", "[yaml]") {
    std::string text;
    for (int i = 0; i < 1000; ++i) text += "k" + std::to_string(i) + ": 1\n";
    text += "k500: 2\n";
    const FileName file("big.yml");
    const Document d = Document::parse(text);
    const detail::Val root(file, d);
    try {
        (void)root.entries();
        FAIL("no error");
    } catch (const ConfigError& e) {
        CHECK(std::string(e.what()) == "big.yml:1001:1: k500: duplicate key (first at line 501)");
    }
}

TEST_CASE("yaml_doc: every position taken from one file shares its name", "[yaml]") {
    const FileName file("z.yml");
    const Document d = Document::parse("a: 1\nb: [2, 3]\n");
    const detail::Val root(file, d);
    const auto e = root.entries();
    const SourcePos pa = e[0].value.pos(), pb = e[1].value.items()[1].pos();
    CHECK(pa.file == "z.yml");
    CHECK(pb.file == std::string("z.yml"));
    CHECK(&pa.file.str() == &pb.file.str());  // one string, not a copy per position
    CHECK(pb.to_string() == "z.yml:2:8");
    CHECK(SourcePos{}.to_string() == "<config>");
    CHECK(FileName().empty());
}

TEST_CASE("yaml_doc: content_hash sees content, not position", "[yaml]") {
    const FileName file("z.yml");
    auto hash_of = [&](const char* text, std::string_view key) {
        const Document d = Document::parse(text);
        const detail::Val root(file, d);
        for (const auto& e : root.entries())
            if (e.key == key) return e.value.content_hash();
        FAIL("no key " << key);
        return std::uint64_t{0};
    };
    const auto base = hash_of("r: {a: 1, b: [x, y]}\n", "r");
    CHECK(hash_of("q: 0\n\n\nr:\n  a: 1\n  b:\n    - x\n    - y\n", "r") == base);
    CHECK(hash_of("r: {a: 1, b: [x, z]}\n", "r") != base);
    CHECK(hash_of("r: {a: 1, b: x}\n", "r") != hash_of("r: {a: 1, b: [x]}\n", "r"));
    CHECK(hash_of("r: {a: 1, b: [x, y]}\n", "r") != hash_of("r: {b: [x, y], a: 1}\n", "r"));
}
