#!/usr/bin/env bash
# Training weak scaling across hosts: 1 host x 1 rank against N hosts x 1 rank on the bench
# config, the hosts made with hosts.sh and their links capped, each run REPEATS times
# (scripts/bench/train_scaling.sh does the runs and the table: step time, data wait, and
# the communication backward did not hide).
#
#   scripts/cluster/bench-train.sh [RATE=2500mbit] [HOSTS=2] [STEPS=30] [REPEATS=3]
#
# The hosts live under /var/tmp and are taken down at the end (also on failure); the run
# folders are under runs/scaling-hosts (every host sees it: only /tmp is per host). Needs
# root and a built build/bin/dojo (or DOJO_BIN).
set -euo pipefail
cd "$(dirname "$0")/../.."
rate=${1:-2500mbit}
n=${2:-2}
steps=${3:-30}
repeats=${4:-3}
hosts=/var/tmp/dojo-bench-train-hosts-$$
trap 'scripts/cluster/hosts.sh down "$hosts" >/dev/null; rm -rf "$hosts"' EXIT
scripts/cluster/hosts.sh up "$n" "$hosts" --rate "$rate" >/dev/null
echo "# weak scaling: 1 host x 1 rank vs $n hosts x 1 rank, links $rate, bench config"
DOJO_SCALING_HOSTS=$hosts scripts/bench/train_scaling.sh "$n" "$steps" "$repeats" runs/scaling-hosts
