#!/usr/bin/env bash
# Installs what is missing, builds the daemon (only: tests and benchmarks are for
# scripts/build.sh), and serves examples/gslbd.yml on 127.0.0.1:5353 / [::1]:5353.
# Try: dig @127.0.0.1 -p 5353 www.gslb.example A
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
[[ -f build/build.ninja ]] || meson setup build --wrap-mode=nodownload
ninja -C build apps/gslbd/gslbd
exec build/apps/gslbd/gslbd --config examples/gslbd.yml "$@"
