#!/usr/bin/env bash
# Installs every Debian 12 package dojo needs to build, test and run.
# Idempotent and quiet when everything is already there.
#   scripts/setup-deps.sh            build + test + run dependencies
#   scripts/setup-deps.sh --reference  also PyTorch/h5py for scripts/reference and scripts/bench
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git clang-format
  openmpi-bin libopenmpi-dev libgloo-dev
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev ffmpeg
  libopencv-dev libhdf5-openmpi-dev hdf5-tools
  libopenblas-dev libdnnl-dev ocl-icd-opencl-dev
  libgtest-dev libgmock-dev
  libcli11-dev nlohmann-json3-dev libyaml-cpp-dev libxxhash-dev libfmt-dev
  munge slurm-wlm slurmd slurmctld slurm-client libpmix-dev
  libcpp-httplib-dev libsqlite3-dev libsodium-dev
  iproute2 util-linux chromium nodejs
  python3
)
if [[ "${1:-}" == "--reference" ]]; then
  packages+=(python3-torch python3-h5py python3-numpy)
fi

# npm comes with the machine's Node.js (20+, which @playwright/test needs); Debian's own
# nodejs package ships it separately.
command -v npm >/dev/null || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "setup-deps: installing ${#missing[@]} package(s): ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian enables the slurm/munge services on install; dojo starts its own
  # daemons under a temporary directory, so the system ones must not run.
  for svc in slurmctld slurmd munge; do
    if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
      "${sudo_cmd[@]}" systemctl stop "$svc" || true
    fi
  done
  echo "setup-deps: done"
fi

# npm: the dashboard's charting library and the browser tests' runner, pinned in
# package-lock.json. Playwright is pointed at Debian's chromium, so it downloads no browser.
# `npm ci` runs again only when node_modules is missing or older than the lock file's content.
cd "$(dirname "$0")/.."
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.dojo-lock.sha256
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$lock_sum" ]]; then
  echo "setup-deps: npm ci (package-lock.json)"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null
  echo "$lock_sum" > "$stamp"
fi
