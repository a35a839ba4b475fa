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

# Called with srun's exit status after the ranks ended: when they lost a peer (dojo's exit
# code 4: a rank died, stopped answering or its host went away) and the job was submitted
# with --requeue, puts the job back in the queue (at most $DOJO_MAX_REQUEUES times, default
# 3, counted by SLURM_RESTART_COUNT), so it resumes from its last checkpoint. dojo's ranks
# notice a lost host within comm.timeout_s; Slurm's own node-failure requeue would come
# only after SlurmdTimeout, and only if the job were still running then.
dojo_requeue_if_peer_lost() {
  local rc=$1 max=${DOJO_MAX_REQUEUES:-3} restarts=${SLURM_RESTART_COUNT:-0}
  [[ $rc -eq 4 && -n ${SLURM_JOB_ID:-} ]] || return 0
  if ! scontrol show job "$SLURM_JOB_ID" | grep -q ' Requeue=1'; then
    echo "dojo: a peer was lost and job $SLURM_JOB_ID has no --requeue: submit it again to" \
      "resume from its last checkpoint" >&2
    return 0
  fi
  if ((restarts >= max)); then
    echo "dojo: a peer was lost again after $restarts requeues (DOJO_MAX_REQUEUES=$max):" \
      "not requeueing job $SLURM_JOB_ID" >&2
    return 0
  fi
  echo "dojo: a peer was lost (exit 4): requeueing job $SLURM_JOB_ID (restart" \
    "$((restarts + 1)) of at most $max); it resumes from its last checkpoint" >&2
  scontrol requeue "$SLURM_JOB_ID"
}
