#!/usr/bin/env bash
# bench-smoke for the load driver: gen.py writes the data, run.py --smoke runs the gslbd row
# for one 1 s step at 2,000 qps over loopback (dnsperf) and writes latest.{json,md} into a
# temporary folder. Asserts the driver ran end to end and gslbd answered; measures nothing
# (benchmarks are never timed assertions). Usage: smoke.sh GSLBD_BINARY
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:?usage: smoke.sh GSLBD_BINARY}
PY=/usr/bin/python3  # Debian's, with python3-dnspython
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
command -v dnsperf >/dev/null || fail "dnsperf not installed (scripts/setup.sh installs it)"
work=$(mktemp -d /tmp/gslbd-bench-smoke.XXXXXX)
trap 'rm -rf "$work"' EXIT
# ports 5591..5595: away from the integration tests and from scripts/bench.sh (5391..)
"$PY" "$SRC/bench/load/gen.py" "$work/gen" --port-base 5590 >"$work/gen.log" 2>&1 ||
  { cat "$work/gen.log"; fail "gen.py failed"; }
"$PY" "$SRC/bench/load/run.py" --gen "$work/gen" --gslbd "$BIN" --out "$work/results" \
  --work "$work/run" --smoke --servers gslbd --no-dpdk --skip-callgrind >"$work/run.log" 2>&1 ||
  { cat "$work/run.log"; fail "run.py --smoke failed"; }
cat "$work/run.log"
[[ -s $work/results/latest.md ]] || fail "no latest.md written"
"$PY" - "$work/results/latest.json" <<'PYEOF' || fail "latest.json does not show the gslbd row answering"
import json, sys
res = json.load(open(sys.argv[1]))
assert res["mode"] == "smoke", res["mode"]
row = next(r for r in res["servers"] if r["name"] == "gslbd")
x = row["load"]["lo"]["cache"]
step = x["steps"][0]
print(f"gslbd lo/cache: offered {step['offered']}, sent {step['sent']}, answered {step['completed']}")
assert step["sent"] > 0 and step["completed"] >= 0.99 * step["sent"], step
assert x["max_rate_answered_qps"] > 0, x
assert row["latency"]["cache"].get("samples", 0) > 0, row["latency"]
PYEOF
echo "PASS: load driver smoke run"
