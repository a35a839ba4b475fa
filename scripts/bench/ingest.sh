#!/usr/bin/env bash
# Ingest throughput against its anchor, measured in the same invocation:
#   anchor: ffmpeg CLI decoding each input and scaling (bilinear, as dojo) to SIZE x SIZE
#           raw RGB24 into /dev/null,
#   dojo:   `dojo ingest` of the same inputs (decode + crop/scale + xxhash + HDF5 writes).
# Both use the same thread count; each set is timed REPEATS times and the median kept.
#
#   scripts/bench/ingest.sh [BUILD_DIR]
#   env: THREADS="1 2"  REPEATS=3  SIZE=96  SYNTH_CLIPS=2  SYNTH_SECONDS=10
# Inputs: synthetic 720p H.264 (made here by `dojo synth`) and ../shared/data/driving
# when present.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build}
dojo=$build/bin/dojo
threads=${THREADS:-"1 2"}
repeats=${REPEATS:-3}
size=${SIZE:-96}
work=$(mktemp -d /tmp/dojo-bench-ingest.XXXXXX)
trap 'rm -rf "$work"' EXIT

[[ -x $dojo ]] || { echo "ingest.sh: $dojo not built" >&2; exit 1; }
command -v ffmpeg >/dev/null || { echo "ingest.sh: ffmpeg CLI not installed" >&2; exit 1; }

"$dojo" synth --out "$work/synth720" --clips "${SYNTH_CLIPS:-2}" --seconds "${SYNTH_SECONDS:-10}" \
  --size 1280x720 --fps 30 --seed 7 2>/dev/null
sets=("synth720:$work/synth720")
shared=$here/../shared/data/driving
[[ -d $shared ]] && sets+=("driving:$shared")

median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.9f", a - b}'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.6f", a / b}'; }

printf '%-10s %7s %7s %14s %14s %7s\n' set threads frames "ffmpeg fr/s" "dojo fr/s" ratio
for entry in "${sets[@]}"; do
  name=${entry%%:*}
  dir=${entry#*:}
  files=$(find "$dir" -maxdepth 1 -name '*.mp4' | sort)
  frames=0
  for f in $files; do
    n=$(ffprobe -v error -select_streams v:0 -count_frames -show_entries stream=nb_read_frames \
          -of csv=p=0 "$f")
    frames=$((frames + n))
  done
  for t in $threads; do
    ff=(); dj=()
    for ((r = 0; r < repeats; r++)); do
      t0=$(now)
      for f in $files; do
        ffmpeg -nostdin -v error -threads "$t" -i "$f" -filter_threads "$t" \
          -vf "scale=$size:$size:flags=bilinear" -pix_fmt rgb24 -f rawvideo -y /dev/null
      done
      t1=$(now)
      ff+=("$(div "$frames" "$(sub "$t1" "$t0")")")
      rm -rf "$work/out"
      t0=$(now)
      "$dojo" ingest $files --out "$work/out" --threads "$t" --size "${size}x${size}" \
        --frames 16 2>/dev/null
      t1=$(now)
      dj+=("$(div "$frames" "$(sub "$t1" "$t0")")")
    done
    f_med=$(printf '%s\n' "${ff[@]}" | median)
    d_med=$(printf '%s\n' "${dj[@]}" | median)
    printf '%-10s %7s %7s %14.0f %14.0f %7.2f\n' "$name" "$t" "$frames" "$f_med" "$d_med" \
      "$(div "$d_med" "$f_med")"
  done
done
