#include <catch2/catch.hpp>

#include <string>

#include "dns/response.hh"
#include "wire.hh"

using namespace gslbd::dns;
using namespace wire;

namespace {

/// name_from_text as bytes; empty on error.
Bytes from_text(std::string_view t) {
    std::uint8_t buf[kMaxNameWire];
    const std::size_t n = name_from_text(t, buf);
    return Bytes(buf, buf + n);
}

std::string to_text(const Bytes& w, std::size_t cap = 1024) {
    std::string out(cap, '#');
    const std::size_t n = name_to_text(w.data(), w.size(), out.data(), cap);
    if (n == 0) return "<error>";
    CHECK(out[n] == '\0');
    return out.substr(0, n);
}

}  // namespace

TEST_CASE("name_from_text: accepted forms") {
    const Bytes www = labels({"www", "example", "com"});
    CHECK(from_text("www.example.com.") == www);
    CHECK(from_text("www.example.com") == www);
    CHECK(from_text("WWW.Example.COM") == www);
    CHECK(from_text(".") == hex("00"));
    CHECK(from_text("a") == hex("01 61 00"));
    CHECK(from_text("a\\.b.c") == hex("03 61 2e 62 01 63 00"));
    CHECK(from_text("\\065\\000b.") == hex("03 61 00 62 00"));  // \065 'A' is lowered too
    CHECK(from_text("a\\\\b") == hex("03 61 5c 62 00"));
    CHECK(from_text("\\255") == hex("01 ff 00"));
    CHECK(from_text(std::string(63, 'x')).size() == 65);
}

TEST_CASE("name_from_text: length limits at the boundary") {
    // 4 labels: 63+63+63+61 chars -> 64*3 + 62 + 1 = 255 wire bytes.
    const std::string l63(63, 'a');
    const std::string ok = l63 + "." + l63 + "." + l63 + "." + std::string(61, 'b');
    CHECK(from_text(ok).size() == 255);
    CHECK(from_text(ok + ".").size() == 255);
    CHECK(from_text(ok + "b").empty());   // 256
    CHECK(from_text(ok + ".c").empty());  // 257
}

TEST_CASE("name_from_text: rejected forms") {
    CHECK(from_text("").empty());
    CHECK(from_text("..").empty());
    CHECK(from_text(".com").empty());
    CHECK(from_text("a..b").empty());
    CHECK(from_text("a.b..").empty());
    CHECK(from_text(std::string(64, 'x')).empty());
    CHECK(from_text(std::string(64, 'x') + ".com").empty());
    CHECK(from_text("a\\").empty());
    CHECK(from_text("a\\25").empty());
    CHECK(from_text("a\\256").empty());
    CHECK(from_text("a\\2x5").empty());
}

TEST_CASE("name_to_text") {
    CHECK(to_text(labels({"www", "example", "com"})) == "www.example.com.");
    CHECK(to_text(hex("00")) == ".");
    CHECK(to_text(hex("03 61 2e 62 00")) == "a\\046b.");
    CHECK(to_text(hex("04 61 20 5c ff 00")) == "a\\032\\092\\255.");
    CHECK(to_text(hex("02 41 62 00")) == "Ab.");  // case kept
    // round trip through both helpers
    CHECK(from_text(to_text(hex("04 61 2e 00 7f 01 62 00"))) == hex("04 61 2e 00 7f 01 62 00"));
    // errors: compression pointer, length mismatch, label past the end, buffer too small
    CHECK(to_text(hex("c0 0c")) == "<error>");
    CHECK(to_text(hex("01 61 00 00")) == "<error>");
    CHECK(to_text(hex("05 61 00")) == "<error>");
    CHECK(to_text(hex("01 61")) == "<error>");
    CHECK(to_text(labels({"abc"}), 4) == "<error>");  // "abc." needs 5 with the NUL
    CHECK(to_text(labels({"abc"}), 5) == "abc.");
}
