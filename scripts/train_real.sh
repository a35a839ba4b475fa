#!/usr/bin/env bash
# Trains configs/real.yaml on real dashcam footage and evaluates it on cameras it never saw.
#   scripts/train_real.sh [RUN_DIR]     (default runs/real)
# Environment: DOJO_BIN (default build/bin/dojo), DOJO_SHARED_DATA (default
# ../shared/data), DOJO_RANKS (default 2), DOJO_REAL_SET (extra "key=value" overrides,
# e.g. "train.steps=300").
# Ingest is resumable: a second run skips the videos already in each manifest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-runs/real}")
dojo=${DOJO_BIN:-$root/build/bin/dojo}
data=${DOJO_SHARED_DATA:-$root/../shared/data}
ranks=${DOJO_RANKS:-2}
[[ -x "$dojo" ]] || { echo "train_real.sh: no dojo binary at $dojo (set DOJO_BIN)" >&2; exit 2; }
for d in "$data/driving" "$data/driving-more"; do
  [[ -d "$d" ]] || { echo "train_real.sh: $d is missing (set DOJO_SHARED_DATA)" >&2; exit 2; }
done

# Held-out cameras: different places, light and mounts (night city, fog, rain on the
# windshield, a 5 fps street camera, dry hills, dusk). Never trained on.
heldout=(
  driving/dashcam_highway_dusk_640x360.mp4
  driving-more/korea_night_city_dashcam_1280x720.mp4
  driving-more/fog_curvy_road_shutterstock_596x336.mp4
  driving-more/rain_windshield_wipers_640x360.mp4
  driving-more/kitti_street_5fps_mpeg4_1224x370.mp4
  driving-more/highway_dry_hills_640x360.mp4
)
train=()
for f in "$data"/driving/*.mp4 "$data"/driving-more/*.mp4; do
  rel=${f#"$data"/}
  [[ " ${heldout[*]} " == *" $rel "* ]] || train+=("$f")
done
eval_inputs=()
for rel in "${heldout[@]}"; do eval_inputs+=("$data/$rel"); done

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
if (( ranks > 1 )); then
  launch=(mpirun -np "$ranks" --oversubscribe --bind-to none)
else
  launch=()
fi
clip=(--frames 8 --size 64x64 --fps 10)
"${launch[@]}" "$dojo" ingest "${train[@]}" --out "$out/train-shards" "${clip[@]}" --clip-stride 4
"$dojo" ingest "${eval_inputs[@]}" --out "$out/heldout-shards" "${clip[@]}"

sets=(--set "data.shards=$out/train-shards" --set "data.eval_shards=$out/heldout-shards")
for kv in ${DOJO_REAL_SET:-}; do sets+=(--set "$kv"); done
cd "$root"  # the default data and run folders are relative to the repository
"${launch[@]}" "$dojo" train --config configs/real.yaml --run-dir "$out/run" "${sets[@]}"
"$dojo" eval --run-dir "$out/run"
