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
};

// y (rows, out) = x (rows, in) W^T + b.
template <typename T>
void linear_forward(accel::Device& dev, const LinearParams<T>& p, std::int64_t rows, const T* x,
                    T* y);
// dW += dy^T x, db += sum(dy); dx (rows, in) = or += dy W unless `input_grad` is false
// (the first layer, whose input is data). The flag, not a null dx, decides: on a dry-run
// device every buffer is null and the dx GEMM must still be reported.
template <typename T>
void linear_backward(accel::Device& dev, const LinearParams<T>& p, std::int64_t rows, const T* x,
                     const T* dy, T* dx, bool accumulate_dx, bool input_grad = true);

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
// projection, softmax(q k^T / sqrt(head_dim)) v as batched GEMMs, an output projection.
struct AttentionShape {
  std::int64_t batch = 0, tokens = 0, dim = 0, heads = 0;
  std::int64_t rows() const { return batch * tokens; }
  std::int64_t head_dim() const { return dim / heads; }
};

template <typename T>
struct AttentionParams {
  LinearParams<T> qkv;   // dim -> 3 dim, output row laid out (3, heads, head_dim)
  LinearParams<T> proj;  // dim -> dim
};

template <typename T>
struct AttentionActs {
  T* qkv = nullptr;     // (rows, 3 dim)
  T* heads = nullptr;   // (3, batch, heads, tokens, head_dim): q, k, v
  T* probs = nullptr;   // (batch, heads, tokens, tokens)
  T* ctx = nullptr;     // (batch, heads, tokens, head_dim)
  T* merged = nullptr;  // (rows, dim)
};

// Backward scratch, reused across layers of one shape; contents are garbage between calls.
template <typename T>
struct AttentionScratch {
  T* dmerged = nullptr;  // (rows, dim)
  T* dctx = nullptr;     // (batch, heads, tokens, head_dim)
  T* dprobs = nullptr;   // (batch, heads, tokens, tokens)
  T* dheads = nullptr;   // (3, batch, heads, tokens, head_dim)
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

template <typename T>
void block_forward(accel::Device& dev, const BlockParams<T>& p, const AttentionShape& s, const T* x,
                   const BlockActs<T>& a);
// Accumulates dx (rows, dim) given dout (rows, dim).
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
  a.attn = {take(r * 3 * d), take(3 * r * d), take(bh * s.tokens * s.tokens), take(r * d),
            take(r * d)};
  a.h = take(r * d);
  a.norm2 = {take(r * d), take(r), take(r)};
  a.fc1 = take(r * hidden);
  a.gelu = take(r * hidden);
  a.out = take(r * d);
  return a;
}

template <typename T, typename Take>
BlockScratch<T> carve_block_scratch(const AttentionShape& s, std::int64_t hidden, Take&& take) {
  const std::int64_t r = s.rows(), d = s.dim, bh = s.batch * s.heads;
  BlockScratch<T> sc;
  sc.attn = {take(r * d), take(r * d), take(bh * s.tokens * s.tokens), take(3 * r * d),
             take(r * 3 * d)};
  sc.dh = take(r * d);
  sc.dnorm = take(r * d);
  sc.dfc1 = take(r * hidden);
  return sc;
}

}  // namespace dojo::model
