#!/usr/bin/env bash
# The two-level host preset against the cluster it was calibrated on, ROUNDS rounds:
#   all-reduce  hosts.sh hosts with links at RATE; each round a fresh `dojo bench calibrate`
#               on 2 hosts x 2 ranks (a two-level host.yaml), then `dojo bench allreduce`
#               of SIZES for ring, mpi, hierarchical and auto on the same 4 ranks (median of
#               ITERS) against `dojo sim --preset host --allreduce SIZES --ranks 4`;
#   step        hosts with links at STEP_RATE; each round a calibration on 2 hosts x 1 rank,
#               then the bench config trained on 2 hosts x 1 rank (train_scaling.sh's run:
#               STEPS steps, the median step after the first 5) against `dojo sim --preset
#               host --config configs/bench.yaml --global-batch 32 --ranks 2` (the trainer's
#               buckets) and the trainer's own sim_step_s on that preset.
# Prints one row per quantity and round and, per quantity, the median of the rounds' errors
# (error = predicted / measured - 1).
#
#   scripts/cluster/sim-validate.sh [ROUNDS=3] [RATE=1gbit] [SIZES=16M,64M] [STEP_RATE=2500mbit] [STEPS=30] [ITERS=5]
#
# Needs root and a built dojo (DOJO_BIN, else build/bin/dojo). The hosts live under /var/tmp
# and are taken down at the end (also on failure); each round's presets and measurements
# stay in WORK (DOJO_SIM_VALIDATE_DIR, default runs/sim-validate).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
rate=${2:-1gbit}
sizes=${3:-16M,64M}
step_rate=${4:-2500mbit}
steps=${5:-30}
iters=${6:-5}
dojo=$(realpath "${DOJO_BIN:-$PWD/build/bin/dojo}")
work=$(realpath -m "${DOJO_SIM_VALIDATE_DIR:-runs/sim-validate}")
hosts=/var/tmp/dojo-sim-validate-hosts-$$
trap 'scripts/cluster/hosts.sh down "$hosts" >/dev/null 2>&1 || true; rm -rf "$hosts"' EXIT
mkdir -p "$work"
rm -f "$work"/*.jsonl
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_WAIT_POLICY=PASSIVE
on_h0() { scripts/cluster/hosts.sh exec "$hosts" dojo-h0 "$@"; }

calibrate() {  # calibrate LIST NP PER_HOST OUT
  on_h0 mpirun -H "$1" -np "$2" --map-by "ppr:$3:node" --bind-to none --wdir "$PWD" \
    "$dojo" bench calibrate --no-gloo --out "$4" >"$4.log" 2>&1 || { cat "$4.log"; exit 1; }
}

# All-reduce: 2 hosts x 2 ranks.
scripts/cluster/hosts.sh up 2 "$hosts" --rate "$rate" >/dev/null
for ((i = 0; i < rounds; ++i)); do
  mkdir -p "$work/allreduce-r$i"
  preset=$work/allreduce-r$i/host.yaml
  calibrate dojo-h0:2,dojo-h1:2 4 2 "$preset"
  for algo in ring mpi hierarchical auto; do
    on_h0 mpirun -H dojo-h0:2,dojo-h1:2 -np 4 --map-by ppr:2:node --bind-to none "$dojo" bench \
      allreduce --algo "$algo" --sizes "$sizes" --iters "$iters" --json |
      sed "s/^{/{\"round\":$i,/" >>"$work/allreduce-measured.jsonl"
    "$dojo" sim --preset "$preset" --allreduce "$sizes" --ranks 4 --algo "$algo" --json |
      python3 -c "import json,sys; d=json.load(sys.stdin); [print(json.dumps(dict(r, round=$i))) for r in d['rows']]" \
        >>"$work/allreduce-predicted.jsonl"
  done
done
scripts/cluster/hosts.sh down "$hosts" >/dev/null

# Training step: 2 hosts x 1 rank.
scripts/cluster/hosts.sh up 2 "$hosts" --rate "$step_rate" >/dev/null
for ((i = 0; i < rounds; ++i)); do
  mkdir -p "$work/step-r$i"
  preset=$work/step-r$i/host.yaml
  calibrate dojo-h0:1,dojo-h1:1 2 1 "$preset"
  "$dojo" sim --preset "$preset" --config configs/bench.yaml --global-batch 32 --ranks 2 --json \
    >"$work/step-r$i/sim.json"
  DOJO_BIN=$dojo DOJO_SCALING_HOSTS=$hosts DOJO_SCALING_MESH=$preset \
    scripts/bench/train_scaling.sh 2 "$steps" 1 "$work/train" >"$work/step-r$i/scaling.txt"
  cp "$work/train/r0-n2/metrics.jsonl" "$work/step-r$i/metrics.jsonl"
done

python3 - "$work" "$rounds" "$rate" "$step_rate" <<'PY'
import json, statistics, sys
work, rounds, rate, step_rate = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
measured = [json.loads(l) for l in open(f"{work}/allreduce-measured.jsonl") if l.startswith("{")]
predicted = [json.loads(l) for l in open(f"{work}/allreduce-predicted.jsonl")]
rows = {}  # quantity -> [(measured_s, predicted_s)] per round
for m in measured:
    p = [p for p in predicted if p["round"] == m["round"] and p["algo"] == m["algo"] and p["bytes"] == m["bytes"]]
    name = f"all-reduce {m['algo']} {m['bytes'] >> 20} MiB, 2 hosts x 2 ranks, {rate}"
    rows.setdefault(name, []).append((m["time_us_median"] / 1e6, p[0]["time_s"]))
for i in range(rounds):
    steps = [json.loads(l) for l in open(f"{work}/step-r{i}/metrics.jsonl") if '"loss"' in l][5:]
    step = statistics.median(s["step_s"] for s in steps)
    trainer = statistics.median(s["sim_step_s"] for s in steps)
    sim = json.load(open(f"{work}/step-r{i}/sim.json"))
    name = f"bench step, 2 hosts x 1 rank, {step_rate}"
    rows.setdefault(f"{name} (dojo sim)", []).append((step, sim["step_s"]))
    rows.setdefault(f"{name} (trainer sim_step_s)", []).append((step, trainer))
    rows.setdefault(f"{name}: exposed comm (dojo sim)", []).append(
        (statistics.median(s["comm_s"] for s in steps), sim["comm_s"]))
print("| quantity | measured (median of rounds) | predicted | error (median of rounds) | rounds' errors |")
print("|---|---|---|---|---|")
for name, pairs in rows.items():
    errors = [p / m - 1 for m, p in pairs]
    print(f"| {name} | {statistics.median(m for m, _ in pairs) * 1e3:.1f} ms "
          f"| {statistics.median(p for _, p in pairs) * 1e3:.1f} ms | {100 * statistics.median(errors):+.1f}% "
          f"| {', '.join(f'{100 * e:+.0f}%' for e in errors)} |")
PY
