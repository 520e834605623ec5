#!/usr/bin/env bash
# Usage: scripts/bench.sh [--quick] [--with-cache] [--with-dpdk] [--skip-callgrind]
#                         [--servers gslbd,dnsdist+gdnsd,knotd] [--port-base N]
#
# One command for the whole benchmark (see bench/README.md):
#   1. installs the peers and tools (Debian packages, idempotent),
#   2. builds gslbd in build-bench (debugoptimized, -Db_ndebug=true),
#   3. generates the zone data, every server's configuration and the query files from one
#      description (bench/load/gen.py),
#   4. runs the load and callgrind benchmarks (bench/load/run.py) and the micro benchmarks,
#   5. writes bench/results/latest.{json,md,png} and bench/results/micro.json.
#
# --quick        2 s per rate step, callgrind on two mixes: a few minutes in all
# --with-cache   add the row "gslbd with its response cache" (needs issue 4); the YAML added to
#                gslbd's main file is $GSLBD_CACHE_YAML ({entries} is replaced by the size used
#                for dnsdist's packet cache, 100000)
# --with-dpdk    the DPDK row (issue 5): a hook only for now, see bench/load/run.py
# Network: loopback only (127.0.0.1, ports port-base+1..+5, default 5391..5395).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=()
run_args=()
gen_args=()
port_base=5390
with_cache=0
while (($# > 0)); do
  case "$1" in
    --quick) quick=(--quick) ;;
    --with-cache) with_cache=1; run_args+=(--with-cache) ;;
    --with-dpdk) run_args+=(--with-dpdk) ;;
    --skip-callgrind) run_args+=(--skip-callgrind) ;;
    --servers) run_args+=(--servers "$2"); shift ;;
    --port-base) port_base=$2; shift ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done

# 1. packages: the project's own, then the peers and tools only the benchmark needs
./scripts/setup.sh
packages=(dnsperf gdnsd dnsdist knot knot-dnsutils valgrind gnuplot-nox python3-dnspython)
missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "installed" ]] || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  echo "bench: installing ${missing[*]}"
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q
  # the packaged services (knot, gdnsd, dnsdist on port 53) must not start: the script starts
  # its own instances on loopback ports. A temporary policy-rc.d denies the start, unless the
  # machine already has one.
  own_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${sudo[@]}" chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  rc=0
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" || rc=$?
  ((own_policy)) && "${sudo[@]}" rm -f /usr/sbin/policy-rc.d
  ((rc == 0)) || exit "$rc"
fi

# 2. build
if [[ ! -f build-bench/build.ninja ]]; then
  meson setup build-bench --wrap-mode=nodownload -Db_ndebug=true
fi
ninja -C build-bench apps/gslbd/gslbd bench/micro/bench_micro

# 3. data, one description for every server
work=build-bench/bench-run
rm -rf "$work"
mkdir -p "$work/gen" bench/results
if ((with_cache)); then
  entries=100000
  cache_yaml=${GSLBD_CACHE_YAML:-$'cache:\n  entries: {entries}'}
  gen_args+=(--gslbd-cache-yaml "${cache_yaml//\{entries\}/$entries}")
fi
/usr/bin/python3 bench/load/gen.py "$work/gen" --port-base "$port_base" "${gen_args[@]}"

# 4. micro benchmarks first (the machine is quietest before the load runs)
min_time=0.5
[[ ${#quick[@]} -gt 0 ]] && min_time=0.05
taskset -c 1 build-bench/bench/micro/bench_micro --benchmark_format=json \
  --benchmark_min_time="$min_time" >bench/results/micro.json
echo "bench: micro benchmarks -> bench/results/micro.json"

# 5. load + callgrind
/usr/bin/python3 bench/load/run.py --gen "$work/gen" --gslbd build-bench/apps/gslbd/gslbd \
  --out bench/results --work "$work" "${quick[@]}" "${run_args[@]}"
echo "bench: results in bench/results/latest.{md,json,png}"
