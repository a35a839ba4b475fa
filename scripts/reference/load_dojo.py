#!/usr/bin/python3
"""Loads a `dojo export` file into the PyTorch reference model and checks it against dojo.

    dojo export CHECKPOINT --out model.safetensors --check-clip check.safetensors
    /usr/bin/python3 scripts/reference/load_dojo.py model.safetensors check.safetensors

Reads both files with a small safetensors parser (the format: u64 LE header length, JSON
header, raw little-endian data), builds videomae_torch.VideoMAE from the model config in
__metadata__, loads the weights by name (only the fixed sin-cos buffers are not in the
file), runs forward on the check clip with dojo's mask, and compares the loss, every
normalised prediction and the embedding (encoder on every token, mean over tokens) with
dojo's. Prints the largest relative differences; exits 1 if one exceeds --rtol (1e-5).
"""
import argparse
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import videomae_torch  # noqa: E402

DTYPES = {"F32": torch.float32, "I64": torch.int64}
INT_KEYS = ["frames", "height", "width", "channels", "tubelet_frames", "patch", "encoder_dim",
            "encoder_depth", "encoder_heads", "decoder_dim", "decoder_depth", "decoder_heads"]
FLOAT_KEYS = ["mask_ratio", "mlp_ratio"]


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, v in header.items():
        begin, end = v["data_offsets"]
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=DTYPES[v["dtype"]])
        tensors[name] = t.reshape(v["shape"]).clone()
    return meta, tensors


def rel_diff(a, b):
    a, b = a.double(), b.double()
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("check")
    ap.add_argument("--rtol", type=float, default=1e-5)
    args = ap.parse_args()

    meta, weights = read_safetensors(args.model)
    assert meta.get("format") == "dojo-videomae", f"{args.model}: not a dojo export ({meta})"
    cfg = {k: int(meta[k]) for k in INT_KEYS}
    cfg.update({k: float(meta[k]) for k in FLOAT_KEYS})
    assert float(meta["ln_eps"]) == videomae_torch.LN_EPS, meta["ln_eps"]
    assert float(meta["target_eps"]) == videomae_torch.TARGET_EPS, meta["target_eps"]
    torch.manual_seed(0)
    model = videomae_torch.VideoMAE(cfg)
    missing, unexpected = model.load_state_dict(weights, strict=False)
    assert sorted(missing) == ["dec_pos", "enc_pos"], f"missing from the file: {missing}"
    assert not unexpected, f"not in the PyTorch model: {unexpected}"
    model.eval()

    _, check = read_safetensors(args.check)
    clip = check["clip"]
    vis, msk = check["visible_index"], check["masked_index"]
    captured = {}
    model.head.register_forward_hook(lambda mod, inp, out: captured.__setitem__("pred", out))
    with torch.no_grad():
        loss = model(clip, vis, msk)
        # The embedding: encoder over every token, final LayerNorm, mean over tokens.
        x = model.patch_embed(model.patchify(clip)) + model.enc_pos
        for blk in model.encoder:
            x = blk(x)
        embedding = model.encoder_norm(x).mean(dim=1)

    diffs = {
        "loss": rel_diff(loss.reshape(1), check["loss"]),
        "predictions": rel_diff(captured["pred"], check["predictions"]),
        "embedding": rel_diff(embedding, check["embedding"]),
    }
    print(f"model {meta['name']}: {len(weights)} tensors, "
          f"{sum(t.numel() for t in weights.values())} parameters, step {meta.get('step')}")
    print(f"loss: pytorch {loss.item():.7f}  dojo {check['loss'].item():.7f}")
    for k, v in diffs.items():
        print(f"max relative difference, {k}: {v:.3e}")
    worst = max(diffs.values())
    print("MATCH" if worst <= args.rtol else f"MISMATCH (above {args.rtol:g})")
    return 0 if worst <= args.rtol else 1


if __name__ == "__main__":
    sys.exit(main())
