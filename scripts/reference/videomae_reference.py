#!/usr/bin/python3
"""Writes the PyTorch reference for dojo's VideoMAE (tiny config) to tests/data/.

Run by hand (not in CI) with Debian's python3-torch:

    ninja -C build model_reference_inputs
    build/tests/model_reference_inputs /tmp/videomae_tiny_inputs.bin
    /usr/bin/python3 scripts/reference/videomae_reference.py \
        --inputs /tmp/videomae_tiny_inputs.bin --out tests/data/videomae_tiny_ref.bin

The inputs file holds dojo's initial parameters (`param/<name>`), one batch of clips and
one tube mask. This script builds the same model in PyTorch from those weights and
computes, in float64: the loss, every parameter gradient, and the parameters after 3
torch.optim.AdamW steps on the same batch (decay on matrices only). It writes all of it,
inputs included, so the CI test (tests/model/reference_test.cpp) needs only that file.
"""
import argparse

import torch

from videomae_torch import CONFIGS, VideoMAE, dojo_name, read_tensors, write_tensors

LR = 1e-2
WEIGHT_DECAY = 0.05
BETAS = (0.9, 0.95)
EPS = 1e-8
STEPS = 3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    inputs = read_tensors(args.inputs)
    model = VideoMAE(CONFIGS["tiny"]).double()
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(inputs["param/" + dojo_name(name)].double().reshape(p.shape))
    clips = inputs["clips"].double()
    vis = inputs["visible_index"].long()
    msk = inputs["masked_index"].long()

    out = dict(inputs)
    loss = model(clips, vis, msk)
    loss.backward()
    out["loss"] = loss.detach().reshape(1)
    for name, p in params.items():
        out["grad/" + dojo_name(name)] = p.grad.detach().clone()

    decay = [p for n, p in params.items() if p.dim() >= 2]
    no_decay = [p for n, p in params.items() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=LR, betas=BETAS, eps=EPS)
    losses = []
    for step in range(STEPS):
        opt.zero_grad()
        loss = model(clips, vis, msk)
        loss.backward()
        losses.append(loss.item())
        opt.step()
    out["adamw/losses"] = torch.tensor(losses)
    out["adamw/hyper"] = torch.tensor([LR, WEIGHT_DECAY, BETAS[0], BETAS[1], EPS, STEPS])
    for name, p in params.items():
        out["after/" + dojo_name(name)] = p.detach().clone()
    write_tensors(args.out, out)
    print(f"loss {out['loss'].item():.8f}; {len(params)} parameter tensors; wrote {args.out}")


if __name__ == "__main__":
    main()
