// The HostDevice's fused attention (Device::attention_forward / attention_backward).
//
// Words. A *chunk* is a run of consecutive sequences whose score matrices (heads, tokens,
// tokens) together take about kChunkScoreBytes, so that they stay in the core's cache from
// the product that makes them to the product that consumes them. *Packed heads* are a
// chunk's q (or k, v, dctx) gathered into (chunk * heads, tokens, head_dim) matrices, in
// bf16 in bf16 precision: the gather is the conversion. A *query row* is one row of one
// head's score matrix.
//
// Float forward, per chunk:
//   1. gather q, k, v from the qkv rows into packed heads;
//   2. s = q k^T / sqrt(head_dim), one batched GEMM over the chunk's heads;
//   3. per query row: max, exp, sum -> p = exp(s - max) / sum, lse = max + log(sum);
//   4. o = p v (batched GEMM), scattered into ctx's merged (tokens, heads, head_dim) rows.
// Float backward, per chunk: gather q, k, v and dctx; D = rowsum(dctx * ctx) per query
// row; s = q k^T / sqrt(hd) again and dp = dctx v^T; then in one pass over each query row
// p = exp(s - lse) and ds = p * (dp - D) (FlashAttention's identity: D is the row's
// sum of p * dp); then dv = p^T dctx, dq = ds k / sqrt(hd), dk = ds^T q / sqrt(hd),
// scattered into dqkv's rows. The probabilities never leave the chunk: the forward saves
// only lse. A whole key row (a few hundred tokens here) fits one tile, so the softmax needs
// no running rescale across key blocks (the "online" part of FlashAttention).
//
// Double (the finite-difference tests) runs the same maths as plain loops per (sequence,
// head), with no chunks or GEMM library.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "accel/host_device.hpp"
#include "accel/host_vector.hpp"
#include "core/error.hpp"

namespace dojo::accel {
namespace {

using host::bf16_bits;
using host::exp_approx;

inline void put(float* dst, float x) {
  *dst = x;
}
inline void put(std::uint16_t* dst, float x) {
  *dst = bf16_bits(x);
}

constexpr std::int64_t kChunkScoreBytes = std::int64_t(1) << 20;

// Forward softmax of `rows` score rows of n: leaves exp(s - max) in s, writes the
// probabilities to p32 or p16 (the other is null) and lse = max + log(sum).
DOJO_VECTOR_CLONES
void softmax_rows(std::int64_t rows, std::int64_t n, float* s, float* p32, std::uint16_t* p16,
                  float* lse) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* sr = s + r * n;
    float mx = sr[0];
#pragma omp simd reduction(max : mx)
    for (std::int64_t i = 0; i < n; ++i) mx = std::max(mx, sr[i]);
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (std::int64_t i = 0; i < n; ++i) {
      const float e = exp_approx(sr[i] - mx);
      sr[i] = e;
      sum += e;
    }
    const float inv = 1.0f / sum;
    if (p16 != nullptr) {
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) p16[r * n + i] = bf16_bits(sr[i] * inv);
    } else {
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) p32[r * n + i] = sr[i] * inv;
    }
    lse[r] = mx + std::log(sum);
  }
}

// Backward: p = exp(s - lse), ds = p (dp - D) per row, to the float or the bf16 outputs.
// s is overwritten with p (two simple loops vectorise where one fused loop did not).
DOJO_VECTOR_CLONES
void softmax_grad_rows(std::int64_t rows, std::int64_t n, float* s, const float* dp,
                       const float* lse, const float* rowsum, float* p32, float* ds32,
                       std::uint16_t* p16, std::uint16_t* ds16) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* sr = s + r * n;
    const float* dpr = dp + r * n;
    const float m = lse[r], d = rowsum[r];
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) sr[i] = exp_approx(sr[i] - m);
    if (p16 != nullptr) {
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) {
        p16[r * n + i] = bf16_bits(sr[i]);
        ds16[r * n + i] = bf16_bits(sr[i] * (dpr[i] - d));
      }
    } else {
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) {
        p32[r * n + i] = sr[i];
        ds32[r * n + i] = sr[i] * (dpr[i] - d);
      }
    }
  }
}

// Rows per parallel task of the row loops.
constexpr std::int64_t kRowBlock = 16;

template <typename Op>
float* as_f32(Op* p) {
  if constexpr (std::is_same_v<Op, float>) return p;
  return nullptr;
}
template <typename Op>
std::uint16_t* as_b16(Op* p) {
  if constexpr (std::is_same_v<Op, float>) return nullptr;
  else return p;
}

// dst (seqs * heads, tokens, hd) <- the head columns of src rows (seqs * tokens, stride):
// head h of row r is src[r * stride + h * hd, ... + hd).
template <typename Out>
void gather_heads(const AttentionDims& d, std::int64_t seqs, const float* src, std::int64_t stride,
                  Out* dst) {
  const std::int64_t n = d.tokens, hd = d.head_dim, heads = d.heads;
  const bool big = seqs * n * d.dim() >= kHostParallelMinElems;
#pragma omp parallel for if (big)
  for (std::int64_t r = 0; r < seqs * n; ++r) {
    const std::int64_t s = r / n, t = r % n;
    const float* row = src + r * stride;
    for (std::int64_t h = 0; h < heads; ++h) {
      Out* out = dst + ((s * heads + h) * n + t) * hd;
      const float* in = row + h * hd;
#pragma omp simd
      for (std::int64_t j = 0; j < hd; ++j) put(out + j, in[j]);
    }
  }
}

// The inverse: dst rows (seqs * tokens, stride) take each head's columns from src.
void scatter_heads(const AttentionDims& d, std::int64_t seqs, const float* src, float* dst,
                   std::int64_t stride) {
  const std::int64_t n = d.tokens, hd = d.head_dim, heads = d.heads;
  const bool big = seqs * n * d.dim() >= kHostParallelMinElems;
#pragma omp parallel for if (big)
  for (std::int64_t r = 0; r < seqs * n; ++r) {
    const std::int64_t s = r / n, t = r % n;
    float* row = dst + r * stride;
    for (std::int64_t h = 0; h < heads; ++h) {
      std::memcpy(row + h * hd, src + ((s * heads + h) * n + t) * hd,
                  std::size_t(hd) * sizeof(float));
    }
  }
}

// Per (chunk, heads) batched product shapes on packed matrices.
GemmShape batched(std::int64_t batch, bool ta, bool tb, std::int64_t m, std::int64_t n,
                  std::int64_t k, float alpha) {
  GemmShape g;
  g.trans_a = ta;
  g.trans_b = tb;
  g.m = m;
  g.n = n;
  g.k = k;
  g.batch = batch;
  g.stride_a = m * k;
  g.stride_b = k * n;
  g.stride_c = m * n;
  g.alpha = alpha;
  return g;
}

// The chunk's staging buffers, carved from the device's two reusable vectors. Operand
// buffers are float or bf16 (`Op`); products and scores are always float.
template <typename Op>
struct Staging {
  Op *q, *k, *v, *dout;  // packed heads (g, n, hd)
  Op *p, *ds;            // (g, n, n): probabilities and score gradients as GEMM operands
  float *s, *dp;         // (g, n, n)
  float *o, *dq, *dk, *dv;  // (g, n, hd)
  float* rowsum;            // (g * n): D of the backward
};

template <typename Op>
Staging<Op> carve(std::int64_t g, std::int64_t n, std::int64_t hd, std::vector<float>& f32,
                  std::vector<std::uint16_t>& b16) {
  const std::size_t heads = std::size_t(g * n * hd), scores = std::size_t(g * n * n);
  const bool narrow = !std::is_same_v<Op, float>;
  const std::size_t op_elems = 4 * heads + 2 * scores;
  f32.resize(2 * scores + 4 * heads + std::size_t(g * n) + (narrow ? 0 : op_elems));
  Staging<Op> st;
  float* f = f32.data();
  st.s = f, f += scores;
  st.dp = f, f += scores;
  st.o = f, f += heads;
  st.dq = f, f += heads;
  st.dk = f, f += heads;
  st.dv = f, f += heads;
  st.rowsum = f, f += g * n;
  Op* o;
  if constexpr (std::is_same_v<Op, float>) {
    o = f;
  } else {
    b16.resize(op_elems);
    o = b16.data();
  }
  st.q = o, o += heads;
  st.k = o, o += heads;
  st.v = o, o += heads;
  st.dout = o, o += heads;
  st.p = o, o += scores;
  st.ds = o;
  return st;
}

std::int64_t chunk_seqs(const AttentionDims& d) {
  const std::int64_t per_seq = d.heads * d.tokens * d.tokens * std::int64_t(sizeof(float));
  return std::clamp<std::int64_t>(kChunkScoreBytes / std::max<std::int64_t>(per_seq, 1), 1,
                                  d.batch);
}

// The q, k and v heads of `seqs` sequences, from their rows of the qkv projection
// (q | k | v, each `dim` wide), into the chunk's packed operands.
template <typename Op>
void gather_qkv(const AttentionDims& d, std::int64_t seqs, const float* rows, const Staging<Op>& st) {
  const std::int64_t dim = d.dim();
  gather_heads(d, seqs, rows, 3 * dim, st.q);
  gather_heads(d, seqs, rows + dim, 3 * dim, st.k);
  gather_heads(d, seqs, rows + 2 * dim, 3 * dim, st.v);
}

template <typename Op>
void forward_chunks(DnnlKernels& dnnl, const AttentionDims& d, const float* qkv, float* ctx,
                    float* lse, std::vector<float>& f32, std::vector<std::uint16_t>& b16) {
  constexpr bool bf16 = !std::is_same_v<Op, float>;
  const std::int64_t n = d.tokens, hd = d.head_dim, dim = d.dim(), heads = d.heads;
  const float scale = float(1.0 / std::sqrt(double(hd)));
  const std::int64_t per_chunk = chunk_seqs(d);
  const Staging<Op> st = carve<Op>(per_chunk * heads, n, hd, f32, b16);
  for (std::int64_t b0 = 0; b0 < d.batch; b0 += per_chunk) {
    const std::int64_t seqs = std::min(per_chunk, d.batch - b0), g = seqs * heads;
    gather_qkv(d, seqs, qkv + b0 * n * 3 * dim, st);
    dnnl.packed_gemm(batched(g, false, true, n, n, hd, scale), st.q, st.k, st.s, bf16);
    float* chunk_lse = lse + b0 * heads * n;
    const bool big = g * n * n >= kHostParallelMinElems;
    const std::int64_t blocks = (g * n + kRowBlock - 1) / kRowBlock;
#pragma omp parallel for if (big)
    for (std::int64_t blk = 0; blk < blocks; ++blk) {
      const std::int64_t r0 = blk * kRowBlock, count = std::min(kRowBlock, g * n - r0);
      softmax_rows(count, n, st.s + r0 * n, as_f32(st.p + r0 * n), as_b16(st.p + r0 * n),
                   chunk_lse + r0);
    }
    dnnl.packed_gemm(batched(g, false, false, n, hd, n, 1.0f), st.p, st.v, st.o, bf16);
    scatter_heads(d, seqs, st.o, ctx + b0 * n * dim, dim);
  }
}

template <typename Op>
void backward_chunks(DnnlKernels& dnnl, const AttentionDims& d, const float* qkv, const float* ctx,
                     const float* lse, const float* dctx, float* dqkv, std::vector<float>& f32,
                     std::vector<std::uint16_t>& b16) {
  constexpr bool bf16 = !std::is_same_v<Op, float>;
  const std::int64_t n = d.tokens, hd = d.head_dim, dim = d.dim(), heads = d.heads;
  const float scale = float(1.0 / std::sqrt(double(hd)));
  const std::int64_t per_chunk = chunk_seqs(d);
  const Staging<Op> st = carve<Op>(per_chunk * heads, n, hd, f32, b16);
  for (std::int64_t b0 = 0; b0 < d.batch; b0 += per_chunk) {
    const std::int64_t seqs = std::min(per_chunk, d.batch - b0), g = seqs * heads;
    gather_qkv(d, seqs, qkv + b0 * n * 3 * dim, st);
    gather_heads(d, seqs, dctx + b0 * n * dim, dim, st.dout);
    {
      // D per query row: the dot product of its ctx and dctx head slices.
      const float* c = ctx + b0 * n * dim;
      const float* dc = dctx + b0 * n * dim;
      for (std::int64_t r = 0; r < seqs * n; ++r) {
        const std::int64_t s = r / n, t = r % n;
        for (std::int64_t h = 0; h < heads; ++h) {
          const float* x = c + r * dim + h * hd;
          const float* dx = dc + r * dim + h * hd;
          float dot = 0;
#pragma omp simd reduction(+ : dot)
          for (std::int64_t j = 0; j < hd; ++j) dot += x[j] * dx[j];
          st.rowsum[(s * heads + h) * n + t] = dot;
        }
      }
    }
    dnnl.packed_gemm(batched(g, false, true, n, n, hd, scale), st.q, st.k, st.s, bf16);
    dnnl.packed_gemm(batched(g, false, true, n, n, hd, 1.0f), st.dout, st.v, st.dp, bf16);
    const float* chunk_lse = lse + b0 * heads * n;
    const bool big = g * n * n >= kHostParallelMinElems;
    const std::int64_t blocks = (g * n + kRowBlock - 1) / kRowBlock;
#pragma omp parallel for if (big)
    for (std::int64_t blk = 0; blk < blocks; ++blk) {
      const std::int64_t r0 = blk * kRowBlock, count = std::min(kRowBlock, g * n - r0);
      softmax_grad_rows(count, n, st.s + r0 * n, st.dp + r0 * n, chunk_lse + r0,
                        st.rowsum + r0, as_f32(st.p + r0 * n), as_f32(st.ds + r0 * n),
                        as_b16(st.p + r0 * n), as_b16(st.ds + r0 * n));
    }
    dnnl.packed_gemm(batched(g, true, false, n, hd, n, 1.0f), st.p, st.dout, st.dv, bf16);
    dnnl.packed_gemm(batched(g, false, false, n, hd, n, scale), st.ds, st.k, st.dq, bf16);
    dnnl.packed_gemm(batched(g, true, false, n, hd, n, scale), st.ds, st.q, st.dk, bf16);
    float* out = dqkv + b0 * n * 3 * dim;
    scatter_heads(d, seqs, st.dq, out, 3 * dim);
    scatter_heads(d, seqs, st.dk, out + dim, 3 * dim);
    scatter_heads(d, seqs, st.dv, out + 2 * dim, 3 * dim);
  }
}

// Plain loops per (sequence, head), for double. q/k/v of token t, head h, sequence b
// start at qkv[(b n + t) 3 dim + {0, dim, 2 dim} + h hd].
template <typename T>
void naive_forward(const AttentionDims& d, const T* qkv, T* ctx, T* lse) {
  const std::int64_t n = d.tokens, hd = d.head_dim, dim = d.dim();
  const T scale = T(1) / std::sqrt(T(hd));
  std::vector<T> p(std::size_t(n * n));
  for (std::int64_t b = 0; b < d.batch; ++b) {
    for (std::int64_t h = 0; h < d.heads; ++h) {
      auto q = [&](std::int64_t t) { return qkv + (b * n + t) * 3 * dim + h * hd; };
      auto k = [&](std::int64_t t) { return q(t) + dim; };
      auto v = [&](std::int64_t t) { return q(t) + 2 * dim; };
      for (std::int64_t i = 0; i < n; ++i) {
        T mx = -std::numeric_limits<T>::infinity();
        for (std::int64_t j = 0; j < n; ++j) {
          T dot = 0;
          for (std::int64_t c = 0; c < hd; ++c) dot += q(i)[c] * k(j)[c];
          p[std::size_t(i * n + j)] = dot * scale;
          mx = std::max(mx, dot * scale);
        }
        T sum = 0;
        for (std::int64_t j = 0; j < n; ++j) sum += std::exp(p[std::size_t(i * n + j)] - mx);
        lse[(b * d.heads + h) * n + i] = mx + std::log(sum);
        T* out = ctx + (b * n + i) * dim + h * hd;
        std::fill(out, out + hd, T(0));
        for (std::int64_t j = 0; j < n; ++j) {
          const T pij = std::exp(p[std::size_t(i * n + j)] - mx) / sum;
          for (std::int64_t c = 0; c < hd; ++c) out[c] += pij * v(j)[c];
        }
      }
    }
  }
}

template <typename T>
void naive_backward(const AttentionDims& d, const T* qkv, const T* ctx, const T* lse, const T* dctx,
                    T* dqkv) {
  const std::int64_t n = d.tokens, hd = d.head_dim, dim = d.dim();
  const T scale = T(1) / std::sqrt(T(hd));
  std::vector<T> p(std::size_t(n * n)), ds(std::size_t(n * n));
  for (std::int64_t b = 0; b < d.batch; ++b) {
    for (std::int64_t h = 0; h < d.heads; ++h) {
      const auto at = [&](const T* base, std::int64_t t, std::int64_t stride, std::int64_t col) {
        return base + (b * n + t) * stride + col + h * hd;
      };
      for (std::int64_t i = 0; i < n; ++i) {
        const T* doi = at(dctx, i, dim, 0);
        T rowsum = 0;
        for (std::int64_t c = 0; c < hd; ++c) rowsum += doi[c] * at(ctx, i, dim, 0)[c];
        for (std::int64_t j = 0; j < n; ++j) {
          T s = 0, dp = 0;
          for (std::int64_t c = 0; c < hd; ++c) {
            s += at(qkv, i, 3 * dim, 0)[c] * at(qkv, j, 3 * dim, dim)[c];
            dp += doi[c] * at(qkv, j, 3 * dim, 2 * dim)[c];
          }
          const T pij = std::exp(s * scale - lse[(b * d.heads + h) * n + i]);
          p[std::size_t(i * n + j)] = pij;
          ds[std::size_t(i * n + j)] = pij * (dp - rowsum);
        }
      }
      for (std::int64_t i = 0; i < n; ++i) {
        T* dq = dqkv + (b * n + i) * 3 * dim + h * hd;
        T* dk = dq + dim;
        T* dv = dq + 2 * dim;
        std::fill(dq, dq + hd, T(0));
        std::fill(dk, dk + hd, T(0));
        std::fill(dv, dv + hd, T(0));
        for (std::int64_t j = 0; j < n; ++j) {
          const T* kj = at(qkv, j, 3 * dim, dim);
          const T* qj = at(qkv, j, 3 * dim, 0);
          const T* doj = at(dctx, j, dim, 0);
          const T dsij = ds[std::size_t(i * n + j)], dsji = ds[std::size_t(j * n + i)];
          const T pji = p[std::size_t(j * n + i)];
          for (std::int64_t c = 0; c < hd; ++c) {
            dq[c] += scale * dsij * kj[c];
            dk[c] += scale * dsji * qj[c];
            dv[c] += pji * doj[c];
          }
        }
      }
    }
  }
}

}  // namespace

void HostDevice::run_attention_forward(const AttentionDims& d, const float* qkv, float* ctx,
                                       float* lse) {
  forget_bf16_copies();
  DOJO_ASSERT(dnnl_ != nullptr, "attention on a device without oneDNN");
  if (precision() == Precision::kBf16) {
    forward_chunks<std::uint16_t>(*dnnl_, d, qkv, ctx, lse, attention_f32_, attention_bf16_);
  } else {
    forward_chunks<float>(*dnnl_, d, qkv, ctx, lse, attention_f32_, attention_bf16_);
  }
}

void HostDevice::run_attention_backward(const AttentionDims& d, const float* qkv, const float* ctx,
                                        const float* lse, const float* dctx, float* dqkv) {
  forget_bf16_copies();
  DOJO_ASSERT(dnnl_ != nullptr, "attention on a device without oneDNN");
  if (precision() == Precision::kBf16) {
    backward_chunks<std::uint16_t>(*dnnl_, d, qkv, ctx, lse, dctx, dqkv, attention_f32_,
                                   attention_bf16_);
  } else {
    backward_chunks<float>(*dnnl_, d, qkv, ctx, lse, dctx, dqkv, attention_f32_,
                           attention_bf16_);
  }
}

void HostDevice::run_attention_forward(const AttentionDims& d, const double* qkv, double* ctx,
                                       double* lse) {
  naive_forward(d, qkv, ctx, lse);
}

void HostDevice::run_attention_backward(const AttentionDims& d, const double* qkv,
                                        const double* ctx, const double* lse, const double* dctx,
                                        double* dqkv) {
  naive_backward(d, qkv, ctx, lse, dctx, dqkv);
}

}  // namespace dojo::accel
