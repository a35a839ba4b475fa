#!/usr/bin/env bash
# Sanitizer builds, run by .ci/run after the main suite:
#   - AddressSanitizer + UndefinedBehaviorSanitizer: every unit test (ctest -L unit);
#   - ThreadSanitizer: the comm tests (the communication thread, ranks as threads).
# Each builds into its own folder (build-asan, build-tsan; ccache shared with the main build).
#   scripts/test-sanitizers.sh [asan|tsan|all]
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-all}
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

configure() {  # configure DIR SANITIZERS
  if [[ ! -f "$1/build.ninja" ]]; then
    cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDOJO_SANITIZE="$2" >/dev/null
  fi
}

# The test executables labelled `unit` (and `mpi`, which run unit-style in one process here).
unit_targets() {  # unit_targets DIR LABEL
  ctest --test-dir "$1" -N -L "$2" | sed -nE 's/^ *Test +#[0-9]+: ([A-Za-z0-9_]+).*/\1/p' |
    sed -E 's/\.np[0-9]+$//' | sort -u
}

if [[ $which == asan || $which == all ]]; then
  dir=${DOJO_ASAN_BUILD_DIR:-build-asan}
  configure "$dir" address,undefined
  # ctest -N needs the test list, which the configure step wrote; build only those tests.
  mapfile -t targets < <(unit_targets "$dir" unit | grep -v '^layering')
  ninja -C "$dir" "${targets[@]}"
  # Leaks inside Open MPI / HDF5 / oneDNN at exit are theirs, not ours: leak checking off.
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir "$dir" -L unit --output-on-failure --timeout 900
fi
if [[ $which == tsan || $which == all ]]; then
  dir=${DOJO_TSAN_BUILD_DIR:-build-tsan}
  configure "$dir" thread
  mapfile -t targets < <(unit_targets "$dir" unit | grep '^comm_')
  ninja -C "$dir" "${targets[@]}"
  supp=""
  [[ -f scripts/tsan.supp ]] && supp=":suppressions=$PWD/scripts/tsan.supp"
  TSAN_OPTIONS="halt_on_error=1$supp" \
    ctest --test-dir "$dir" -R '^comm_' -L unit --output-on-failure --timeout 900
fi
