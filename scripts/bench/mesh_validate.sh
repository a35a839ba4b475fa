#!/usr/bin/env bash
# Validates the `host` mesh preset against this machine: `dojo bench validate` calibrates,
# then measures and predicts every training step (tiny/bench/small x fp32/bf16 x 1/2
# threads), every all-reduce (64 KiB, 1, 16, 64 MiB x ring, recursive_doubling, auto, mpi,
# gloo) and a 2-rank training step, ROUNDS times (default 3), and prints the table of
# medians (train/validate.hpp says what each row measures). Extra arguments go to the tool.
# usage: scripts/bench/mesh_validate.sh [DOJO_BIN] [ROUNDS] [--json ...]
set -euo pipefail
BIN=${1:-build/bin/dojo}
ROUNDS=${2:-3}
shift $(($# < 2 ? $# : 2))
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Idle OpenMP threads sleep rather than spin: the other rank may need the core.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
exec mpirun --oversubscribe --bind-to none -n 2 "$BIN" bench validate --rounds "$ROUNDS" "$@"
