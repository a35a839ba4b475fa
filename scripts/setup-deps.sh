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

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

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
