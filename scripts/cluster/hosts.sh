#!/usr/bin/env bash
# Many hosts on one machine: network-namespace "hosts" joined by rate-capped virtual links.
#
#   scripts/cluster/hosts.sh up N DIR [--rate 10gbit] [--slots S]
#   scripts/cluster/hosts.sh down DIR
#   scripts/cluster/hosts.sh exec DIR HOST CMD...        run CMD on HOST (Open MPI set up)
#   scripts/cluster/hosts.sh link DIR HOST up|down       take HOST's link down (or back up)
#   scripts/cluster/hosts.sh kill DIR HOST               SIGKILL every process HOST runs
#   scripts/cluster/hosts.sh pids DIR HOST               PIDs of the processes HOST runs
#   scripts/cluster/hosts.sh status DIR
#
# --rate caps every host link in both directions; --slots is each host's slots= in
# DIR/hostfile (default: nproc, what a node declares).
#
# A host is what a cluster node is to the programs on it:
#   - its own network namespace with one interface, eth0, holding the host's only address
#     (10.99.0.(i+1)/24 for dojo-hi); the subnet exists only inside these namespaces, so it
#     never meets the machine's own network, and two clusters never meet each other;
#   - its own hostname (a UTS namespace) and its own mount namespace, where a hosts file
#     naming every host is bound over /etc/hosts, and a private /tmp and /dev/shm are bound
#     over the machine's (node-local scratch, like a real node: Slurm's PMIx step folders
#     and shared-memory segments of one host never collide with another's). Everything
#     outside /tmp is seen by every host, as a shared file system would be.
# Each host's eth0 is a veth whose other end is a port of one bridge, which lives in an
# extra namespace of its own. `tc tbf` caps both directions of every host's link to --rate
# (the burst is at least 256 kB, larger than one GSO packet, or tbf throttles far below it).
#
# The namespaces of a host are held open by one process (`sleep infinity`, its PID in
# DIR/hosts/HOST/pid); every command on the host enters them with nsenter. DIR/bin/agent
# HOST CMD... is the launch agent Open MPI uses instead of ssh (plm_rsh_agent), and `exec`
# puts the Open MPI settings for these hosts into the command's environment, so that on any
# host a plain `mpirun --hostfile DIR/hostfile -np 4 --map-by ppr:2:node CMD` runs CMD
# across hosts: TCP between hosts (only over eth0), shared memory within one, and daemon
# keepalives that notice a lost host within ~11 s (instead of Open MPI's default ~8 min).
# Connections with data in flight are covered by TCP's retransmission limit, which each
# host lowers to ~13 s (net.ipv4.tcp_retries2=5; Linux's default 15 waits ~15 min).
#
# `down` ends every process inside the hosts (found by their network namespace, ended by
# PID), deletes the namespaces (and with them every link and qdisc) and DIR's state. Needs
# root (CAP_SYS_ADMIN, CAP_NET_ADMIN); DIR must not be under /tmp (each host has its own).
set -euo pipefail

usage() {
  sed -n '4,10p' "$0" | sed 's/^#  */usage: /' >&2
  exit 2
}
die() {
  echo "hosts.sh: $*" >&2
  exit 1
}
[[ $# -ge 2 ]] || usage
action=$1
shift

subnet_prefix=10.99.0
address_of() { echo "$subnet_prefix.$(($1 + 1))"; }  # address_of INDEX

# Names derived from DIR: namespaces dojo-<id>-h<i> and dojo-<id>-br, where <id> is a
# checksum of DIR's absolute path, so clusters in different folders never share a name.
setup_names() {  # setup_names DIR (DIR exists)
  dir=$(cd "$1" && pwd)
  id=$(printf '%s' "$dir" | cksum | awk '{printf "%08x", $1}')
  prefix=dojo-$id
  bridge_ns=$prefix-br
}
host_ns() { echo "$prefix-$1"; }          # host_ns h0 -> dojo-<id>-h0
host_index() {                            # host_index dojo-h3 | h3 -> 3
  local h=${1#dojo-}
  [[ $h =~ ^h([0-9]+)$ ]] || die "'$1' is not a host name (dojo-h0, dojo-h1, ...)"
  local i=${BASH_REMATCH[1]}
  [[ -d $dir/hosts/h$i ]] || die "no host $1 in the cluster under $dir (hosts: $(hosts_list))"
  echo "$i"
}
hosts_list() {
  local h
  for h in "$dir"/hosts/h*; do [[ -d $h ]] && printf 'dojo-%s ' "${h##*/}"; done
  true
}
holder_pid() {  # holder_pid INDEX: the PID holding host INDEX's namespaces (alive), or fail
  local f=$dir/hosts/h$1/pid
  [[ -s $f ]] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f"
}

# Open MPI settings for these hosts (see the header).
ompi_env() {
  echo OMPI_MCA_plm_rsh_agent="$dir/bin/agent"
  echo OMPI_MCA_plm_rsh_no_tree_spawn=1
  echo OMPI_MCA_oob_tcp_if_include="$subnet_prefix.0/24"
  echo OMPI_MCA_btl_tcp_if_include="$subnet_prefix.0/24"
  echo OMPI_MCA_pml=ob1
  echo OMPI_MCA_btl=self,vader,tcp
  echo OMPI_MCA_oob_tcp_keepalive_time=5
  echo OMPI_MCA_oob_tcp_keepalive_intvl=2
  echo OMPI_MCA_oob_tcp_keepalive_probes=3
  echo OMPI_MCA_hwloc_base_binding_policy=none
  echo OMPI_ALLOW_RUN_AS_ROOT=1
  echo OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
}

# Bytes per second of a tc rate ("10gbit", "1gbit", "500mbit").
rate_bytes() {
  local r=${1,,} n unit
  [[ $r =~ ^([0-9]+)(kbit|mbit|gbit|bit)$ ]] || die "--rate '$1' is not a rate like 1gbit or 500mbit"
  n=${BASH_REMATCH[1]}
  unit=${BASH_REMATCH[2]}
  case $unit in
    bit) echo $((n / 8)) ;;
    kbit) echo $((n * 1000 / 8)) ;;
    mbit) echo $((n * 1000000 / 8)) ;;
    gbit) echo $((n * 1000000000 / 8)) ;;
  esac
}

cap_link() {  # cap_link NS DEV RATE: tbf on DEV's egress in NS
  local burst
  burst=$(($(rate_bytes "$3") / 1000))  # one millisecond at the rate...
  ((burst >= 262144)) || burst=262144    # ...but never below 256 kB
  ip -n "$1" link set "$2" txqueuelen 10000 2>/dev/null || true  # qdisc limit, not queue, caps
  tc -n "$1" qdisc replace dev "$2" root tbf rate "$3" burst "$burst" latency 100ms
}

write_agent() {
  mkdir -p "$dir/bin"
  cat >"$dir/bin/agent" <<EOF
#!/usr/bin/env bash
# Launch agent for the hosts under $dir (written by hosts.sh): used like ssh,
#   agent HOST COMMAND...   runs COMMAND (joined and read by sh, as ssh does) on HOST.
# HOST is dojo-hI (or hI); Open MPI's rsh launcher calls it to start its daemons.
set -euo pipefail
host=\${1:?usage: agent HOST COMMAND...}
shift
h=\${host#dojo-}
h=\${h%%.*}
pidfile=$dir/hosts/\$h/pid
[[ -s \$pidfile ]] || { echo "agent: no host \$host under $dir" >&2; exit 255; }
exec nsenter --target "\$(cat "\$pidfile")" --net --uts --mount -- sh -c "\$*"
EOF
  chmod 755 "$dir/bin/agent"
}

start_host() {  # start_host INDEX: namespaces, link, hosts file, holder process
  local i=$1 ns hdir addr
  ns=$(host_ns "h$i")
  hdir=$dir/hosts/h$i
  addr=$(address_of "$i")
  mkdir -p "$hdir/tmp" "/dev/shm/$prefix-h$i"
  chmod 1777 "$hdir/tmp"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  # TCP gives up on a peer that stops acknowledging after ~13 s instead of ~15 min (the
  # keepalive below covers idle connections only; this covers those with data in flight).
  nsenter --net="/run/netns/$ns" sysctl -qw net.ipv4.tcp_retries2=5
  ip -n "$ns" link add eth0 type veth peer name "h$i" netns "$bridge_ns"
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$bridge_ns" link set "h$i" master br0
  ip -n "$bridge_ns" link set "h$i" up
  cap_link "$ns" eth0 "$rate"
  cap_link "$bridge_ns" "h$i" "$rate"
  cp "$dir/etc-hosts" "$hdir/hosts"
  # The holder: enters the network namespace, makes the UTS and mount namespaces, mounts
  # the host's files, and sleeps. setsid: no terminal signal reaches it.
  # shellcheck disable=SC2016  # $1..$3 are the inner shell's arguments
  setsid nsenter --net="/run/netns/$ns" -- unshare --uts --mount --propagation private -- \
    sh -c 'hostname "$1" && mount --bind "$2/hosts" /etc/hosts && mount --bind "$2/tmp" /tmp &&
           mount --bind "$3" /dev/shm && touch "$2/ready" && exec sleep infinity' \
    holder "dojo-h$i" "$hdir" "/dev/shm/$prefix-h$i" </dev/null >"$hdir/holder.log" 2>&1 &
  echo $! >"$hdir/pid"
}

do_up() {
  [[ $# -ge 2 ]] || usage
  local n=$1 i
  shift
  [[ $n =~ ^[1-9][0-9]?$ ]] || die "N '$n' is not a host count from 1 to 99"
  local target=$1
  shift
  rate=10gbit
  local slots; slots=$(nproc)  # what a node declares: its cores
  while [[ $# -gt 0 ]]; do
    case $1 in
      --rate) rate=${2:?--rate needs a value}; rate_bytes "$rate" >/dev/null; shift 2 ;;
      --slots) slots=${2:?--slots needs a value}; shift 2 ;;
      *) die "unknown option '$1' (--rate R, --slots S)" ;;
    esac
  done
  [[ $(id -u) -eq 0 ]] || die "needs root (network namespaces)"
  mkdir -p "$target"
  setup_names "$target"
  case $dir/ in
    /tmp/*) die "DIR $dir is under /tmp, which every host replaces with its own; use e.g. /var/tmp/dojo-hosts" ;;
  esac
  [[ ! -e $dir/hosts ]] || die "a cluster is already up under $dir (hosts.sh down $dir first)"
  mkdir -p "$dir/hosts"
  echo "$n" >"$dir/count"
  echo "$rate" >"$dir/rate"
  # From here on, a failure takes down whatever was made.
  trap 'echo "hosts.sh: up failed; removing what was made" >&2; do_down_quiet' ERR
  {
    echo "127.0.0.1 localhost"
    for ((i = 0; i < n; i++)); do echo "$(address_of "$i") dojo-h$i"; done
  } >"$dir/etc-hosts"
  : >"$dir/hostfile"
  for ((i = 0; i < n; i++)); do echo "dojo-h$i slots=$slots" >>"$dir/hostfile"; done
  ompi_env >"$dir/ompi.env"
  write_agent
  ip netns add "$bridge_ns"
  ip -n "$bridge_ns" link set lo up
  ip -n "$bridge_ns" link add br0 type bridge
  ip -n "$bridge_ns" link set br0 up
  for ((i = 0; i < n; i++)); do start_host "$i"; done
  for ((i = 0; i < n; i++)); do
    local tries=0
    until [[ -e $dir/hosts/h$i/ready ]]; do
      ((tries++ < 100)) || { cat "$dir/hosts/h$i/holder.log" >&2; die "host dojo-h$i did not start"; }
      sleep 0.05
    done
  done
  trap - ERR
  echo "hosts.sh: $n hosts up under $dir (dojo-h0..dojo-h$((n - 1)), $subnet_prefix.0/24, links at $rate)"
  echo "  run on a host: $0 exec $dir dojo-h0 mpirun --hostfile $dir/hostfile -np $((2 * n)) --map-by ppr:2:node CMD"
}

# Ends every process in namespace NS by PID: SIGTERM, then SIGKILL after 3 s.
end_processes() {
  local ns=$1 pids i
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  [[ -n $pids ]] || return 0
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for ((i = 0; i < 30; i++)); do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [[ -n $pids ]] || return 0
    sleep 0.1
  done
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    [[ -n $(ip netns pids "$ns" 2>/dev/null || true) ]] || return 0
    sleep 0.1
  done
  echo "hosts.sh: processes still in $ns after SIGKILL: $(ip netns pids "$ns" | tr '\n' ' ')" >&2
}

do_down_quiet() {
  local ns h
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$prefix-h[0-9]*$" || true); do
    end_processes "$ns"
    ip netns del "$ns" 2>/dev/null || true
  done
  if [[ -e /run/netns/$bridge_ns ]]; then
    end_processes "$bridge_ns"
    ip netns del "$bridge_ns" 2>/dev/null || true
  fi
  for h in /dev/shm/"$prefix"-h*; do
    [[ -d $h ]] && rm -rf "$h"
  done
  rm -rf "${dir:?}/hosts" "${dir:?}/bin" "$dir/etc-hosts" "$dir/hostfile" "$dir/ompi.env" "$dir/count" \
    "$dir/rate"
}

do_down() {
  [[ $# -eq 1 ]] || usage
  [[ -d $1 ]] || { echo "hosts.sh: $1: no such folder, nothing to take down"; return 0; }
  setup_names "$1"
  do_down_quiet
  echo "hosts.sh: down under $dir"
}

do_exec() {
  [[ $# -ge 3 ]] || usage
  [[ -d $1 ]] || die "$1: no such folder"
  setup_names "$1"
  local i pid
  i=$(host_index "$2")
  shift 2
  pid=$(holder_pid "$i") || die "host dojo-h$i is not running (its processes were killed?)"
  local -a vars
  mapfile -t vars <"$dir/ompi.env"
  exec nsenter --target "$pid" --net --uts --mount -- env "${vars[@]}" "$@"
}

do_link() {
  [[ $# -eq 3 && ($3 == up || $3 == down) ]] || usage
  setup_names "$1"
  local i
  i=$(host_index "$2")
  ip -n "$(host_ns "h$i")" link set eth0 "$3"
}

host_pids() {  # host_pids INDEX: the host's processes but its holder
  local holder p
  holder=$(cat "$dir/hosts/h$1/pid" 2>/dev/null || echo none)
  for p in $(ip netns pids "$(host_ns "h$1")"); do
    [[ $p == "$holder" ]] || echo "$p"
  done
}

do_pids() {
  [[ $# -eq 2 ]] || usage
  setup_names "$1"
  host_pids "$(host_index "$2")"
}

do_kill() {  # SIGKILL every process of the host but its holder
  [[ $# -eq 2 ]] || usage
  setup_names "$1"
  local p
  for p in $(host_pids "$(host_index "$2")"); do
    kill -KILL "$p" 2>/dev/null || true
  done
}

do_status() {
  [[ $# -eq 1 && -d $1 ]] || usage
  setup_names "$1"
  [[ -d $dir/hosts ]] || { echo "no hosts under $dir"; return 1; }
  local h i state
  for h in "$dir"/hosts/h*; do
    i=${h##*/h}
    state=$(ip -n "$(host_ns "h$i")" -br link show eth0 2>/dev/null | awk '{print $2}')
    echo "dojo-h$i $(address_of "$i") link ${state:-missing} holder $(holder_pid "$i" || echo dead)" \
      "processes $(host_pids "$i" 2>/dev/null | wc -l)"
  done
}

case $action in
  up) do_up "$@" ;;
  down) do_down "$@" ;;
  exec) do_exec "$@" ;;
  link) do_link "$@" ;;
  kill) do_kill "$@" ;;
  pids) do_pids "$@" ;;
  status) do_status "$@" ;;
  *) usage ;;
esac
