#!/usr/bin/env bash
# The README's main job, from a fresh Debian 12 machine: install dependencies, build,
# synthesise driving clips, ingest them into HDF5 shards on 2 ranks, train the demo model
# on 2 ranks with mpirun, evaluate on held-out clips, and say where the results are.
#   scripts/demo.sh [OUT_DIR]      (default runs/demo; extra `--set k=v` via DOJO_DEMO_SET)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/demo}
scripts/setup-deps.sh
scripts/build.sh dojo
dojo=build/bin/dojo
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# dojo reports errors itself (once, by rank 0, when every rank finds one): no Open MPI banners.
export OMPI_MCA_orte_execute_quiet=1
mpirun=(mpirun -np 2 --oversubscribe --bind-to none)

# Synthetic driving scenes (procedural, deterministic from the seed): training and
# held-out sets use different seeds, so evaluation never sees a training scene.
[[ -f "$out/videos/.done" ]] || {
  "$dojo" synth --out "$out/videos" --clips 16 --seconds 8 --size 320x240 --fps 15 --seed 1
  touch "$out/videos/.done"
}
[[ -f "$out/heldout/.done" ]] || {
  "$dojo" synth --out "$out/heldout" --clips 3 --seconds 8 --size 320x240 --fps 15 --seed 1001 --first-index 1000
  touch "$out/heldout/.done"
}
# Ingest is resumable: inputs already in the manifest are skipped on a second run.
"${mpirun[@]}" "$dojo" ingest "$out/videos" --out "$out/shards" --frames 8 --size 64x64
"$dojo" ingest "$out/heldout" --out "$out/eval" --frames 8 --size 64x64

# ${DOJO_DEMO_SET} may add overrides, e.g. DOJO_DEMO_SET="train.steps=50".
sets=(--set "data.shards=$out/shards" --set "data.eval_shards=$out/eval")
for kv in ${DOJO_DEMO_SET:-}; do sets+=(--set "$kv"); done
# --resume auto: a second run of this script continues (or just re-evaluates) the first.
"${mpirun[@]}" "$dojo" train --config configs/demo.yaml --run-dir "$out/run" --resume auto "${sets[@]}"
"$dojo" eval --run-dir "$out/run"
# What one step of this model would cost on a full ExaPOD (no data needed).
"$dojo" sim --preset exapod --model configs/model-demo.yaml

cat <<TXT

Results in $out/run:
  loss curve          $out/run/loss.png
  reconstructions     $out/run/samples/  (input | masked input | reconstruction)
  mesh trace          $out/run/trace.json  (open in https://ui.perfetto.dev or chrome://tracing)
  metrics             $out/run/metrics.jsonl
  checkpoints         $out/run/checkpoints/  (dojo inspect $out/run/checkpoints/step-001000.h5)
TXT
