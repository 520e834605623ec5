#!/usr/bin/env bash
# The whole test run (CI runs exactly this):
#   1. `build`: every suite (unit, fuzz corpus replay, integration with the real daemon)
#   2. `build-fuzz` (clang, ASan + UBSan, libFuzzer coverage; scripts/fuzz.sh --build-all):
#      the unit, integration and dpdk suites under the sanitizers, then every libFuzzer target
#      for 5 s. One build serves both, which keeps CI's compile time to two builds.
#   3. a 3-minute soak of the `build` daemon (scripts/soak.sh)
# Exits non-zero when any step fails; prints a summary at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh

declare -a results=()
declare -a failures=() # which tests failed, and pytest's one-line reasons, for the summary
failed=0
passed_tests=0
failed_tests=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# meson test with its per-suite counts added to the totals printed at the end
mtest() {
  local rc=0
  meson test "$@" 2>&1 | tee "$log" || rc=$?
  local ok fail
  ok=$(awk '/^Ok:/ {print $2}' "$log" | tail -1)
  fail=$(awk '/^(Fail|Timeout|Unexpected Pass):/ {n += $NF} END {print n + 0}' "$log")
  local line
  while IFS= read -r line; do
    failures+=("${line:0:240}")
  done < <(grep -E '^ *[0-9]+/[0-9]+ .* (FAIL|TIMEOUT|UNEXPECTEDPASS) |^(FAILED|ERROR) ' "$log" | awk '!seen[$0]++' || true)
  passed_tests=$((passed_tests + ${ok:-0}))
  failed_tests=$((failed_tests + fail))
  return "$rc"
}
step() {
  local name=$1
  shift
  echo "=== $name"
  local start=$SECONDS
  if "$@"; then
    results+=("ok    $name ($((SECONDS - start)) s)")
  else
    results+=("FAIL  $name ($((SECONDS - start)) s)")
    failed=1
  fi
}

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

step "build (debugoptimized)" ./scripts/build.sh build
if [[ $failed -eq 0 ]]; then
  step "meson test: all suites" mtest -C build --print-errorlogs --num-processes 2
fi
step "build (clang, asan+ubsan, libFuzzer: build-fuzz)" ./scripts/fuzz.sh --build-all
if [[ ${results[-1]} == ok* ]]; then
  step "meson test: unit, integration and dpdk suites under sanitizers" \
    mtest -C build-fuzz --suite unit --suite integration --suite dpdk --print-errorlogs --num-processes 2
  step "fuzz: every target for 5 s (build-fuzz)" ./scripts/fuzz.sh --seconds 5
fi
if [[ ${results[0]} == ok* ]]; then
  step "soak: 3 minutes under load, flapping, reloads, overrides" ./scripts/soak.sh --minutes 3
fi

echo
echo "=== summary"
printf '%s\n' "${results[@]}"
echo "tests: ${passed_tests} passed, ${failed_tests} failed"
if [[ ${#failures[@]} -gt 0 ]]; then
  echo "failed:"
  printf '  %s\n' "${failures[@]}"
fi
if [[ $failed -ne 0 ]]; then
  echo "test.sh: FAILED"
  exit 1
fi
echo "test.sh: all steps passed"
