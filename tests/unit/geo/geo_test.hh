#pragma once
// Helpers shared by the geo tests (each .cc says `using namespace geo_test;`).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "geo/geo.hh"

namespace geo_test {

using gslbd::config::ConfigError;
using gslbd::config::LocationEntry;
using gslbd::util::IpAddr;
using gslbd::util::IpPrefix;

/// An environment variable set by meson test (the test databases); fails the test if unset.
inline std::string env(const char* name) {
    const char* v = std::getenv(name);
    INFO("environment variable " << name << " (set by meson test)");
    REQUIRE(v != nullptr);
    REQUIRE(*v != '\0');
    return v;
}

inline IpAddr ip(const char* text) {
    auto a = IpAddr::parse(text);
    REQUIRE(a.has_value());
    return *a;
}

/// The network of `len` bits around `a`.
inline IpPrefix block(const IpAddr& a, unsigned len) {
    return IpPrefix{a.masked(len), static_cast<std::uint8_t>(len)};
}

/// Whether the two networks share an address.
inline bool intersects(const IpPrefix& a, const IpPrefix& b) {
    if (a.addr.family != b.addr.family) return false;
    unsigned m = std::min(a.len, b.len);
    return a.addr.masked(m) == b.addr.masked(m);
}

}  // namespace geo_test
