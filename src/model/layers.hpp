#pragma once
// The transformer's layers: each a small configuration (parameter views + shape) and a pure
// forward/backward over caller-owned buffers. No layer owns memory; the model carves every
// buffer out of its arenas. T is float (the model) or double (finite-difference tests).
//
// Conventions: rows = batch * tokens; buffers are row-major, shapes in comments.
// Forward writes its outputs. Backward accumulates parameter gradients; for the input
// gradient each function says whether it writes or accumulates.
#include <cstdint>

#include "accel/device.hpp"

namespace dojo::model {

template <typename T>
struct LinearParams {
  const T* weight = nullptr;  // (out, in), as torch.nn.Linear
  const T* bias = nullptr;    // (out)
  T* dweight = nullptr;
  T* dbias = nullptr;
  std::int64_t in = 0, out = 0;
  // The weight rounded to bf16 once per step (float models in bf16 precision; else null):
  // the GEMMs read it instead of converting the weight on every call.
  const std::uint16_t* weight_bf16 = nullptr;
};

// y (rows, out) = x (rows, in) W^T + b.
template <typename T>
void linear_forward(accel::Device& dev, const LinearParams<T>& p, std::int64_t rows, const T* x,
                    T* y);
// dW += dy^T x, db += sum(dy) unless `bias_grad` is false (a fused kernel before it did
// that: see block_backward); dx (rows, in) = or += dy W unless `input_grad` is false (the
// first layer, whose input is data). Flags, not null pointers, decide: on a dry-run device
// every buffer is null and the same kernels must still be reported.
template <typename T>
void linear_backward(accel::Device& dev, const LinearParams<T>& p, std::int64_t rows, const T* x,
                     const T* dy, T* dx, bool accumulate_dx, bool input_grad = true,
                     bool bias_grad = true);

template <typename T>
struct NormParams {
  const T* gamma = nullptr;  // (dim)
  const T* beta = nullptr;   // (dim)
  T* dgamma = nullptr;
  T* dbeta = nullptr;
  std::int64_t dim = 0;
  float eps = 1e-6f;
};

template <typename T>
struct NormActs {
  T* y = nullptr;     // (rows, dim)
  T* mean = nullptr;  // (rows)
  T* rstd = nullptr;  // (rows)
};

template <typename T>
void layernorm_forward(accel::Device& dev, const NormParams<T>& p, std::int64_t rows, const T* x,
                       const NormActs<T>& a);
// Accumulates dx (rows, dim).
template <typename T>
void layernorm_backward(accel::Device& dev, const NormParams<T>& p, std::int64_t rows, const T* x,
                        const NormActs<T>& a, const T* dy, T* dx);

// Multi-head self-attention over `batch` sequences of `tokens` tokens: a fused qkv
// projection, softmax(q k^T / sqrt(head_dim)) v as one fused Device kernel (no score
// matrix is stored; see Device::attention_forward), an output projection.
struct AttentionShape {
  std::int64_t batch = 0, tokens = 0, dim = 0, heads = 0;
  std::int64_t rows() const { return batch * tokens; }
  std::int64_t head_dim() const { return dim / heads; }
  accel::AttentionDims dims() const { return {batch, tokens, heads, head_dim()}; }
};

template <typename T>
struct AttentionParams {
  LinearParams<T> qkv;   // dim -> 3 dim, output row laid out (3, heads, head_dim)
  LinearParams<T> proj;  // dim -> dim
};

template <typename T>
struct AttentionActs {
  T* qkv = nullptr;     // (rows, 3 dim), each row (3, heads, head_dim)
  T* lse = nullptr;     // (batch, heads, tokens): log-sum-exp of each query's scores
  T* merged = nullptr;  // (rows, dim): the context, each row (heads, head_dim)
};

// Backward scratch, reused across layers of one shape; contents are garbage between calls.
template <typename T>
struct AttentionScratch {
  T* dmerged = nullptr;  // (rows, dim)
  T* dqkv = nullptr;     // (rows, 3 dim)
};

template <typename T>
void attention_forward(accel::Device& dev, const AttentionParams<T>& p, const AttentionShape& s,
                       const T* x, const AttentionActs<T>& a, T* y);
// Writes dx (rows, dim).
template <typename T>
void attention_backward(accel::Device& dev, const AttentionParams<T>& p, const AttentionShape& s,
                        const T* x, const AttentionActs<T>& a, const T* dy,
                        const AttentionScratch<T>& scratch, T* dx);

// Pre-norm transformer block: h = x + attn(ln1(x)); out = h + fc2(gelu(fc1(ln2(h)))).
template <typename T>
struct BlockParams {
  NormParams<T> norm1;
  AttentionParams<T> attn;
  NormParams<T> norm2;
  LinearParams<T> fc1, fc2;
};

template <typename T>
struct BlockActs {
  NormActs<T> norm1;
  AttentionActs<T> attn;
  T* h = nullptr;  // (rows, dim)
  NormActs<T> norm2;
  T* fc1 = nullptr;   // (rows, hidden), before GELU
  T* gelu = nullptr;  // (rows, hidden)
  T* out = nullptr;   // (rows, dim)
};

template <typename T>
struct BlockScratch {
  AttentionScratch<T> attn;
  T* dh = nullptr;     // (rows, dim)
  T* dnorm = nullptr;  // (rows, dim)
  T* dfc1 = nullptr;   // (rows, hidden)
};

// Backward of the block, fused where passes over memory can be saved: the GELU's backward
// also forms fc1's bias gradient, and each LayerNorm's backward adds in its residual
// branch's gradient (no copies, adds or zero fills of their own).

template <typename T>
void block_forward(accel::Device& dev, const BlockParams<T>& p, const AttentionShape& s, const T* x,
                   const BlockActs<T>& a);
// Writes dx (rows, dim) given dout (rows, dim).
template <typename T>
void block_backward(accel::Device& dev, const BlockParams<T>& p, const AttentionShape& s,
                    const T* x, const BlockActs<T>& a, const T* dout,
                    const BlockScratch<T>& scratch, T* dx);

// Element counts of a block's activations and scratch, in the order the carve functions
// below hand them out. `take(n)` returns the next buffer of n elements.
template <typename T, typename Take>
BlockActs<T> carve_block_acts(const AttentionShape& s, std::int64_t hidden, Take&& take) {
  const std::int64_t r = s.rows(), d = s.dim, bh = s.batch * s.heads;
  BlockActs<T> a;
  a.norm1 = {take(r * d), take(r), take(r)};
  a.attn = {take(r * 3 * d), take(bh * s.tokens), take(r * d)};
  a.h = take(r * d);
  a.norm2 = {take(r * d), take(r), take(r)};
  a.fc1 = take(r * hidden);
  a.gelu = take(r * hidden);
  a.out = take(r * d);
  return a;
}

template <typename T, typename Take>
BlockScratch<T> carve_block_scratch(const AttentionShape& s, std::int64_t hidden, Take&& take) {
  const std::int64_t r = s.rows(), d = s.dim;
  BlockScratch<T> sc;
  sc.attn = {take(r * d), take(r * 3 * d)};
  sc.dh = take(r * d);
  sc.dnorm = take(r * d);
  sc.dfc1 = take(r * hidden);
  return sc;
}

}  // namespace dojo::model
