#!/usr/bin/env bash
# The multi-host all-reduce table: hosts made with hosts.sh, links capped, `dojo bench
# allreduce --json` run REPEATS times per layout, the median busbw per (size, algorithm).
#
#   scripts/cluster/bench-allreduce.sh [RATE=1gbit] [REPEATS=3] [SIZES=1M,16M,64M] [ITERS=5]
#
# Layouts: 2 hosts x 2 ranks (ring, mpi, hierarchical, auto; the link bound is
# busbw = rate/8 x 2(n-1)/n, since an optimal schedule puts the buffer once each way on a
# host link), then 1 host x 2 ranks (shm, mpi). The hosts live under /var/tmp and are taken
# down at the end (also on failure). Needs root and a built build/bin/dojo.
set -euo pipefail
cd "$(dirname "$0")/../.."
rate=${1:-1gbit}
repeats=${2:-3}
sizes=${3:-1M,16M,64M}
iters=${4:-5}
dojo=${DOJO_BIN:-$PWD/build/bin/dojo}
hosts=/var/tmp/dojo-bench-hosts-$$
out=$(mktemp)
trap 'scripts/cluster/hosts.sh down "$hosts" >/dev/null; rm -rf "$out" "$hosts"' EXIT
scripts/cluster/hosts.sh up 2 "$hosts" --rate "$rate" >/dev/null

run() {  # run LAYOUT HOSTLIST RANKS PER_HOST ALGO...
  local layout=$1 list=$2 np=$3 per=$4 algo i
  shift 4
  for ((i = 0; i < repeats; ++i)); do
    for algo in "$@"; do
      scripts/cluster/hosts.sh exec "$hosts" dojo-h0 mpirun -H "$list" -np "$np" \
        --map-by "ppr:$per:node" --oversubscribe "$dojo" bench allreduce --algo "$algo" \
        --sizes "$sizes" --iters "$iters" --json | sed "s/^{/{\"layout\":\"$layout\",/" >>"$out"
    done
  done
}
run "2x2" dojo-h0:2,dojo-h1:2 4 2 ring mpi hierarchical auto
run "1x2" dojo-h0:2 2 2 shm mpi

python3 - "$out" "$rate" "$repeats" <<'PY'
import json, re, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
rate, repeats = sys.argv[2], sys.argv[3]
m = re.fullmatch(r"(\d+)(k|m|g)bit", rate.lower())
bytes_per_s = int(m.group(1)) * {"k": 1e3, "m": 1e6, "g": 1e9}[m.group(2)] / 8
by = {}
for r in rows:
    by.setdefault((r["layout"], r["bytes"], r["algo"]), []).append(r)
for layout in ["2x2", "1x2"]:
    algos = [a for a in ["ring", "mpi", "hierarchical", "auto", "shm"]
             if any(k[0] == layout and k[2] == a for k in by)]
    n = 4 if layout == "2x2" else 2
    bound = bytes_per_s * 2 * (n - 1) / n / 1e9
    print(f"# {layout} (hosts x ranks), links {rate}, busbw GB/s, median of {repeats}"
          + (f"; link bound {bound:.4f} GB/s" if layout == "2x2" else ""))
    print(f"{'size':>6} " + " ".join(f"{a:>13}" for a in algos) + "  correct")
    for size in sorted({k[1] for k in by if k[0] == layout}):
        bw, ok = {}, True
        for a in algos:
            rs = by.get((layout, size, a), [])
            if rs:
                bw[a] = statistics.median(r["busbw_GBps"] for r in rs)
                ok = ok and all(r["correct"] for r in rs)
        cells = " ".join(f"{bw[a]:>13.4f}" if a in bw else f"{'-':>13}" for a in algos)
        print(f"{size >> 20:>5}M {cells}  {'yes' if ok else 'NO'}")
    print()
PY
