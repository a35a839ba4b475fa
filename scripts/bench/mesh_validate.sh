#!/usr/bin/env bash
# Validates the `host` mesh preset against measurements on this machine, all in one
# invocation, ROUNDS times (default 3), and prints every round plus the medians:
#   1. mpirun -np 2 dojo bench calibrate   -> host preset (sgemm, triad, non-GEMM rate,
#      rank-to-rank latency/bandwidth) and dojo's own plain 2-rank ring vs its prediction
#   2. dojo bench model (bench config, 1 thread) vs dojo sim --preset host --model bench
#      --global-batch 16 (one replica on one core)        target: within 10%
#      Compared with the step's process CPU time as well as its wall time: calibration
#      rates are per CPU second, so on a machine shared with other jobs the CPU time is
#      the like-for-like measurement (wall time includes time the core ran others).
#   3. mpirun -np 2 dojo bench allreduce --algo ring --sizes 1M,16M (from ALLREDUCE_BIN,
#      default the same dojo, if it has the command) vs the host preset's 2-rank
#      all-reduce prediction                                             target: within 15%
# usage: scripts/bench/mesh_validate.sh [DOJO_BIN] [ROUNDS]   (env ALLREDUCE_BIN=...)
set -euo pipefail
BIN=${1:-build/bin/dojo}
ROUNDS=${2:-3}
AR_BIN=${ALLREDUCE_BIN:-$BIN}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN="mpirun --oversubscribe --bind-to none -n 2"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for round in $(seq 1 "$ROUNDS"); do
  d="$tmp/$round"
  mkdir -p "$d"
  $MPIRUN "$BIN" bench calibrate --out "$d/host.yaml" --json > "$d/calibrate.json"
  "$BIN" bench model --config bench --threads 1 --json > "$d/model.json"
  DOJO_MESH_DIR="$d" "$BIN" sim --preset host --model bench --global-batch 16 --json > "$d/sim.json"
  if $MPIRUN "$AR_BIN" bench allreduce --algo ring --sizes 1M,16M --json > "$d/allreduce.json" 2> /dev/null; then
    :
  else
    rm -f "$d/allreduce.json"
  fi
done
python3 - "$tmp" "$ROUNDS" <<'PY'
import json, os, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])

rows = {"model_cpu": [], "model_wall": [], "ring_own_1M": [], "ring_own_16M": [], "ring_lead_1M": [], "ring_lead_16M": []}
for r in range(1, rounds + 1):
    d = os.path.join(tmp, str(r))
    cal = json.load(open(os.path.join(d, "calibrate.json")))
    model = json.load(open(os.path.join(d, "model.json")))
    sim = json.load(open(os.path.join(d, "sim.json")))
    measured, predicted = model["step_ms_median"] / 1e3, sim["step_s"]
    cpu = model["step_cpu_ms_median"] / 1e3
    rows["model_wall"].append((measured, predicted))
    rows["model_cpu"].append((cpu, predicted))
    print(f"round {r}: sgemm {cal['gemm_flops_per_s']/1e9:.1f} GFLOP/s, triad {cal['memory_bytes_per_s']/1e9:.2f} GB/s, "
          f"non-GEMM {cal['vector_flops_per_s']/1e9:.2f} GFLOP/s, link {cal['p2p_latency_s']*1e6:.2f} us "
          f"{cal['p2p_bytes_per_s']/1e9:.2f} GB/s")
    print(f"  bench model step: measured {measured*1e3:.1f} ms wall, {cpu*1e3:.1f} ms CPU; host preset "
          f"predicts {predicted*1e3:.1f} ms ({100*(predicted/cpu-1):+.1f}% vs CPU, "
          f"{100*(predicted/measured-1):+.1f}% vs wall)")
    for ring in cal["ring_allreduce"]:
        key = "ring_own_1M" if ring["bytes"] == 1 << 20 else "ring_own_16M"
        rows[key].append((ring["measured_s"], ring["predicted_s"]))
        print(f"  calibrate's plain ring {ring['bytes']>>10} KiB: measured {ring['measured_s']*1e3:.3f} ms, "
              f"predicted {ring['predicted_s']*1e3:.3f} ms ({100*ring['error']:+.1f}%)")
    predicted_ring = {ring["bytes"]: ring["predicted_s"] for ring in cal["ring_allreduce"]}
    path = os.path.join(d, "allreduce.json")
    if os.path.exists(path):
        for line in open(path):
            if not line.strip():
                continue
            row = json.loads(line)
            key = "ring_lead_1M" if row["bytes"] == 1 << 20 else "ring_lead_16M"
            m, p = row["time_us_median"] / 1e6, predicted_ring[row["bytes"]]
            rows[key].append((m, p))
            print(f"  dojo bench allreduce --algo ring {row['bytes']>>10} KiB: measured {m*1e3:.3f} ms, "
                  f"predicted {p*1e3:.3f} ms ({100*(p/m-1):+.1f}%)")
    else:
        print("  dojo bench allreduce: not available in this build (set ALLREDUCE_BIN)")
print("medians over rounds (measured, predicted, error of the median ratio):")
for key, pairs in rows.items():
    if not pairs:
        continue
    ratio = statistics.median(p / m for m, p in pairs)
    print(f"  {key:14} measured {statistics.median(m for m, _ in pairs)*1e3:9.3f} ms  "
          f"predicted {statistics.median(p for _, p in pairs)*1e3:9.3f} ms  error {100*(ratio-1):+.1f}%")
PY
