#!/usr/bin/env bash
# Configures and builds dojo (Release, Ninja, ccache) into ${DOJO_BUILD_DIR:-build}.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${DOJO_BUILD_DIR:-build}
# ccache: hash paths relative to the source tree, so that clones share the cache.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
if [[ ! -f "$build_dir/build.ninja" ]]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
ninja -C "$build_dir" "$@"
