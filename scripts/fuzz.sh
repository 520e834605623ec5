#!/usr/bin/env bash
# Usage: scripts/fuzz.sh [--minutes N | --seconds N] [--jobs N] [TARGET...]
#        scripts/fuzz.sh --build-all
# Builds the libFuzzer targets (clang, ASan + UBSan, every library instrumented) in
# build-fuzz and fuzzes each TARGET (default: all) for the given time (default 10
# minutes each), starting from its committed seed corpus (tests/fuzz/corpus/TARGET).
# --build-all builds everything in build-fuzz (daemon and tests too) and fuzzes nothing:
# CI runs the unit and integration suites on this sanitizer build, so one clang build
# serves both the sanitizer tests and the fuzzing.
# New inputs go to build-fuzz/corpus/TARGET (not committed: add the ones worth keeping by
# hand); crashes, leaks and timeouts to build-fuzz/findings/TARGET/. Exits non-zero when
# any target found something. Appends one line per target run to
# build-fuzz/fuzz-log.tsv: date, target, seconds, executions, result.
# CI (scripts/test.sh) runs `scripts/fuzz.sh --build-all`, then `scripts/fuzz.sh --seconds 5`.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=600
jobs=1
targets=()
build_all=0
while (($#)); do
  case $1 in
    --minutes) seconds=$(($2 * 60)); shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --build-all) build_all=1; shift ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done

builddir=build-fuzz
if [[ ! -f $builddir/build.ninja ]]; then
  # -O1 and line tables only: about as fast to fuzz as -O2 -g, much quicker to build (CI
  # builds this from scratch), and stack traces still name file and line.
  CXX=${CXX_FUZZ:-clang++} meson setup "$builddir" --wrap-mode=nodownload \
    -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbench=disabled -Dbuildtype=plain -Doptimization=1 -Dcpp_args=-gline-tables-only \
    >/dev/null
fi
if ((build_all)); then
  exec ninja -C "$builddir"
fi
all=$(cd tests/fuzz/corpus && ls)
if ((${#targets[@]} == 0)); then
  read -r -a targets <<<"$(echo $all)"
fi
have=$(ninja -C "$builddir" -t targets all)
bins=()
for t in "${targets[@]}"; do
  if [[ ! -d tests/fuzz/corpus/$t ]]; then
    echo "fuzz.sh: no target '$t' (have: $(echo $all))" >&2
    exit 2
  fi
  # DPDK's target exists only when libdpdk was found
  if grep -q "^tests/fuzz/fuzz_$t:" <<<"$have"; then
    bins+=("tests/fuzz/fuzz_$t")
  fi
done
ninja -C "$builddir" "${bins[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
for b in "${bins[@]}"; do
  t=${b#tests/fuzz/fuzz_}
  corpus=$builddir/corpus/$t
  findings=$builddir/findings/$t
  mkdir -p "$corpus" "$findings"
  log=$builddir/fuzz-$t.log
  echo "=== fuzz $t for ${seconds} s"
  rc=0
  par=()
  if ((jobs > 1)); then par=(-jobs="$jobs" -workers="$jobs"); fi
  # -timeout: an input that takes 10 s is a hang; -rss_limit_mb: growth is a finding.
  "$builddir/$b" "$corpus" "tests/fuzz/corpus/$t" -max_total_time="$seconds" \
    -timeout=10 -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 \
    "${par[@]}" -artifact_prefix="$findings/" >"$log" 2>&1 || rc=$?
  # with -jobs libFuzzer copies every job's log into its own output (after "Job N exited"):
  # the per-job files are duplicates, and counting them too would double the executions
  if ((jobs > 1)); then rm -f fuzz-*.log; fi
  execs=$(awk '/stat::number_of_executed_units:/ {n += $2} END {print n + 0}' "$log")
  result=ok
  if ((rc != 0)); then
    result=FINDING
    failed=1
    grep -E "ERROR|SUMMARY|Test unit written|runtime error" "$log" | head -20 || true
    echo "fuzz.sh: $t: finding (log $log, inputs in $findings)"
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$t" "$seconds" "$execs" "$result" \
    >>"$builddir/fuzz-log.tsv"
  echo "$t: $execs executions in ${seconds} s: $result"
done
exit "$failed"
