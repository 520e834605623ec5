#!/usr/bin/env bash
# Usage: scripts/soak.sh [--minutes N | --seconds N] [--qps N] [--builddir DIR] [--out FILE]
# Runs the soak (tests/soak/soak.py; what it does and what fails it is described there and
# in docs/reliability.md) against DIR/apps/gslbd/gslbd (default build, built first):
# dnsperf load, health flapping every second, a reload every 10 s, API overrides every 3 s,
# RSS / fds / threads sampled every second. Default 3 minutes (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."

builddir=build
args=()
while (($#)); do
  case $1 in
    --builddir) builddir=$2; shift 2 ;;
    --minutes | --seconds | --qps | --out) args+=("$1" "$2"); shift 2 ;;
    -h | --help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if ((${#args[@]} == 0)); then args=(--minutes 3); fi
command -v dnsperf >/dev/null || { echo "soak.sh: dnsperf is not installed (scripts/setup.sh)" >&2; exit 1; }
ninja -C "$builddir" apps/gslbd/gslbd >/dev/null
exec /usr/bin/python3 tests/soak/soak.py --gslbd "$builddir/apps/gslbd/gslbd" "${args[@]}"
