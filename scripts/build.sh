#!/usr/bin/env bash
# Usage: scripts/build.sh [BUILDDIR] [MESON SETUP ARGS...]
# Configures BUILDDIR (default: build) once, without ever downloading, then builds it.
set -euo pipefail
cd "$(dirname "$0")/.."

builddir=${1:-build}
shift || true

if [[ ! -f "$builddir/build.ninja" ]]; then
  meson setup "$builddir" --wrap-mode=nodownload "$@"
elif (($# > 0)); then
  meson configure "$builddir" "$@"
fi
ninja -C "$builddir"
