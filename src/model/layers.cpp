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
  dev.gemm("linear", g, x, p.weight, y, p.bias, p.weight_bf16);
}

template <typename T>
void linear_backward(accel::Device& dev, const LinearParams<T>& p, std::int64_t rows, const T* x,
                     const T* dy, T* dx, bool accumulate_dx, bool input_grad, bool bias_grad) {
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
    dev.gemm<T>("linear.dx", dxs, dy, p.weight, dx, nullptr, p.weight_bf16);
  }
  if (bias_grad) dev.sum_rows(rows, 1, p.out, dy, p.dbias);
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
  linear_forward(dev, p.qkv, s.rows(), x, a.qkv);
  dev.attention_forward(s.dims(), a.qkv, a.merged, a.lse);
  linear_forward(dev, p.proj, s.rows(), a.merged, y);
}

template <typename T>
void attention_backward(accel::Device& dev, const AttentionParams<T>& p, const AttentionShape& s,
                        const T* x, const AttentionActs<T>& a, const T* dy,
                        const AttentionScratch<T>& sc, T* dx) {
  linear_backward(dev, p.proj, s.rows(), a.merged, dy, sc.dmerged, false);
  dev.attention_backward(s.dims(), a.qkv, a.merged, a.lse, sc.dmerged, sc.dqkv);
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
    // The GELU output's gradient is written into dfc1 and turned into fc1's in place,
    // with fc1's bias gradient in the same pass.
    linear_backward(dev, p.fc2, r, a.gelu, dout, sc.dfc1, false);
    dev.gelu_backward_bias(r, hidden, a.fc1, sc.dfc1, sc.dfc1, p.fc1.dbias);
    linear_backward(dev, p.fc1, r, a.norm2.y, sc.dfc1, sc.dnorm, false, true,
                    /*bias_grad=*/false);
    // dh = dout (the residual path) + norm2's input gradient.
    dev.layernorm_backward_residual(r, s.dim, sc.dnorm, a.h, a.norm2.mean, a.norm2.rstd,
                                    p.norm2.gamma, dout, sc.dh, p.norm2.dgamma, p.norm2.dbeta);
  }
  accel::LayerScope scope(dev, std::string(dev.layer()) + ".attn");
  attention_backward(dev, p.attn, s, a.norm1.y, a.attn, sc.dh, sc.attn, sc.dnorm);
  // dx = dh (the residual path) + norm1's input gradient.
  dev.layernorm_backward_residual(r, s.dim, sc.dnorm, x, a.norm1.mean, a.norm1.rstd,
                                  p.norm1.gamma, sc.dh, dx, p.norm1.dgamma, p.norm1.dbeta);
}

#define DOJO_INSTANTIATE_LAYERS(T)                                                                 \
  template void linear_forward<T>(accel::Device&, const LinearParams<T>&, std::int64_t, const T*,  \
                                  T*);                                                             \
  template void linear_backward<T>(accel::Device&, const LinearParams<T>&, std::int64_t, const T*, \
                                   const T*, T*, bool, bool, bool);                                \
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
