#!/usr/bin/env bash
# Fails when a library includes a header of a layer it must not see (DESIGN.md, "Layers").
# Each library may include only the libraries listed for it (and itself); the build's
# per-library include folders catch most of these as compile errors, this catches the rest
# (a header reached through a library that happens to be linked).
#   scripts/check-layering.sh [SRC_DIR]
set -euo pipefail
src=${1:-"$(dirname "$0")/../src"}
declare -A allowed=(
  [core]="core"
  [h5]="core h5"
  [accel]="core accel"
  [comm]="core comm"
  [model]="core accel model"
  [data]="core h5 data"
  [train]="core h5 accel comm model data train"
  [serve]="core h5 accel comm model data train serve"
)
status=0
for lib in "${!allowed[@]}"; do
  [[ -d "$src/$lib" ]] || continue
  while IFS= read -r line; do
    file=${line%%:*}
    rest=${line#*:}
    lineno=${rest%%:*}
    target=$(sed -E 's/^[0-9]+:[[:space:]]*#[[:space:]]*include[[:space:]]*"([a-z0-9_]+)\/.*/\1/' <<<"$rest")
    [[ -d "$src/$target" ]] || continue  # not one of dojo's libraries
    if [[ " ${allowed[$lib]} " != *" $target "* ]]; then
      echo "layering: $file:$lineno: $lib must not include $target/ (allowed: ${allowed[$lib]})"
      status=1
    fi
  done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[a-z0-9_]+/' -r "$src/$lib" \
             --include='*.hpp' --include='*.cpp' --include='*.h' || true)
done
if [[ $status -eq 0 ]]; then echo "layering: every include respects DESIGN.md's layers"; fi
exit $status
