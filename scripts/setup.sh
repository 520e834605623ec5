#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the benchmarks need.
# Idempotent: asks dpkg which packages are missing and only then runs apt-get.
set -euo pipefail

packages=(
  # build
  meson ninja-build pkg-config g++ libdpdk-dev dpdk libyaml-dev libmaxminddb-dev
  libfmt-dev liburcu-dev libcurl4-openssl-dev libcpp-httplib-dev nlohmann-json3-dev
  # tests
  catch2 mmdb-bin libmaxmind-db-writer-perl dnsutils knot-dnsutils python3 python3-dnspython
  python3-pytest prometheus curl etcd-server etcd-client
  # health check kinds grpc, mysql, lua (issue 16): their libraries and the real servers tests start
  liblua5.4-dev libmariadb-dev python3-grpcio mariadb-server openssl
  # fuzzing (scripts/fuzz.sh: clang with libFuzzer and the sanitizer runtimes) and the soak
  clang libclang-rt-14-dev dnsperf
  # static zones (lib/zone parses master files with libzscanner; knotd is the tests' reference)
  libknot-dev knot
  # benchmarks and testbed
  libbenchmark-dev dnsperf iproute2 ethtool
  # discovery tests (issue 16): knotd serves the SVCB records discovery asks for
  knot
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
