#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, runs every test (unit, mpi,
# integration) through CTest. Extra arguments go to ctest (e.g. -L unit).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
scripts/build.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cd "${DOJO_BUILD_DIR:-build}"
ctest --output-on-failure --timeout 600 "$@"
