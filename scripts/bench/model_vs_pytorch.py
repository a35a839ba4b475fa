#!/usr/bin/python3
"""Times a training step of the PyTorch VideoMAE (scripts/reference/videomae_torch.py) the
way `dojo bench model` times dojo's: random clips in [0, 1], a fresh tube mask each step,
forward + backward + AdamW (decay on matrices only), median over the timed steps.

    OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=1 \
        /usr/bin/python3 scripts/bench/model_vs_pytorch.py --config bench --threads 1

--precision bf16 runs forward and loss under torch.autocast("cpu", dtype=torch.bfloat16)
(PyTorch's mixed precision on CPU: bf16 GEMMs, fp32 master weights and optimizer).

Prints one JSON object: config, threads, precision, step_ms_median, step_ms, step_cpu_ms_median
(process CPU time, all threads), loss_first, loss_last.
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from videomae_torch import CONFIGS, VideoMAE, tube_mask  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="bench")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                    help="bf16: torch.autocast(cpu, bfloat16) around forward and loss, "
                         "fp32 master weights")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = CONFIGS[args.config]
    model = VideoMAE(cfg)
    params = dict(model.named_parameters())
    opt = torch.optim.AdamW(
        [{"params": [p for p in params.values() if p.dim() >= 2], "weight_decay": 0.05},
         {"params": [p for p in params.values() if p.dim() < 2], "weight_decay": 0.0}],
        lr=1e-3, betas=(0.9, 0.95))
    clips = torch.rand(args.batch, cfg["frames"], cfg["height"], cfg["width"], cfg["channels"])
    gen = torch.Generator().manual_seed(1)
    times, cpu_times, losses = [], [], []
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        cpu_start = time.process_time()
        vis, msk = tube_mask(cfg, args.batch, gen)
        opt.zero_grad(set_to_none=False)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            loss = model(clips, vis, msk)
        loss.backward()
        opt.step()
        ms = (time.perf_counter() - start) * 1e3
        cpu_ms = (time.process_time() - cpu_start) * 1e3
        losses.append(float(loss.item()))
        if step >= args.warmup:
            times.append(ms)
            cpu_times.append(cpu_ms)

    def median(v):
        v, n = sorted(v), len(v)
        return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])
    print(json.dumps({"config": args.config, "threads": args.threads, "framework": "pytorch",
                      "precision": args.precision,
                      "torch": torch.__version__, "step_ms_median": median(times), "step_ms": times,
                      "step_cpu_ms_median": median(cpu_times),
                      "loss_first": losses[0], "loss_last": losses[-1]}))


if __name__ == "__main__":
    main()
