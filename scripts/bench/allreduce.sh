#!/usr/bin/env bash
# All-reduce algorithms side by side, repeated: runs `dojo bench allreduce --algo all
# --json` REPEATS times under mpirun, takes the median of each (size, algorithm) over the
# repeats, and prints busbw with the ratios the foundation issue asks for:
#   ring / mpi, ring / gloo, and auto / best-at-that-size.
#   scripts/bench/allreduce.sh [RANKS=2] [REPEATS=5] [SIZES=4K,64K,1M,16M,64M]
set -euo pipefail
cd "$(dirname "$0")/../.."
ranks=${1:-2}
repeats=${2:-5}
sizes=${3:-4K,64K,1M,16M,64M}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ((i = 0; i < repeats; ++i)); do
  mpirun -np "$ranks" --oversubscribe --bind-to none build/bin/dojo bench allreduce \
    --algo all --sizes "$sizes" --json >>"$out"
done
python3 - "$out" "$ranks" "$repeats" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
ranks, repeats = sys.argv[2], sys.argv[3]
by = {}
for r in rows:
    by.setdefault((r["bytes"], r["algo"]), []).append(r)
algos = ["ring", "recursive_doubling", "auto", "mpi", "gloo"]
print(f"# {ranks} ranks, median over {repeats} runs of dojo bench allreduce (each a median of timed iterations)")
print(f"{'size':>10} " + " ".join(f"{a:>19}" for a in algos) + "   ring/mpi ring/gloo auto/best  correct")
for size in sorted({b for b, _ in by}):
    bw, us, ok = {}, {}, True
    for a in algos:
        rs = by.get((size, a), [])
        if rs:
            bw[a] = statistics.median(r["busbw_GBps"] for r in rs)
            us[a] = statistics.median(r["time_us_median"] for r in rs)
            ok = ok and all(r["correct"] for r in rs)
    best = min(us[a] for a in us if a != "auto")
    label = f"{size >> 20}M" if size >= 1 << 20 else f"{size >> 10}K"
    cells = " ".join(f"{us[a]:>9.1f}us {bw[a]:>5.2f}GB/s" if a in us else f"{'-':>19}" for a in algos)
    print(f"{label:>10} {cells}   {us['mpi']/us['ring']:>8.2f} {us['gloo']/us['ring']:>9.2f} {best/us['auto']:>9.2f}  {'yes' if ok else 'NO'}")
PY
