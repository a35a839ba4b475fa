#include "model/layers.hpp"

#include <array>
#include <cmath>

namespace dojo::model {

using accel::GemmShape;

template <typename T>
void linear_forward(accel::Device& dev, const LinearParams<T>& p, std::int64_t rows, const T* x,
                    T* y) {
  GemmShape g;
  g.trans_b = true;
  g.m = rows;
  g.n = p.out;
  g.k = p.in;
  g.add_bias = true;
  dev.gemm("linear", g, x, p.weight, y, p.bias);
}

template <typename T>
void linear_backward(accel::Device& dev, const LinearParams<T>& p, std::int64_t rows, const T* x,
                     const T* dy, T* dx, bool accumulate_dx, bool input_grad) {
  GemmShape dw;  // dW (out, in) += dy^T (out, rows) x (rows, in)
  dw.trans_a = true;
  dw.m = p.out;
  dw.n = p.in;
  dw.k = rows;
  dw.beta = 1.0f;
  dev.gemm("linear.dweight", dw, dy, x, p.dweight);
  if (input_grad) {
    GemmShape dxs;  // dx (rows, in) = dy (rows, out) W (out, in)
    dxs.m = rows;
    dxs.n = p.in;
    dxs.k = p.out;
    dxs.beta = accumulate_dx ? 1.0f : 0.0f;
    // Right after the dweight GEMM: in bf16 mode dy's converted copy is reused.
    dev.gemm("linear.dx", dxs, dy, p.weight, dx);
  }
  dev.sum_rows(rows, 1, p.out, dy, p.dbias);
}

template <typename T>
void layernorm_forward(accel::Device& dev, const NormParams<T>& p, std::int64_t rows, const T* x,
                       const NormActs<T>& a) {
  dev.layernorm_forward(rows, p.dim, p.eps, x, p.gamma, p.beta, a.y, a.mean, a.rstd);
}

template <typename T>
void layernorm_backward(accel::Device& dev, const NormParams<T>& p, std::int64_t rows, const T* x,
                        const NormActs<T>& a, const T* dy, T* dx) {
  dev.layernorm_backward(rows, p.dim, dy, x, a.mean, a.rstd, p.gamma, dx, p.dgamma, p.dbeta);
}

template <typename T>
void attention_forward(accel::Device& dev, const AttentionParams<T>& p, const AttentionShape& s,
                       const T* x, const AttentionActs<T>& a, T* y) {
  const std::int64_t n = s.tokens, hd = s.head_dim(), bh = s.batch * s.heads;
  const std::int64_t qkv_elems = bh * n * hd;
  linear_forward(dev, p.qkv, s.rows(), x, a.qkv);
  // (batch, tokens, 3, heads, hd) -> (3, batch, heads, tokens, hd)
  const std::array<std::int64_t, 5> qkv_dims = {s.batch, n, 3, s.heads, hd};
  const std::array<int, 5> to_heads = {2, 0, 3, 1, 4};
  dev.permute<T>(qkv_dims, to_heads, a.qkv, a.heads);
  const T* q = a.heads;
  const T* k = a.heads + qkv_elems;
  const T* v = a.heads + 2 * qkv_elems;

  GemmShape scores;  // (n, n) = q (n, hd) k^T / sqrt(hd), per (batch, head)
  scores.trans_b = true;
  scores.m = n;
  scores.n = n;
  scores.k = hd;
  scores.batch = bh;
  scores.stride_a = scores.stride_b = n * hd;
  scores.stride_c = n * n;
  scores.alpha = float(1.0 / std::sqrt(double(hd)));
  dev.gemm("attn.scores", scores, q, k, a.probs);
  dev.softmax_forward(bh * n, n, a.probs);

  GemmShape ctx;  // (n, hd) = probs (n, n) v (n, hd)
  ctx.m = n;
  ctx.n = hd;
  ctx.k = n;
  ctx.batch = bh;
  ctx.stride_a = n * n;
  ctx.stride_b = ctx.stride_c = n * hd;
  dev.gemm("attn.context", ctx, a.probs, v, a.ctx);
  // (batch, heads, tokens, hd) -> (batch, tokens, heads, hd)
  const std::array<std::int64_t, 4> ctx_dims = {s.batch, s.heads, n, hd};
  const std::array<int, 4> swap = {0, 2, 1, 3};
  dev.permute<T>(ctx_dims, swap, a.ctx, a.merged);
  linear_forward(dev, p.proj, s.rows(), a.merged, y);
}

template <typename T>
void attention_backward(accel::Device& dev, const AttentionParams<T>& p, const AttentionShape& s,
                        const T* x, const AttentionActs<T>& a, const T* dy,
                        const AttentionScratch<T>& sc, T* dx) {
  const std::int64_t n = s.tokens, hd = s.head_dim(), bh = s.batch * s.heads;
  const std::int64_t qkv_elems = bh * n * hd;
  const float scale = float(1.0 / std::sqrt(double(hd)));
  linear_backward(dev, p.proj, s.rows(), a.merged, dy, sc.dmerged, false);
  const std::array<std::int64_t, 4> merged_dims = {s.batch, n, s.heads, hd};
  const std::array<int, 4> swap = {0, 2, 1, 3};
  dev.permute<T>(merged_dims, swap, sc.dmerged, sc.dctx);

  const T* q = a.heads;
  const T* k = a.heads + qkv_elems;
  const T* v = a.heads + 2 * qkv_elems;
  T* dq = sc.dheads;
  T* dk = sc.dheads + qkv_elems;
  T* dv = sc.dheads + 2 * qkv_elems;

  GemmShape dprobs;  // (n, n) = dctx (n, hd) v^T
  dprobs.trans_b = true;
  dprobs.m = n;
  dprobs.n = n;
  dprobs.k = hd;
  dprobs.batch = bh;
  dprobs.stride_a = dprobs.stride_b = n * hd;
  dprobs.stride_c = n * n;
  dev.gemm("attn.dprobs", dprobs, sc.dctx, v, sc.dprobs);

  GemmShape dvs;  // dv (n, hd) = probs^T (n, n) dctx (n, hd)
  dvs.trans_a = true;
  dvs.m = n;
  dvs.n = hd;
  dvs.k = n;
  dvs.batch = bh;
  dvs.stride_a = n * n;
  dvs.stride_b = dvs.stride_c = n * hd;
  dev.gemm("attn.dv", dvs, a.probs, sc.dctx, dv);

  dev.softmax_backward(bh * n, n, a.probs, sc.dprobs, sc.dprobs);  // now d(scores)

  GemmShape dqs;  // dq (n, hd) = dscores (n, n) k (n, hd) * scale
  dqs.m = n;
  dqs.n = hd;
  dqs.k = n;
  dqs.batch = bh;
  dqs.stride_a = n * n;
  dqs.stride_b = dqs.stride_c = n * hd;
  dqs.alpha = scale;
  dev.gemm("attn.dq", dqs, sc.dprobs, k, dq);

  GemmShape dks = dqs;  // dk (n, hd) = dscores^T (n, n) q (n, hd) * scale
  dks.trans_a = true;
  dev.gemm("attn.dk", dks, sc.dprobs, q, dk);

  // (3, batch, heads, tokens, hd) -> (batch, tokens, 3, heads, hd)
  const std::array<std::int64_t, 5> heads_dims = {3, s.batch, s.heads, n, hd};
  const std::array<int, 5> to_rows = {1, 3, 0, 2, 4};
  dev.permute<T>(heads_dims, to_rows, sc.dheads, sc.dqkv);
  linear_backward(dev, p.qkv, s.rows(), x, sc.dqkv, dx, false);
}

template <typename T>
void block_forward(accel::Device& dev, const BlockParams<T>& p, const AttentionShape& s, const T* x,
                   const BlockActs<T>& a) {
  const std::int64_t r = s.rows();
  const std::int64_t hidden = p.fc1.out;
  {
    accel::LayerScope scope(dev, std::string(dev.layer()) + ".attn");
    layernorm_forward(dev, p.norm1, r, x, a.norm1);
    attention_forward(dev, p.attn, s, a.norm1.y, a.attn, a.h);
    dev.axpy(r * s.dim, 1.0f, x, a.h);  // residual
  }
  accel::LayerScope scope(dev, std::string(dev.layer()) + ".mlp");
  layernorm_forward(dev, p.norm2, r, a.h, a.norm2);
  linear_forward(dev, p.fc1, r, a.norm2.y, a.fc1);
  dev.gelu_forward(r * hidden, a.fc1, a.gelu);
  linear_forward(dev, p.fc2, r, a.gelu, a.out);
  dev.axpy(r * s.dim, 1.0f, a.h, a.out);  // residual
}

template <typename T>
void block_backward(accel::Device& dev, const BlockParams<T>& p, const AttentionShape& s,
                    const T* x, const BlockActs<T>& a, const T* dout, const BlockScratch<T>& sc,
                    T* dx) {
  const std::int64_t r = s.rows();
  const std::int64_t hidden = p.fc1.out;
  {
    accel::LayerScope scope(dev, std::string(dev.layer()) + ".mlp");
    dev.copy_rows<T>(r, s.dim, dout, {}, sc.dh, {}, false);  // residual path
    // The GELU output's gradient is written into dfc1 and turned into fc1's in place.
    linear_backward(dev, p.fc2, r, a.gelu, dout, sc.dfc1, false);
    dev.gelu_backward(r * hidden, a.fc1, sc.dfc1, sc.dfc1);
    linear_backward(dev, p.fc1, r, a.norm2.y, sc.dfc1, sc.dnorm, false);
    layernorm_backward(dev, p.norm2, r, a.h, a.norm2, sc.dnorm, sc.dh);
  }
  accel::LayerScope scope(dev, std::string(dev.layer()) + ".attn");
  attention_backward(dev, p.attn, s, a.norm1.y, a.attn, sc.dh, sc.attn, sc.dnorm);
  layernorm_backward(dev, p.norm1, r, x, a.norm1, sc.dnorm, dx);
  dev.axpy(r * s.dim, 1.0f, sc.dh, dx);  // residual
}

#define DOJO_INSTANTIATE_LAYERS(T)                                                                 \
  template void linear_forward<T>(accel::Device&, const LinearParams<T>&, std::int64_t, const T*,  \
                                  T*);                                                             \
  template void linear_backward<T>(accel::Device&, const LinearParams<T>&, std::int64_t, const T*, \
                                   const T*, T*, bool, bool);                                            \
  template void layernorm_forward<T>(accel::Device&, const NormParams<T>&, std::int64_t, const T*, \
                                     const NormActs<T>&);                                          \
  template void layernorm_backward<T>(accel::Device&, const NormParams<T>&, std::int64_t,          \
                                      const T*, const NormActs<T>&, const T*, T*);                 \
  template void attention_forward<T>(accel::Device&, const AttentionParams<T>&,                    \
                                     const AttentionShape&, const T*, const AttentionActs<T>&,     \
                                     T*);                                                          \
  template void attention_backward<T>(accel::Device&, const AttentionParams<T>&,                   \
                                      const AttentionShape&, const T*, const AttentionActs<T>&,    \
                                      const T*, const AttentionScratch<T>&, T*);                   \
  template void block_forward<T>(accel::Device&, const BlockParams<T>&, const AttentionShape&,     \
                                 const T*, const BlockActs<T>&);                                   \
  template void block_backward<T>(accel::Device&, const BlockParams<T>&, const AttentionShape&,    \
                                  const T*, const BlockActs<T>&, const T*, const BlockScratch<T>&, \
                                  T*);
DOJO_INSTANTIATE_LAYERS(float)
DOJO_INSTANTIATE_LAYERS(double)
#undef DOJO_INSTANTIATE_LAYERS

}  // namespace dojo::model
