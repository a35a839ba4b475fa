#!/usr/bin/env bash
# dojo's training step against PyTorch's on the same model config, in one invocation.
#
#   scripts/bench/model_vs_pytorch.sh [--config bench] [--rounds 3] [--steps 8] [--threads "1 2"]
#                                     [--raw FILE]   (also keep every run's JSON line in FILE)
#
# For each thread count, runs `dojo bench model` (fp32 and bf16) and the PyTorch version
# (scripts/bench/model_vs_pytorch.py: fp32, and bf16 under torch.autocast("cpu",
# dtype=torch.bfloat16) around forward and loss with fp32 master weights; with its best CPU
# settings:
# torch.set_num_threads(N), OMP_WAIT_POLICY=PASSIVE, OPENBLAS_NUM_THREADS=1) alternately for
# several rounds -- the machine may be shared, so the median over rounds is reported --
# and prints the step-time ratios dojo / PyTorch (dojo fp32 / torch fp32, dojo bf16 / torch
# bf16 autocast). dojo runs with the same
# OMP_WAIT_POLICY=PASSIVE (its oneDNN and kernel threads are OpenMP's too): on a shared
# machine, spinning OpenMP threads that lose their core stall every parallel region. Needs a built `dojo`
# (DOJO_BIN, default build/bin/dojo) and Debian's python3-torch (/usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
config=bench rounds=3 steps=8 threads="1 2" raw=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --config) config=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --raw) raw=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
dojo=${DOJO_BIN:-build/bin/dojo}
[[ -x "$dojo" ]] || { echo "no dojo executable at $dojo (build it or set DOJO_BIN)" >&2; exit 1; }
/usr/bin/python3 -c "import torch" 2>/dev/null ||
  { echo "/usr/bin/python3 has no torch: apt-get install python3-torch (Debian's PyTorch)" >&2; exit 1; }
if [[ -n "$raw" ]]; then
  results=$raw
  : >"$results"
else
  results=$(mktemp)
  trap 'rm -f "$results"' EXIT
fi
for t in $threads; do
  for r in $(seq "$rounds"); do
    echo "threads $t round $r/$rounds ..." >&2
    for p in fp32 bf16; do
      OMP_WAIT_POLICY=PASSIVE "$dojo" bench model --config "$config" --threads "$t" --steps "$steps" --precision "$p" \
        --json | sed "s/^/dojo $t $p /" >>"$results"
    done
    for p in fp32 bf16; do
      OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS="$t" \
        /usr/bin/python3 scripts/bench/model_vs_pytorch.py --config "$config" --threads "$t" \
        --steps "$steps" --precision "$p" | sed "s/^/torch $t $p /" >>"$results"
    done
  done
done
/usr/bin/python3 - "$results" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    who, t, p, js = line.split(" ", 3)
    runs.setdefault((who, int(t), p), []).append(json.loads(js))
def med(key, field="step_ms_median"):
    return statistics.median(r[field] for r in runs[key])
print(f"{'threads':>7} {'dojo fp32 ms':>13} {'torch fp32 ms':>14} {'fp32 ratio':>10} "
      f"{'dojo bf16 ms':>13} {'torch bf16 ms':>14} {'bf16 ratio':>10} "
      f"{'bf16 GFLOP/s':>12} {'bf16 ceiling':>12} {'share':>6}")
for t in sorted({k[1] for k in runs}):
    d32, d16 = med(("dojo", t, "fp32")), med(("dojo", t, "bf16"))
    p32, p16 = med(("torch", t, "fp32")), med(("torch", t, "bf16"))
    gf = med(("dojo", t, "bf16"), "gflops")
    peak = med(("dojo", t, "bf16"), "gemm_peak_gflops")
    print(f"{t:>7} {d32:>13.1f} {p32:>14.1f} {d32 / p32:>10.2f} {d16:>13.1f} {p16:>14.1f} "
          f"{d16 / p16:>10.2f} {gf:>12.1f} {peak:>12.1f} {100 * gf / peak:>5.0f}%")
# bf16 against fp32: the same clips and masks, so the loss curves should agree closely.
for t in sorted({k[1] for k in runs}):
    a, b = runs[("dojo", t, "fp32")][0]["losses"], runs[("dojo", t, "bf16")][0]["losses"]
    worst = max(abs(x - y) / abs(x) for x, y in zip(a, b))
    print(f"{t} threads loss fp32: " + " ".join(f"{x:.4f}" for x in a))
    print(f"{t} threads loss bf16: " + " ".join(f"{x:.4f}" for x in b)
          + f"   (max rel diff {worst:.2e})")
# The least disturbed round (min over rounds of each round's median): on a shared machine
# the other load only ever adds time.
print("best round (min over rounds of the per-round median step time):")
for t in sorted({k[1] for k in runs}):
    b32 = min(r["step_ms_median"] for r in runs[("dojo", t, "fp32")])
    b16 = min(r["step_ms_median"] for r in runs[("dojo", t, "bf16")])
    bpt = min(r["step_ms_median"] for r in runs[("torch", t, "fp32")])
    bp16 = min(r["step_ms_median"] for r in runs[("torch", t, "bf16")])
    print(f"{t:>7} dojo fp32 {b32:.1f} ms, bf16 {b16:.1f} ms, torch fp32 {bpt:.1f} ms, "
          f"bf16 {bp16:.1f} ms: ratios {b32 / bpt:.2f} / {b16 / bp16:.2f}")
# Paired: each round's dojo run against the PyTorch run right after it (similar load),
# then the median of those ratios.
print("median of per-round ratios (dojo run / the PyTorch run of the same round):")
for t in sorted({k[1] for k in runs}):
    pt = [r["step_ms_median"] for r in runs[("torch", t, "fp32")]]
    pt16 = [r["step_ms_median"] for r in runs[("torch", t, "bf16")]]
    r32 = [d["step_ms_median"] / p for d, p in zip(runs[("dojo", t, "fp32")], pt)]
    r16 = [d["step_ms_median"] / p for d, p in zip(runs[("dojo", t, "bf16")], pt16)]
    print(f"{t:>7} fp32 {statistics.median(r32):.2f} (rounds " + " ".join(f"{x:.2f}" for x in r32)
          + f"), bf16 {statistics.median(r16):.2f} (rounds " + " ".join(f"{x:.2f}" for x in r16) + ")")
print("process CPU time per step (all threads; less disturbed by other load):")
for t in sorted({k[1] for k in runs}):
    c32, c16 = med(("dojo", t, "fp32"), "step_cpu_ms_median"), med(("dojo", t, "bf16"), "step_cpu_ms_median")
    cpt = med(("torch", t, "fp32"), "step_cpu_ms_median")
    cpt16 = med(("torch", t, "bf16"), "step_cpu_ms_median")
    print(f"{t:>7} dojo fp32 {c32:.1f} ms, bf16 {c16:.1f} ms, torch fp32 {cpt:.1f} ms, "
          f"bf16 {cpt16:.1f} ms: ratios {c32 / cpt:.2f} / {c16 / cpt16:.2f}")
print("rounds per cell:", ", ".join(f"{k[0]} {k[1]}t {k[2]}: "
      + "/".join(f"{r['step_ms_median']:.0f}" for r in v) for k, v in sorted(runs.items())))
PY
