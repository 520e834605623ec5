#!/usr/bin/env bash
# Usage: scripts/bench.sh [--quick] [--no-dpdk] [--no-veth] [--skip-callgrind]
#                         [--servers gslbd,gslbd-nocache,gslbd-dpdk,dnsdist+gdnsd,knotd]
#                         [--port-base N]
#
# One command for the whole benchmark (see bench/README.md):
#   1. installs the peers and tools (Debian packages, idempotent),
#   2. builds gslbd in build-bench (debugoptimized, -Db_ndebug=true), and
#      bench/dpdk/bench_dpdk_capacity when that target exists,
#   3. brings the veth testbed up (scripts/testbed.sh: netns gslbd-client, veth-gslb for DPDK,
#      veth-kern 198.18.1.1 for the kernel-stack servers; needs root),
#   4. generates the zone data, every server's configuration and the query files from one
#      description (bench/load/gen.py),
#   5. runs the micro benchmarks, the in-process DPDK capacity benchmark (if built), the load
#      benchmark (dnsperf over loopback and over the veth, kxdpgun over the veth) and callgrind
#      (bench/load/run.py),
#   6. writes bench/results/latest.{json,md,png}, micro.json, dpdk_capacity.json, and the
#      tables into bench/README.md and README.md.
#
# --quick          2 s per rate step, coarse steps, fewer mixes (full: ~30 minutes)
# --no-dpdk        no gslbd DPDK row; --no-veth: loopback only (no testbed, no root needed)
# --with-cache     accepted for compatibility: the response cache is on in the gslbd rows now
#                  (gslbd-nocache is the row without)
# Network: loopback (127.0.0.1, ports port-base+1..+5, default 5391..5395) and the testbed's
# veth pairs (198.18.0.0/24, 198.18.1.0/24). The testbed is taken down again at the end if this
# script brought it up.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=()
run_args=()
gen_args=()
port_base=5390
veth=1
dpdk=1
while (($# > 0)); do
  case "$1" in
    --quick) quick=(--quick) ;;
    --with-cache | --with-dpdk) ;;
    --no-dpdk) dpdk=0; run_args+=(--no-dpdk) ;;
    --no-veth) veth=0; dpdk=0 ;;
    --skip-callgrind) run_args+=(--skip-callgrind) ;;
    --servers) run_args+=(--servers "$2"); shift ;;
    --port-base) port_base=$2; shift ;;
    -h | --help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done

# 1. packages: the project's own, then the peers and tools only the benchmark needs
./scripts/setup.sh
packages=(dnsperf gdnsd dnsdist knot knot-dnsutils valgrind gnuplot-nox python3-dnspython iproute2
  ethtool dnsutils)
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
# the MaxMind micro benchmarks read the small test databases (built with the tests)
mmdb_env=()
if ninja -C build-bench tests/unit/geo/test-country.mmdb tests/unit/geo/test-asn.mmdb >/dev/null 2>&1; then
  mmdb_env=(GSLBD_BENCH_COUNTRY_MMDB=build-bench/tests/unit/geo/test-country.mmdb
    GSLBD_BENCH_ASN_MMDB=build-bench/tests/unit/geo/test-asn.mmdb)
fi
work=build-bench/bench-run
rm -rf "$work"
mkdir -p "$work/gen" bench/results
# the in-process DPDK capacity benchmark lives in bench/dpdk (another part of the tree); it is
# optional until it exists, but once it builds it is run
capacity=""
if ninja -C build-bench bench/dpdk/bench_dpdk_capacity >"$work/capacity-build.log" 2>&1; then
  capacity=build-bench/bench/dpdk/bench_dpdk_capacity
else
  echo "bench: bench/dpdk/bench_dpdk_capacity not built ($(tail -1 "$work/capacity-build.log"))"
fi

# Whatever happens, nothing this run started stays running (run.py lists every process it
# starts in $work/pids; the servers run in their own sessions), and the testbed goes down
# again if this script brought it up.
testbed_was_up=1
cleanup() {
  local rc=$?
  if [[ -f $work/pids ]]; then
    while read -r pid; do
      if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        sleep 1
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
      fi
    done <"$work/pids"
  fi
  if ((testbed_was_up == 0)); then ./scripts/testbed.sh down >/dev/null 2>&1 || true; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 3. testbed
if ((veth)); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "bench: not root: no veth testbed, loopback only" >&2
    run_args+=(--skipped "veth paths and the DPDK row: not root")
    veth=0
  else
    ./scripts/testbed.sh status >/dev/null 2>&1 || testbed_was_up=0
    if ./scripts/testbed.sh up; then
      gen_args+=(--veth-address 198.18.1.1)
      # a ring of 8192 frames: with af_packet's default 512 the kernel drops bursts before
      # DPDK polls them (measured: ~10 % lost at 345k qps offered, <1 % with 8192)
      ((dpdk)) && gen_args+=(--dpdk-device net_af_packet0,iface=veth-gslb,framecnt=8192,qdisc_bypass=1)
    else
      run_args+=(--skipped "veth paths and the DPDK row: scripts/testbed.sh up failed")
      veth=0
    fi
  fi
fi
((veth)) || run_args+=(--no-dpdk)

# 4. data, one description for every server
/usr/bin/python3 bench/load/gen.py "$work/gen" --port-base "$port_base" "${gen_args[@]}"

# 5. micro benchmarks and in-process DPDK capacity first (the machine is quietest then)
min_time=0.5
[[ ${#quick[@]} -gt 0 ]] && min_time=0.05
env GSLBD_SOURCE_ROOT="$PWD" "${mmdb_env[@]}" taskset -c 1 build-bench/bench/micro/bench_micro --benchmark_format=json \
  --benchmark_min_time="$min_time" >bench/results/micro.json
echo "bench: micro benchmarks -> bench/results/micro.json"
if [[ -n $capacity ]]; then
  cap_seconds=3
  [[ ${#quick[@]} -gt 0 ]] && cap_seconds=1
  if "$capacity" --seconds "$cap_seconds" --mix hit,miss,ecs --mode two-core,inline \
    --json bench/results/dpdk_capacity.json >"$work/capacity.log" 2>&1; then
    echo "bench: in-process DPDK capacity -> bench/results/dpdk_capacity.json"
  else
    echo "bench: bench_dpdk_capacity failed (see $work/capacity.log):" >&2
    tail -5 "$work/capacity.log" >&2
    run_args+=(--skipped "in-process DPDK capacity: bench_dpdk_capacity failed")
  fi
fi

# 6. load + callgrind
/usr/bin/python3 bench/load/run.py --gen "$work/gen" --gslbd build-bench/apps/gslbd/gslbd \
  --out bench/results --work "$work" "${quick[@]}" "${run_args[@]}"
echo "bench: results in bench/results/latest.{md,json,png}"
