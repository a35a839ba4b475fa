#!/usr/bin/env bash
# A single-node Slurm cluster under one folder, for trying the batch scripts on one machine
# and for dojo's cluster tests.
#
#   scripts/slurm/local-cluster.sh start  DIR   generate DIR/slurm.conf, start munged,
#                                              slurmctld and slurmd, wait until the node is idle
#   scripts/slurm/local-cluster.sh start  DIR --hosts HOSTS_DIR
#                                              multi-host: one node per host of a
#                                              scripts/cluster/hosts.sh cluster (see below)
#   scripts/slurm/local-cluster.sh status DIR   daemons alive? sinfo / squeue
#   scripts/slurm/local-cluster.sh stop   DIR   end the daemons by the PIDs recorded in DIR/pids
#
# Everything lives under DIR: its own munge key and socket, slurm.conf, state, spool, logs,
# TmpFS and PID files; nothing in /etc is read or changed. Client commands find this
# cluster through SLURM_CONF:
#
#   export SLURM_CONF=DIR/slurm.conf
#   sbatch --wait scripts/slurm/train.sbatch configs/tiny.yaml runs/tiny
#
# The node is `hostname -s` (reached at 127.0.0.1, so the name need not resolve) with CPUs
# from `nproc`; MPI ranks start with PMIx (MpiDefault=pmix); processes are tracked without
# cgroups (proctrack/linuxproc, task/none), so it also runs inside containers. The daemons
# run as root (SlurmUser=root).
# Ports: the first two free ports from DOJO_SLURM_PORT (default 16817) upwards, so two
# clusters (a test and a user's) can run side by side.
# Without accounting storage `sacct` has nothing; job outcomes are in `scontrol show job`
# (kept MinJobAge=3600 s) and in DIR/log/jobcomp.txt (one line per finished job).
#
# Multi-host (--hosts HOSTS_DIR, the folder of `scripts/cluster/hosts.sh up`): nodes
# dojo-h0... at their hosts' addresses, slurmctld on dojo-h0 and `slurmd -N dojo-hI` on each
# host (all started through `hosts.sh exec`, so jobs get its Open MPI settings), one munged
# for all on a socket file every host reaches (a Unix socket on the shared file system;
# AuthInfo=socket=...), per-node spool, PID and log files (%n in slurm.conf). The ports are
# Slurm's defaults, inside the hosts' own network. Client commands run on a host:
#
#   scripts/cluster/hosts.sh exec HOSTS_DIR dojo-h0 env SLURM_CONF=DIR/slurm.conf \
#     sbatch -N 2 --ntasks-per-node 2 scripts/slurm/train.sbatch CONFIG RUN_DIR
#
# DIR must then be outside /tmp (every host has its own /tmp), as must CONFIG and RUN_DIR.
set -euo pipefail

usage() {
  echo "usage: $0 start DIR [--hosts HOSTS_DIR] | stop DIR | status DIR" >&2
  exit 2
}
hosts_dir=""
if [[ $# -eq 4 && $1 == start && $3 == --hosts ]]; then
  [[ -d $4 && -s $4/count ]] || { echo "local-cluster: $4: no hosts.sh cluster there" >&2; exit 1; }
  hosts_dir=$(cd "$4" && pwd)
  set -- "$1" "$2"
fi
[[ $# -eq 2 ]] || usage
action=$1
if [[ $action == start ]]; then
  mkdir -p "$2"
elif [[ ! -d $2 ]]; then
  echo "local-cluster: $2: no such folder, no cluster there" >&2
  [[ $action == stop ]] && exit 0  # stopping what is not running succeeds
  exit 1
fi
dir=$(cd "$2" && pwd)
conf=$dir/slurm.conf
pids=$dir/pids
# A multi-host cluster remembers its hosts for status and stop.
if [[ $action == start && -n $hosts_dir ]]; then
  echo "$hosts_dir" >"$dir/hosts-dir"
elif [[ $action == start ]]; then
  rm -f "$dir/hosts-dir"
elif [[ -s $dir/hosts-dir ]]; then
  hosts_dir=$(cat "$dir/hosts-dir")
fi
hosts_sh=$(cd "$(dirname "$0")/../cluster" && pwd)/hosts.sh
nodes=()  # multi-host: dojo-h0 ...
if [[ -n $hosts_dir && -s $hosts_dir/count ]]; then
  for ((i = 0; i < $(cat "$hosts_dir/count"); i++)); do nodes+=("dojo-h$i"); done
fi
on_host() {  # on_host HOST CMD...: run CMD on HOST (multi-host), or here
  local host=$1
  shift
  if [[ -n $hosts_dir ]]; then
    "$hosts_sh" exec "$hosts_dir" "$host" "$@"
  else
    "$@"
  fi
}
client() {  # client CMD...: a Slurm client command, run where it reaches slurmctld
  on_host dojo-h0 env SLURM_CONF="$conf" "$@"
}
address_of() {  # address_of NODE (multi-host): from the hosts' hosts file
  awk -v h="$1" '$2 == h {print $1}' "$hosts_dir/etc-hosts"
}

sbin() {  # daemons live in /usr/sbin, which a non-login PATH may lack
  command -v "$1" 2>/dev/null || echo "/usr/sbin/$1"
}

alive() {  # alive NAME: the recorded PID of NAME is a running process
  local f=$pids/$1.pid
  [[ -s $f ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

port_free() {  # nothing accepts a connection on 127.0.0.1:PORT (bash's /dev/tcp)
  ! (: >"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_ports() {
  local p=${DOJO_SLURM_PORT:-16817}
  while ! { port_free "$p" && port_free $((p + 1)); }; do
    p=$((p + 2))
    ((p < 65000)) || { echo "local-cluster: no two free ports found" >&2; exit 1; }
  done
  echo "$p"
}

write_conf() {
  local host cpus port addr=127.0.0.1 spool=slurmd per_node="" what="a single-node cluster"
  local slurmd_timeout=60 cred_expire=120
  local tmpfs=$dir/tmp
  host=$(hostname -s)
  cpus=$(nproc)
  if [[ -n $hosts_dir ]]; then
    host=${nodes[0]}
    addr=$(address_of "$host")
    port=6817
    spool=%n
    per_node=-%n
    tmpfs=/tmp  # each host's own: PMIx puts step folders there, named alike on every node
    what="${#nodes[@]} hosts of $hosts_dir"
    # A host that dies is taken out after 10 s without an answer, and a requeued job may
    # start again after 20 s (Slurm's defaults: 300 s and 120 s), so a job that lost a
    # host resumes on the others within a minute.
    slurmd_timeout=10
    cred_expire=20
  else
    port=$(pick_ports)
  fi
  mkdir -p "$dir"/{state,spool/slurmd,log,tmp,munge,pids}
  cat >"$conf" <<EOF
# Generated by scripts/slurm/local-cluster.sh for $what under $dir
ClusterName=dojo-local
SlurmctldHost=$host($addr)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=$cred_expire
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/$spool
TmpFS=$tmpfs
SlurmctldPidFile=$dir/pids/slurmctld.pid
SlurmdPidFile=$dir/pids/slurmd$per_node.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd$per_node.log
SlurmctldDebug=info
SlurmdDebug=info
MpiDefault=pmix
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MinJobAge=3600
KillWait=30
InactiveLimit=0
SlurmctldTimeout=60
SlurmdTimeout=$slurmd_timeout
EOF
  if [[ -z $hosts_dir ]]; then
    echo "NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN" >>"$conf"
    echo "PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP" >>"$conf"
    return
  fi
  local node
  for node in "${nodes[@]}"; do
    echo "NodeName=$node NodeAddr=$(address_of "$node") CPUs=$cpus State=UNKNOWN" >>"$conf"
    mkdir -p "$dir/spool/$node"
  done
  echo "PartitionName=local Nodes=$(IFS=,; echo "${nodes[*]}") Default=YES MaxTime=INFINITE State=UP" >>"$conf"
}

start_munge() {
  local m=$dir/munge
  chmod 755 "$m"
  if [[ ! -s $m/munge.key ]]; then
    (umask 077 && dd if=/dev/urandom of="$m/munge.key" bs=1024 count=1 status=none)
  fi
  chmod 400 "$m/munge.key"
  "$(sbin munged)" --force --socket="$m/munge.socket" --key-file="$m/munge.key" \
    --log-file="$dir/log/munged.log" --pid-file="$pids/munged.pid" --seed-file="$m/munged.seed"
}

wait_for() {  # wait_for SECONDS WHAT COMMAND...: poll until COMMAND succeeds
  local seconds=$1 what=$2
  shift 2
  for ((i = 0; i < seconds * 4; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.25
  done
  echo "local-cluster: $what did not happen within ${seconds}s; logs in $dir/log" >&2
  return 1
}

node_idle() {  # every node idle
  local states
  states=$(client sinfo -h -N -o %T 2>/dev/null) || return 1
  [[ -n $states ]] && ! grep -qv '^idle$' <<<"$states"
}

slurmd_names() {  # the PID-file names of the slurmd daemons
  if [[ -n $hosts_dir ]]; then
    printf 'slurmd-%s\n' "${nodes[@]}"
  else
    echo slurmd
  fi
}

all_slurmd_alive() {
  local name
  for name in $(slurmd_names); do alive "$name" || return 1; done
}

any_slurmd_alive() {
  local name
  for name in $(slurmd_names); do alive "$name" && return 0; done
  return 1
}

do_start() {
  if alive slurmctld && all_slurmd_alive && alive munged; then
    echo "local-cluster: already running under $dir"
    echo "export SLURM_CONF=$conf"
    return 0
  fi
  if alive slurmctld || any_slurmd_alive || alive munged; then
    echo "local-cluster: partly running under $dir; stopping the rest first" >&2
    do_stop
  fi
  write_conf
  start_munge
  wait_for 10 "munged socket" test -S "$dir/munge/munge.socket"
  # -i: ignore unreadable state from an earlier cluster in the same folder.
  on_host dojo-h0 "$(sbin slurmctld)" -f "$conf" -i
  wait_for 20 "slurmctld answering" client scontrol ping
  if [[ -n $hosts_dir ]]; then
    local node
    for node in "${nodes[@]}"; do
      on_host "$node" "$(sbin slurmd)" -f "$conf" -N "$node"
      wait_for 20 "slurmd starting on $node" alive "slurmd-$node"
    done
  else
    "$(sbin slurmd)" -f "$conf"
    wait_for 20 "slurmd starting" alive slurmd
  fi
  if ! wait_for 60 "every node becoming idle" node_idle; then
    client sinfo -N -l >&2 || true
    do_stop
    exit 1
  fi
  if [[ -n $hosts_dir ]]; then
    echo "local-cluster: running under $dir (nodes ${nodes[*]}, $(nproc) CPUs each)"
    echo "client commands run on a host: $hosts_sh exec $hosts_dir dojo-h0 env SLURM_CONF=$conf sbatch ..."
  else
    echo "local-cluster: running under $dir (node $(hostname -s), $(nproc) CPUs)"
    echo "export SLURM_CONF=$conf"
  fi
}

stop_one() {  # stop_one NAME: SIGTERM the recorded PID, SIGKILL after 15 s
  local f=$pids/$1.pid pid
  [[ -s $f ]] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 60; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "local-cluster: $1 (pid $pid) ignored SIGTERM; SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$f"
}

no_jobs() {
  [[ -z $(client squeue -h -o %i 2>/dev/null) ]]
}

do_stop() {
  # Jobs first, so that no job step outlives its slurmd: cancel them and give their ranks
  # Slurm's KillWait (30 s) to checkpoint, plus time for slurmd to clean up.
  if alive slurmctld && any_slurmd_alive && ! no_jobs; then
    client scancel --full --quiet --partition=local 2>/dev/null || true
    wait_for 45 "all jobs ending" no_jobs || true
  fi
  local name
  for name in $(slurmd_names); do stop_one "$name"; done
  stop_one slurmctld
  stop_one munged
  echo "local-cluster: stopped under $dir"
}

do_status() {
  local name
  for name in munged slurmctld $(slurmd_names); do
    if alive "$name"; then
      echo "$name: running (pid $(cat "$pids/$name.pid"))"
    else
      echo "$name: not running"
    fi
  done
  if alive slurmctld; then
    client sinfo
    client squeue
    echo "export SLURM_CONF=$conf"
  else
    return 1
  fi
}

case $action in
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  *) usage ;;
esac
