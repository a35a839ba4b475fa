# shellcheck shell=bash
# Sourced by dojo's batch scripts (train.sbatch, ingest.sbatch, ../mpirun/train.sh) after
# they set `dojo_script` to their own path: finds the dojo binary, sets the environment
# every rank needs, and runs the launcher so that the job outlives Slurm's signals until the
# ranks have checkpointed. Not a batch script itself.

# The dojo binary: $DOJO_BIN, else build/bin/dojo of the source tree the script came from,
# else build/bin/dojo under the submit folder, else `dojo` on PATH.
dojo_find_bin() {
  local script candidate
  if [[ -n ${DOJO_BIN:-} ]]; then
    [[ -x $DOJO_BIN ]] || { echo "dojo: DOJO_BIN=$DOJO_BIN is not an executable" >&2; return 1; }
    echo "$DOJO_BIN"
    return 0
  fi
  script=${dojo_script:-$0}
  for candidate in "$(dirname "$script")/../../build/bin/dojo" \
    "${SLURM_SUBMIT_DIR:-.}/build/bin/dojo" "$(command -v dojo || true)"; do
    if [[ -n $candidate && -x $candidate ]]; then
      (cd "$(dirname "$candidate")" && echo "$(pwd)/$(basename "$candidate")")
      return 0
    fi
  done
  echo "dojo: no dojo binary found: set DOJO_BIN, or build it (scripts/build.sh) next to" \
    "$script" >&2
  return 1
}

# Open MPI refuses to run as root unless told; containers and single-node clusters often
# run as root. Harmless otherwise.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# Runs "$@" (an srun line) in the background and waits for it, also across signals: when
# Slurm cancels the job or its time runs out, the batch shell gets SIGTERM too, and must
# not end before the ranks have written their checkpoint. Returns srun's exit status.
dojo_run_and_wait() {
  local pid rc
  trap 'echo "dojo: batch script got a signal; waiting for the ranks to checkpoint and exit" >&2' \
    TERM USR1 INT
  "$@" &
  pid=$!
  # A trapped signal ends `wait` early; wait again until srun has really exited, then
  # once more for its status (bash keeps the status of a reaped background job).
  while kill -0 "$pid" 2>/dev/null; do
    wait "$pid" || true
  done
  rc=0
  wait "$pid" || rc=$?
  trap - TERM USR1 INT
  return "$rc"
}
