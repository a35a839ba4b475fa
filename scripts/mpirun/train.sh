#!/usr/bin/env bash
# dojo training with plain Open MPI `mpirun` (no Slurm), on one machine or on the machines
# of a hostfile.
#
#   scripts/mpirun/train.sh [options] CONFIG RUN_DIR [--set key=value]...
#
# Options (before CONFIG):
#   -n, --np N           ranks (default: the slots in the hostfile, else nproc / threads)
#   --hostfile FILE      Open MPI hostfile, one line per machine: `node01 slots=4`
#   --threads T          threads per rank (--set train.threads=T; default 1)
#   --oversubscribe      allow more ranks than slots (a laptop, CI)
#   --bind core|none     core: pin each rank to T cores (--map-by slot:PE=T --bind-to core);
#                        none (default): let the OS place threads, safest when oversubscribed
#   -x NAME              forward one more environment variable to remote ranks (repeatable)
#
# The run starts with `--resume auto`: running the same command again continues from the
# newest complete checkpoint in RUN_DIR.
#
# What the Open MPI flags are for:
#   - Root: mpirun refuses to run as root; this script exports OMPI_ALLOW_RUN_AS_ROOT=1 and
#     OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 (same as --allow-run-as-root), needed in containers.
#   - Oversubscribe: without slots for every rank mpirun stops with "not enough slots";
#     --oversubscribe allows it (ranks then share cores: slower, still correct).
#   - Binding: Open MPI binds each rank to one core by default, which squeezes a rank's T
#     threads onto one core; --bind core maps T cores per rank instead.
#   - Environment: -x forwards variables to remote machines; this script always forwards
#     PATH, LD_LIBRARY_PATH, the OMPI_ALLOW_* pair and every DOJO_* variable.
#
# Stopping: `kill -USR1 <pid of this script>` (it execs mpirun, which forwards SIGUSR1 to
# every rank): the ranks finish their step, write a checkpoint, and mpirun exits 0.
# SIGTERM/Ctrl-C also make the ranks checkpoint, but mpirun then exits non-zero. A rank
# that dies (kill -9, lost machine) makes mpirun end the others within seconds.
#
# The binary: $DOJO_BIN, else build/bin/dojo of this source tree, else `dojo` on PATH.
# The launcher: $DOJO_MPIRUN (default mpirun).
set -euo pipefail

# shellcheck disable=SC2034  # read by dojo-env.sh
dojo_script=$0
# shellcheck source-path=SCRIPTDIR source=../slurm/dojo-env.sh
source "$(dirname "$0")/../slurm/dojo-env.sh"

usage() {
  echo "usage: $0 [-n N] [--hostfile FILE] [--threads T] [--oversubscribe] [--bind core|none]" \
    "[-x NAME]... CONFIG RUN_DIR [--set key=value]..." >&2
  exit 2
}

np="" hostfile="" threads=1 bind=none
extra=()
forward=(PATH LD_LIBRARY_PATH OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM)
while [[ $# -gt 0 && $1 == -* ]]; do
  case $1 in
    -n | --np) np=${2:?}; shift 2 ;;
    --hostfile) hostfile=${2:?}; shift 2 ;;
    --threads) threads=${2:?}; shift 2 ;;
    --oversubscribe) extra+=(--oversubscribe); shift ;;
    --bind) bind=${2:?}; shift 2 ;;
    -x) forward+=("${2:?}"); shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "train.sh: unknown option $1" >&2; usage ;;
  esac
done
[[ $# -ge 2 ]] || usage
config=$1
run_dir=$2
shift 2
[[ -f $config ]] || { echo "train.sh: config $config not found" >&2; exit 2; }
if [[ ! $threads =~ ^[1-9][0-9]*$ ]]; then
  echo "train.sh: --threads $threads: need a count >= 1" >&2
  exit 2
fi
dojo=$(dojo_find_bin)

# dojo prints an error that every rank finds once, and its own message when a peer is
# lost; Open MPI's exit banners only repeat that.
export OMPI_MCA_orte_execute_quiet=${OMPI_MCA_orte_execute_quiet:-1}
launch=("${DOJO_MPIRUN:-mpirun}")
if [[ -n $hostfile ]]; then
  [[ -f $hostfile ]] || { echo "train.sh: hostfile $hostfile not found" >&2; exit 2; }
  launch+=(--hostfile "$hostfile")
fi
if [[ -z $np && -z $hostfile ]]; then
  np=$(($(nproc) / threads))
  ((np >= 1)) || np=1
fi
[[ -n $np ]] && launch+=(-np "$np")
case $bind in
  core) launch+=(--map-by "slot:PE=$threads" --bind-to core) ;;
  none) launch+=(--bind-to none) ;;
  *) echo "train.sh: --bind $bind: use core or none" >&2; exit 2 ;;
esac
for name in "${forward[@]}" $(compgen -e | grep '^DOJO_' || true); do
  [[ -v $name ]] && launch+=(-x "$name")  # -x of an unset variable is an error
done
launch+=("${extra[@]}")

echo "train.sh: ${np:-hostfile} ranks x $threads threads, $dojo" >&2
exec "${launch[@]}" "$dojo" train --config "$config" --run-dir "$run_dir" --resume auto \
  --set train.threads="$threads" "$@"
