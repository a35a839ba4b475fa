#!/usr/bin/env bash
# Weak scaling of `dojo train` on the bench config (DESIGN.md: 16x96x96x3 clips, batch 16
# per rank, 1 thread per rank): 1 rank vs N ranks in the same invocation, and the share of
# each step spent waiting for data and in communication that backward did not hide.
#   scripts/bench/train_scaling.sh [RANKS=2] [STEPS=30] [REPEATS=3] [WORK_DIR=runs/scaling]
# Prints per run the median step time and clips/s over steps after the first 5, then
#   efficiency = throughput(N) / (N * throughput(1))   (median over repeats)
# With DOJO_SCALING_HOSTS=DIR (hosts made by scripts/cluster/hosts.sh), the 1-rank run is on
# dojo-h0 and the N-rank run puts one rank on each of dojo-h0 ... dojo-h(N-1), so the
# gradients cross the hosts' links (scripts/cluster/bench-train.sh). DOJO_TRAIN_SET="k=v ..."
# adds settings to every run (e.g. DOJO_TRAIN_SET="comm.bucket_mb=25" to compare buckets).
# With DOJO_SCALING_MESH=PRESET the runs charge their steps to that mesh preset (e.g. a `host.yaml`
# calibrated on those hosts), so each step's sim_step_s is its prediction there.
set -euo pipefail
cd "$(dirname "$0")/../.."
ranks=${1:-2}
steps=${2:-30}
repeats=${3:-3}
work=$(realpath -m "${4:-runs/scaling}")
dojo=${DOJO_BIN:-$PWD/build/bin/dojo}
hosts=${DOJO_SCALING_HOSTS:-}
mesh=()
[[ -z ${DOJO_SCALING_MESH:-} ]] || mesh=(--set "mesh.preset=$DOJO_SCALING_MESH")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_WAIT_POLICY=PASSIVE
mkdir -p "$work"
if [[ ! -f "$work/shards/manifest.json" ]]; then
  "$dojo" synth --out "$work/videos" --clips 8 --seconds 12 --size 320x240 --fps 15 --seed 3
  mpirun -np 2 --bind-to none "$dojo" ingest "$work/videos" --out "$work/shards" --frames 16 --size 96x96
fi
run() {  # run NAME RANKS
  local dir="$work/$1" n=$2 list i
  local launch=(mpirun -np "$n" --oversubscribe --bind-to none)
  if [[ -n "$hosts" ]]; then
    list=dojo-h0:1
    for ((i = 1; i < n; ++i)); do list+=",dojo-h$i:1"; done
    launch=(scripts/cluster/hosts.sh exec "$hosts" dojo-h0 mpirun -H "$list" -np "$n" --bind-to none
            --wdir "$PWD")
  fi
  rm -rf "$dir"
  local extra=() kv
  for kv in ${DOJO_TRAIN_SET:-}; do extra+=(--set "$kv"); done
  "${launch[@]}" "$dojo" train --config configs/bench.yaml \
    --run-dir "$dir" --set "data.shards=$work/shards" --set "train.steps=$steps" \
    --set "train.global_batch=$((16 * n))" --set train.checkpoint_every=0 "${extra[@]}" "${mesh[@]}" >"$dir.log" 2>&1 ||
    { cat "$dir.log"; exit 1; }
}
for ((i = 0; i < repeats; ++i)); do
  run "r$i-n1" 1
  run "r$i-n$ranks" "$ranks"
done
python3 - "$work" "$ranks" "$repeats" <<'PY'
import json, statistics, sys
work, ranks, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def stats(name):
    rows = [json.loads(l) for l in open(f"{work}/{name}/metrics.jsonl") if '"loss"' in l][5:]
    step = statistics.median(r["step_s"] for r in rows)
    total = sum(r["step_s"] for r in rows)
    return {"step_s": step, "clips_per_s": statistics.median(r["clips_per_s"] for r in rows),
            "data_wait": sum(r["data_wait_s"] for r in rows) / total,
            "comm_exposed": sum(r["comm_s"] for r in rows) / total,
            "comm_total": sum(r["comm_total_s"] for r in rows) / total,
            "sim_step_s": statistics.median(r["sim_step_s"] for r in rows)}
effs = []
for i in range(repeats):
    one, many = stats(f"r{i}-n1"), stats(f"r{i}-n{ranks}")
    eff = many["clips_per_s"] / (ranks * one["clips_per_s"])
    effs.append(eff)
    for name, s in ((f"1 rank ", one), (f"{ranks} ranks", many)):
        print(f"repeat {i} {name}: step {s['step_s']*1e3:7.1f} ms  {s['clips_per_s']:6.1f} clips/s  "
              f"data-wait {100*s['data_wait']:.2f}%  comm exposed {100*s['comm_exposed']:.2f}% "
              f"(all-reduce total {100*s['comm_total']:.1f}% of step)  sim step {s['sim_step_s']*1e3:.3f} ms")
    print(f"repeat {i}: efficiency throughput({ranks}) / ({ranks} x throughput(1)) = {eff:.3f}")
print(f"median efficiency over {repeats} repeats: {statistics.median(effs):.3f}")
PY
