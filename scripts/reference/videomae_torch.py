"""The dojo VideoMAE written in PyTorch, module for module.

Used by videomae_reference.py (the gradient reference committed under tests/data/) and by
scripts/bench/model_vs_pytorch.py (the step-time comparison). The maths follows
src/model/videomae.hpp exactly: tubelets flattened as (tp, p, p, C); a 1-D sin-cos
position table; pre-norm blocks with a fused qkv (with bias) and exact GELU; the decoder
sees every position (mask token at masked ones); LayerNorm and the head run on the masked
rows only; MSE against each masked tubelet normalised by its mean and unbiased std + eps.

Parameter names are dojo's (model/params.cpp); `dojo_name` maps this module's names.
"""
import math
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {
    "tiny": dict(frames=4, height=16, width=16, channels=3, tubelet_frames=2, patch=4,
                 mask_ratio=0.75, encoder_dim=32, encoder_depth=2, encoder_heads=2,
                 decoder_dim=16, decoder_depth=1, decoder_heads=2, mlp_ratio=4.0),
    "bench": dict(frames=16, height=96, width=96, channels=3, tubelet_frames=2, patch=16,
                  mask_ratio=0.9, encoder_dim=192, encoder_depth=6, encoder_heads=3,
                  decoder_dim=96, decoder_depth=2, decoder_heads=3, mlp_ratio=4.0),
    "small": dict(frames=16, height=96, width=96, channels=3, tubelet_frames=2, patch=16,
                  mask_ratio=0.9, encoder_dim=384, encoder_depth=12, encoder_heads=6,
                  decoder_dim=192, decoder_depth=4, decoder_heads=3, mlp_ratio=4.0),
}
LN_EPS = 1e-6
TARGET_EPS = 1e-6


def sincos_table(tokens, dim):
    t = torch.zeros(tokens, dim, dtype=torch.float64)
    for pos in range(tokens):
        for j in range(dim):
            angle = pos / math.pow(10000.0, 2.0 * (j // 2) / dim)
            t[pos, j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
    return t


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, d = x.shape
        hd = d // self.heads
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = (q @ k.transpose(-2, -1)) * (hd ** -0.5)
        att = att.softmax(dim=-1)
        out = (att @ v).transpose(1, 2).reshape(b, n, d)
        return self.proj(out)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp = Mlp(dim, int(round(mlp_ratio * dim)))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VideoMAE(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        c = cfg
        self.grid = (c["frames"] // c["tubelet_frames"], c["height"] // c["patch"],
                     c["width"] // c["patch"])
        self.tokens = self.grid[0] * self.grid[1] * self.grid[2]
        self.patch_dim = c["tubelet_frames"] * c["patch"] ** 2 * c["channels"]
        de, dd = c["encoder_dim"], c["decoder_dim"]
        self.patch_embed = nn.Linear(self.patch_dim, de)
        self.encoder = nn.ModuleList(
            [Block(de, c["encoder_heads"], c["mlp_ratio"]) for _ in range(c["encoder_depth"])])
        self.encoder_norm = nn.LayerNorm(de, eps=LN_EPS)
        self.decoder_embed = nn.Linear(de, dd)
        self.mask_token = nn.Parameter(torch.zeros(dd))
        self.decoder = nn.ModuleList(
            [Block(dd, c["decoder_heads"], c["mlp_ratio"]) for _ in range(c["decoder_depth"])])
        self.decoder_norm = nn.LayerNorm(dd, eps=LN_EPS)
        self.head = nn.Linear(dd, self.patch_dim)
        self.register_buffer("enc_pos", sincos_table(self.tokens, de).float())
        self.register_buffer("dec_pos", sincos_table(self.tokens, dd).float())

    def patchify(self, clips):
        c = self.cfg
        b = clips.shape[0]
        t, h, w = self.grid
        x = clips.reshape(b, t, c["tubelet_frames"], h, c["patch"], w, c["patch"], c["channels"])
        return x.permute(0, 1, 3, 5, 2, 4, 6, 7).reshape(b, self.tokens, self.patch_dim)

    def forward(self, clips, visible_index, masked_index):
        """clips (B, T, H, W, C); visible/masked_index (B, Nv) / (B, Nm) int64 -> mean loss."""
        b = clips.shape[0]
        patches = self.patchify(clips)
        rows = torch.arange(b, device=clips.device).unsqueeze(1)
        target = patches[rows, masked_index]
        mean = target.mean(dim=-1, keepdim=True)
        std = target.std(dim=-1, unbiased=True, keepdim=True)
        target = (target - mean) / (std + TARGET_EPS)
        x = self.patch_embed(patches[rows, visible_index]) + self.enc_pos[visible_index]
        for blk in self.encoder:
            x = blk(x)
        x = self.decoder_embed(self.encoder_norm(x))
        # .to(x.dtype): under bf16 autocast the decoder embedding comes out in bf16.
        full = self.mask_token.expand(b, self.tokens, -1).to(x.dtype).clone()
        full[rows, visible_index] = x
        x = full + self.dec_pos
        for blk in self.decoder:
            x = blk(x)
        pred = self.head(self.decoder_norm(x[rows, masked_index]))
        return F.mse_loss(pred, target)


def dojo_name(name):
    return name.replace("encoder_norm.", "encoder.norm.").replace("decoder_norm.", "decoder.norm.")


def tube_mask(cfg, batch, generator):
    """Tube masking as dojo does it (same visible count per sample), from a torch RNG."""
    t = cfg["frames"] // cfg["tubelet_frames"]
    s = (cfg["height"] // cfg["patch"]) * (cfg["width"] // cfg["patch"])
    keep = s - int(math.floor(cfg["mask_ratio"] * s + 1e-9))
    vis, msk = [], []
    for _ in range(batch):
        kept = set(torch.randperm(s, generator=generator)[:keep].tolist())
        v = [i for i in range(t * s) if i % s in kept]
        m = [i for i in range(t * s) if i % s not in kept]
        vis.append(v)
        msk.append(m)
    return torch.tensor(vis), torch.tensor(msk)


# --- dojo tensor files: "DOJOTNS1", u32 version, u32 count, then per tensor
#     u32 name length, name (utf-8), u32 ndim, i64 dims[ndim], f32 data (little endian).
MAGIC = b"DOJOTNS1"


def read_tensors(path):
    out = {}
    with open(path, "rb") as f:
        assert f.read(8) == MAGIC, f"{path}: not a dojo tensor file"
        version, count = struct.unpack("<II", f.read(8))
        assert version == 1, f"{path}: version {version}, expected 1"
        for _ in range(count):
            (n,) = struct.unpack("<I", f.read(4))
            name = f.read(n).decode()
            (nd,) = struct.unpack("<I", f.read(4))
            dims = struct.unpack(f"<{nd}q", f.read(8 * nd))
            numel = 1
            for d in dims:
                numel *= d
            data = torch.frombuffer(bytearray(f.read(4 * numel)), dtype=torch.float32)
            out[name] = data.reshape(dims).clone()
    return out


def write_tensors(path, tensors):
    with open(path, "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<II", 1, len(tensors)))
        for name, t in tensors.items():
            t = t.detach().to(torch.float32).contiguous()
            b = name.encode()
            f.write(struct.pack("<I", len(b)))
            f.write(b)
            f.write(struct.pack("<I", t.dim()))
            f.write(struct.pack(f"<{t.dim()}q", *t.shape))
            f.write(t.numpy().tobytes())
