#pragma once
/// Test-only selection modes registered by test_policies.cc (linked into unit_gslb and
/// unit_pipeline).
#include <string_view>

#include "gslb/policy.hh"

inline constexpr std::string_view kTestAll = "test-all";
inline constexpr std::string_view kTestByClient = "test-by-client";
inline constexpr std::string_view kTestPicky = "test-picky";
