#!/usr/bin/env bash
# The README's main-job command. Installs dependencies, builds, then runs the main job.
# (Until the trainer lands this is the all-reduce benchmark on 2 ranks.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
scripts/build.sh dojo
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun -np 2 --oversubscribe --bind-to none build/bin/dojo bench allreduce --algo all
