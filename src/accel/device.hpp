#pragma once
// The Device: every kernel the model runs goes through it.
//
// A Device does two things per kernel: it runs the math (unless it is in dry-run mode)
// and then describes the kernel to its CostSink as a KernelRecord -- kind, shape, honest
// flop and byte counts, forward or backward, precision, and the innermost LayerScope.
// The records are computed here, once, in the public non-virtual methods; a concrete
// device (HostDevice) only implements the protected `run_*` math, for float (the model)
// and double (the finite-difference gradient tests).
//
// Conventions for every kernel:
//   - Matrices are row-major. Shapes are given in comments as (rows, cols).
//   - "writes" overwrites the output; "accumulates" adds into it (+=). Parameter
//     gradients always accumulate.
//   - Sizes are element counts (std::int64_t), never bytes.
//   - A Device is used by one thread at a time; it may use several threads inside a
//     kernel.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "accel/cost_sink.hpp"
#include "accel/tubelet_layout.hpp"
#include "core/error.hpp"

namespace dojo::accel {

// C = alpha * op(A) * op(B) + beta * C, `batch` times with element strides between the
// matrices of consecutive batch entries. op(A) is (m, k), op(B) is (k, n), C is (m, n).
// Leading dimensions of 0 mean "packed" (the row length of the stored matrix).
struct GemmShape {
  bool trans_a = false;
  bool trans_b = false;
  std::int64_t m = 0, n = 0, k = 0;
  std::int64_t lda = 0, ldb = 0, ldc = 0;
  std::int64_t batch = 1;
  std::int64_t stride_a = 0, stride_b = 0, stride_c = 0;
  float alpha = 1.0f;
  float beta = 0.0f;
  // Every row of C also gets a bias (n) added: see Device::gemm. A flag, not the bias
  // pointer, says so, because on a dry-run device every buffer is null.
  bool add_bias = false;
};

// An index list for copy_rows; an empty span means the identity (row i).
using RowIndex = std::span<const std::int64_t>;

// One fused attention call: `batch` sequences of `tokens` tokens, `heads` heads of
// `head_dim` each (dim = heads * head_dim), scores scaled by 1 / sqrt(head_dim).
struct AttentionDims {
  std::int64_t batch = 0, tokens = 0, heads = 0, head_dim = 0;
  std::int64_t dim() const { return heads * head_dim; }
  std::int64_t rows() const { return batch * tokens; }
};

// The shape a fused attention kernel reports (KernelRecord): its per-head score product
// q k^T, (tokens x head_dim) times (head_dim x tokens), once per sequence and head.
inline GemmShape attention_shape(const AttentionDims& d) {
  GemmShape s;
  s.trans_b = true;
  s.m = s.n = d.tokens;
  s.k = d.head_dim;
  s.batch = d.batch * d.heads;
  return s;
}

// Hyper-parameters of one AdamW update (bias corrections are computed from `step`).
struct AdamWStep {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;  // decoupled: p -= lr * wd * p
  std::int64_t step = 1;      // 1-based
};

class Device {
 public:
  explicit Device(bool dry_run) : dry_run_(dry_run) {}
  virtual ~Device() = default;
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  // Records go to `sink` after each kernel; nullptr detaches. The sink must outlive its use.
  void set_sink(CostSink* sink) { sink_ = sink; }
  CostSink* sink() const { return sink_; }
  // Dry run: kernels skip the math (outputs are left untouched) but still report records.
  bool dry_run() const { return dry_run_; }
  // Operand precision of float GEMMs. kBf16 rounds A and B to bfloat16 and accumulates in
  // float32 (C stays float32); double GEMMs and all other kernels are unaffected.
  void set_precision(Precision precision);
  Precision precision() const { return precision_; }
  // Marks the kernels that follow as part of the backward pass (see BackwardScope).
  void set_backward(bool backward) { backward_ = backward; }
  bool backward() const { return backward_; }
  // The innermost layer scope ("" outside any); see LayerScope.
  std::string_view layer() const { return layers_.empty() ? std::string_view{} : layers_.back(); }
  void push_layer(std::string name) { layers_.push_back(std::move(name)); }
  void pop_layer() noexcept { layers_.pop_back(); }
  virtual int threads() const { return 1; }

  // --- kernels -------------------------------------------------------------------------
  // With shape.add_bias, every row of C also gets `bias` (n) added (C = op(A) op(B) +
  // bias; a linear layer in one pass). Requires beta == 0. `b_bf16`, when given, is b
  // already rounded to bf16 (the same packed layout; see to_bf16): in bf16 precision the
  // GEMM reads it instead of converting b (weights converted once per step, not per call).
  template <typename T>
  void gemm(std::string_view name, const GemmShape& shape, const T* a, const T* b, T* c,
            const T* bias = nullptr, const std::uint16_t* b_bf16 = nullptr);
  // y (n) = x rounded to bfloat16 (nearest even), as bit patterns.
  void to_bf16(std::int64_t n, const float* x, std::uint16_t* y);

  // y (rows, dim) = (x - mean) * rstd * gamma + beta; writes y, mean (rows), rstd (rows).
  template <typename T>
  void layernorm_forward(std::int64_t rows, std::int64_t dim, float eps, const T* x, const T* gamma,
                         const T* beta, T* y, T* mean, T* rstd);
  // Writes dx (rows, dim) = dresidual + the LayerNorm's input gradient: a residual
  // branch's gradient joined in the same pass (no copy or add of its own). Accumulates
  // dgamma, dbeta. dx must not alias dresidual or dy.
  template <typename T>
  void layernorm_backward_residual(std::int64_t rows, std::int64_t dim, const T* dy, const T* x,
                                   const T* mean, const T* rstd, const T* gamma,
                                   const T* dresidual, T* dx, T* dgamma, T* dbeta);
  // Accumulates dx (rows, dim), dgamma (dim), dbeta (dim).
  template <typename T>
  void layernorm_backward(std::int64_t rows, std::int64_t dim, const T* dy, const T* x,
                          const T* mean, const T* rstd, const T* gamma, T* dx, T* dgamma, T* dbeta);

  // Exact (erf) GELU. Forward writes y; backward writes dx = dy * gelu'(x).
  template <typename T>
  void gelu_forward(std::int64_t n, const T* x, T* y);
  template <typename T>
  void gelu_backward(std::int64_t n, const T* x, const T* dy, T* dx);
  // The GELU backward of a linear layer's output and that layer's bias gradient in one
  // pass: dx (rows, dim) = dy * gelu'(x) (dx may alias dy), dbias (dim) += column sums
  // of dx (in row order: independent of the thread count).
  template <typename T>
  void gelu_backward_bias(std::int64_t rows, std::int64_t dim, const T* x, const T* dy, T* dx,
                          T* dbias);

  // Row softmax in place: x (rows, cols) <- softmax(x). Part of attention.
  template <typename T>
  void softmax_forward(std::int64_t rows, std::int64_t cols, T* x);
  // Writes dx = y * (dy - sum(dy * y)) per row; dx may alias dy.
  template <typename T>
  void softmax_backward(std::int64_t rows, std::int64_t cols, const T* y, const T* dy, T* dx);

  // Fused scaled-dot-product attention, softmax(q k^T / sqrt(head_dim)) v per (sequence,
  // head), reading q, k and v straight from the qkv projection's output -- qkv (rows,
  // 3 dim), each row laid out (3, heads, head_dim) -- and writing the context ctx (rows,
  // dim) in the merged (heads, head_dim) layout the output projection reads. Also writes
  // lse (batch, heads, tokens): each query's log-sum-exp of its scaled scores, which is all
  // the backward needs to recompute the probabilities. No (tokens, tokens) matrix leaves
  // the kernel. In bf16 precision its products take bf16 operands (float accumulation).
  template <typename T>
  void attention_forward(const AttentionDims& d, const T* qkv, T* ctx, T* lse);
  // Writes dqkv (rows, 3 dim) given dctx (rows, dim), from the forward's qkv, ctx and lse
  // (the probabilities are recomputed, as in FlashAttention's backward).
  template <typename T>
  void attention_backward(const AttentionDims& d, const T* qkv, const T* ctx, const T* lse,
                          const T* dctx, T* dqkv);

  // y (rows, dim) += x (period, dim) with row r taking x[r % period]: biases (period 1) and
  // positional tables (period = tokens).
  template <typename T>
  void add_rows(std::int64_t rows, std::int64_t period, std::int64_t dim, const T* x, T* y);
  // Accumulates dx (period, dim) += sum over r with r % period == p of dy[r]: the
  // backward of add_rows with respect to x.
  template <typename T>
  void sum_rows(std::int64_t rows, std::int64_t period, std::int64_t dim, const T* dy, T* dx);
  // y (n) += alpha * x (n).
  template <typename T>
  void axpy(std::int64_t n, float alpha, const T* x, T* y);
  // x (n) = value.
  template <typename T>
  void fill(std::int64_t n, T value, T* x);
  // dst[dst_index[i]] (=|+=) src[src_index[i]] for i < count, rows of `dim` elements.
  // Empty index spans mean the identity. With `accumulate`, repeated destinations add up
  // (used for the backward of a broadcast).
  template <typename T>
  void copy_rows(std::int64_t count, std::int64_t dim, const T* src, RowIndex src_index, T* dst,
                 RowIndex dst_index, bool accumulate);
  // dst = src with its axes permuted: dst axis i is src axis perm[i]. Up to 8 axes.
  // With `accumulate`, dst += permuted src.
  template <typename T>
  void permute(std::span<const std::int64_t> src_dims, std::span<const int> perm, const T* src,
               T* dst, bool accumulate = false);
  // Per-row standardisation, dst[i] = (src[src_index[i]] - mean) / (std + eps) with the
  // unbiased standard deviation over the row (VideoMAE's normalised-pixel target); an
  // empty src_index means row i. dst is (rows, dim).
  template <typename T>
  void row_normalize(std::int64_t rows, std::int64_t dim, float eps, const T* src,
                     RowIndex src_index, T* dst);
  // dst row i (rows.size(), row_elems) = tubelet rows[i] of clips: patchify and the row
  // gather in one pass (no full tubelet tensor is written).
  template <typename T>
  void gather_tubelets(const TubeletDims& g, const T* clips, RowIndex rows, T* dst);
  // The masked-tubelet loss with its target made on the fly: target row i is tubelet
  // rows[i] of clips standardised by its own mean and unbiased std (+ eps), as
  // row_normalize does; returns the mean of (pred - target)^2 over rows.size() x
  // row_elems (0 in dry run). The _and_grad form also writes dpred = scale * 2 (pred -
  // target) / n. Normalisation, loss and gradient are one pass; no target is stored.
  template <typename T>
  double tubelet_mse_loss(const TubeletDims& g, float eps, const T* pred, const T* clips,
                          RowIndex rows);
  template <typename T>
  double tubelet_mse_loss_and_grad(const TubeletDims& g, float eps, const T* pred, const T* clips,
                                   RowIndex rows, T* dpred, float scale = 1.0f);
  // Mean squared error over n elements. Returns the mean (0 in dry run).
  template <typename T>
  double mse_loss(std::int64_t n, const T* pred, const T* target);
  // The same, and writes its gradient dpred = scale * 2 (pred - target) / n in one pass.
  // (Two functions, not a null dpred, so a dry run reports the kernel a real run runs.)
  template <typename T>
  double mse_loss_and_grad(std::int64_t n, const T* pred, const T* target, T* dpred,
                           float scale = 1.0f);
  // One AdamW update over n elements (params, grads, first and second moments).
  void adamw(std::string_view name, std::int64_t n, const AdamWStep& hp, float* params,
             const float* grads, float* m, float* v);

 protected:
  virtual void run_gemm(const GemmShape& s, const float* a, const float* b, float* c,
                        const float* bias, const std::uint16_t* b_bf16) = 0;
  virtual void run_to_bf16(std::int64_t n, const float* x, std::uint16_t* y) = 0;
  virtual void run_gemm(const GemmShape& s, const double* a, const double* b, double* c,
                        const double* bias) = 0;
#define DOJO_DEVICE_RUN_DECL(T)                                                                    \
  virtual void run_layernorm_forward(std::int64_t rows, std::int64_t dim, float eps, const T* x,   \
                                     const T* gamma, const T* beta, T* y, T* mean, T* rstd) = 0;   \
  virtual void run_layernorm_backward(std::int64_t rows, std::int64_t dim, const T* dy,            \
                                      const T* x, const T* mean, const T* rstd, const T* gamma,    \
                                      T* dx, T* dgamma, T* dbeta) = 0;                             \
  virtual void run_gelu_forward(std::int64_t n, const T* x, T* y) = 0;                             \
  virtual void run_gelu_backward(std::int64_t n, const T* x, const T* dy, T* dx) = 0;              \
  virtual void run_gelu_backward_bias(std::int64_t rows, std::int64_t dim, const T* x, const T* dy,\
                                      T* dx, T* dbias) = 0;                                        \
  virtual void run_layernorm_backward_residual(std::int64_t rows, std::int64_t dim, const T* dy,   \
                                               const T* x, const T* mean, const T* rstd,           \
                                               const T* gamma, const T* dresidual, T* dx,          \
                                               T* dgamma, T* dbeta) = 0;                           \
  virtual void run_softmax_forward(std::int64_t rows, std::int64_t cols, T* x) = 0;                \
  virtual void run_attention_forward(const AttentionDims& d, const T* qkv, T* ctx, T* lse) = 0;    \
  virtual void run_attention_backward(const AttentionDims& d, const T* qkv, const T* ctx,          \
                                      const T* lse, const T* dctx, T* dqkv) = 0;                   \
  virtual void run_softmax_backward(std::int64_t rows, std::int64_t cols, const T* y, const T* dy, \
                                    T* dx) = 0;                                                    \
  virtual void run_add_rows(std::int64_t rows, std::int64_t period, std::int64_t dim, const T* x,  \
                            T* y) = 0;                                                             \
  virtual void run_sum_rows(std::int64_t rows, std::int64_t period, std::int64_t dim, const T* dy, \
                            T* dx) = 0;                                                            \
  virtual void run_axpy(std::int64_t n, float alpha, const T* x, T* y) = 0;                        \
  virtual void run_fill(std::int64_t n, T value, T* x) = 0;                                        \
  virtual void run_copy_rows(std::int64_t count, std::int64_t dim, const T* src,                   \
                             RowIndex src_index, T* dst, RowIndex dst_index, bool accumulate) = 0; \
  virtual void run_permute(std::span<const std::int64_t> src_dims, std::span<const int> perm,      \
                           const T* src, T* dst, bool accumulate) = 0;                             \
  virtual void run_row_normalize(std::int64_t rows, std::int64_t dim, float eps, const T* src,     \
                                 RowIndex src_index, T* dst) = 0;                                  \
  virtual double run_mse_loss(std::int64_t n, const T* pred, const T* target, T* dpred,            \
                              float scale) = 0;                                                    \
  virtual void run_gather_tubelets(const TubeletDims& g, const T* clips, RowIndex rows, T* dst) = 0;\
  virtual double run_tubelet_mse_loss(const TubeletDims& g, float eps, const T* pred,              \
                                      const T* clips, RowIndex rows, T* dpred, float scale) = 0;
  // The same kernel set for float (the model) and double (gradient tests).
  DOJO_DEVICE_RUN_DECL(float)
  DOJO_DEVICE_RUN_DECL(double)
#undef DOJO_DEVICE_RUN_DECL
  virtual void run_adamw(std::int64_t n, const AdamWStep& hp, float* params, const float* grads,
                         float* m, float* v) = 0;

 private:
  void report(std::string_view name, KernelKind kind, double flops, double bytes,
              const GemmShape* gemm = nullptr, Precision precision = Precision::kFp32,
              double matmul_flops = -1);

  bool dry_run_;
  CostSink* sink_ = nullptr;
  Precision precision_ = Precision::kFp32;
  bool backward_ = false;
  std::vector<std::string> layers_;
};

// RAII layer scope: kernels issued inside carry `name` as their layer. Nestable; pass the
// full dotted name ("encoder.3.attn").
class LayerScope {
 public:
  LayerScope(Device& device, std::string name) : device_(device) {
    device_.push_layer(std::move(name));
  }
  ~LayerScope() { device_.pop_layer(); }
  LayerScope(const LayerScope&) = delete;
  LayerScope& operator=(const LayerScope&) = delete;

 private:
  Device& device_;
};

// RAII: kernels inside are marked backward; restores the previous flag.
class BackwardScope {
 public:
  explicit BackwardScope(Device& device, bool backward = true)
      : device_(device), previous_(device.backward()) {
    device_.set_backward(backward);
  }
  ~BackwardScope() { device_.set_backward(previous_); }
  BackwardScope(const BackwardScope&) = delete;
  BackwardScope& operator=(const BackwardScope&) = delete;

 private:
  Device& device_;
  bool previous_;
};

// --- record computation (the math is in the concrete device) -----------------------------

inline void Device::set_precision(Precision precision) {
  precision_ = precision;
}

inline void Device::report(std::string_view name, KernelKind kind, double flops, double bytes,
                           const GemmShape* gemm, Precision precision, double matmul_flops) {
  if (sink_ == nullptr) return;
  KernelRecord record;
  record.name = name;
  record.layer = layer();
  record.kind = kind;
  record.precision = precision;
  record.backward = backward_;
  record.flops = flops;
  record.bytes = bytes;
  // Default: a GEMM is all matrix work, any other kernel none.
  record.matmul_flops = matmul_flops >= 0 ? matmul_flops : (kind == KernelKind::kGemm ? flops : 0.0);
  if (gemm != nullptr) {
    record.m = gemm->m;
    record.n = gemm->n;
    record.k = gemm->k;
    record.batch = gemm->batch;
    record.trans_a = gemm->trans_a;
    record.trans_b = gemm->trans_b;
  }
  sink_->on_kernel(record);
}

template <typename T>
void Device::gemm(std::string_view name, const GemmShape& s, const T* a, const T* b, T* c,
                  const T* bias, const std::uint16_t* b_bf16) {
  DOJO_ASSERT(!s.add_bias || s.beta == 0.0f, "gemm {}: bias needs beta 0", name);
  DOJO_ASSERT(dry_run_ || s.add_bias == (bias != nullptr), "gemm {}: add_bias {} with bias {}",
              name, s.add_bias, static_cast<const void*>(bias));
  if (!dry_run_) {
    if constexpr (std::is_same_v<T, float>) {
      run_gemm(s, a, b, c, bias, b_bf16);
    } else {
      run_gemm(s, a, b, c, bias);
    }
  }
  const bool bf16 = std::is_same_v<T, float> && precision_ == Precision::kBf16;
  const double operand_bytes = bf16 ? 2.0 : double(sizeof(T));
  const double per_batch = double(s.m * s.k + s.k * s.n) * operand_bytes +
                           double(s.m * s.n) * sizeof(T) * (s.beta != 0.0f ? 2.0 : 1.0) +
                           (s.add_bias ? double(s.n) * sizeof(T) : 0.0);
  const double bias_flops = s.add_bias ? double(s.m) * double(s.n) : 0.0;
  report(name, KernelKind::kGemm,
         (2.0 * double(s.m) * double(s.n) * double(s.k) + bias_flops) * double(s.batch),
         per_batch * double(s.batch), &s, bf16 ? Precision::kBf16 : Precision::kFp32);
}

template <typename T>
void Device::layernorm_forward(std::int64_t rows, std::int64_t dim, float eps, const T* x,
                               const T* gamma, const T* beta, T* y, T* mean, T* rstd) {
  if (!dry_run_) run_layernorm_forward(rows, dim, eps, x, gamma, beta, y, mean, rstd);
  report("layernorm", KernelKind::kReduction, 8.0 * double(rows * dim),
         double(sizeof(T)) * double(2 * rows * dim + 2 * dim + 2 * rows));
}

template <typename T>
void Device::layernorm_backward(std::int64_t rows, std::int64_t dim, const T* dy, const T* x,
                                const T* mean, const T* rstd, const T* gamma, T* dx, T* dgamma,
                                T* dbeta) {
  if (!dry_run_) run_layernorm_backward(rows, dim, dy, x, mean, rstd, gamma, dx, dgamma, dbeta);
  report("layernorm.backward", KernelKind::kReduction, 14.0 * double(rows * dim),
         double(sizeof(T)) * double(4 * rows * dim + 5 * dim + 2 * rows));
}

inline void Device::to_bf16(std::int64_t n, const float* x, std::uint16_t* y) {
  if (!dry_run_) run_to_bf16(n, x, y);
  report("to_bf16", KernelKind::kElementwise, 0.0, 6.0 * double(n));
}

template <typename T>
void Device::layernorm_backward_residual(std::int64_t rows, std::int64_t dim, const T* dy,
                                         const T* x, const T* mean, const T* rstd, const T* gamma,
                                         const T* dresidual, T* dx, T* dgamma, T* dbeta) {
  if (!dry_run_) {
    run_layernorm_backward_residual(rows, dim, dy, x, mean, rstd, gamma, dresidual, dx, dgamma,
                                    dbeta);
  }
  report("layernorm.backward", KernelKind::kReduction, 15.0 * double(rows * dim),
         double(sizeof(T)) * double(4 * rows * dim + 5 * dim + 2 * rows));
}

template <typename T>
void Device::gelu_backward_bias(std::int64_t rows, std::int64_t dim, const T* x, const T* dy,
                                T* dx, T* dbias) {
  if (!dry_run_) run_gelu_backward_bias(rows, dim, x, dy, dx, dbias);
  const double n = double(rows * dim);
  report("gelu.backward", KernelKind::kElementwise, 17.0 * n,
         double(sizeof(T)) * (3.0 * n + 2.0 * double(dim)));
}

template <typename T>
void Device::gelu_forward(std::int64_t n, const T* x, T* y) {
  if (!dry_run_) run_gelu_forward(n, x, y);
  report("gelu", KernelKind::kElementwise, 10.0 * double(n), double(sizeof(T)) * 2.0 * double(n));
}

template <typename T>
void Device::gelu_backward(std::int64_t n, const T* x, const T* dy, T* dx) {
  if (!dry_run_) run_gelu_backward(n, x, dy, dx);
  report("gelu.backward", KernelKind::kElementwise, 16.0 * double(n),
         double(sizeof(T)) * 3.0 * double(n));
}

template <typename T>
void Device::softmax_forward(std::int64_t rows, std::int64_t cols, T* x) {
  if (!dry_run_) run_softmax_forward(rows, cols, x);
  report("softmax", KernelKind::kAttention, 5.0 * double(rows * cols),
         double(sizeof(T)) * 2.0 * double(rows * cols));
}

template <typename T>
void Device::softmax_backward(std::int64_t rows, std::int64_t cols, const T* y, const T* dy,
                              T* dx) {
  if (!dry_run_) run_softmax_backward(rows, cols, y, dy, dx);
  report("softmax.backward", KernelKind::kAttention, 4.0 * double(rows * cols),
         double(sizeof(T)) * 3.0 * double(rows * cols));
}

template <typename T>
void Device::attention_forward(const AttentionDims& d, const T* qkv, T* ctx, T* lse) {
  if (!dry_run_) run_attention_forward(d, qkv, ctx, lse);
  const double bh = double(d.batch * d.heads), n = double(d.tokens), hd = double(d.head_dim);
  const double matmul = 2.0 * 2.0 * bh * n * n * hd;  // q k^T and p v
  const double rows_dim = double(d.rows() * d.dim());
  const bool bf16 = std::is_same_v<T, float> && precision_ == Precision::kBf16;
  const GemmShape shape = attention_shape(d);
  // Reads qkv, writes ctx and lse; the scores stay inside the kernel.
  report("attention", KernelKind::kAttention, matmul + 5.0 * bh * n * n,
         double(sizeof(T)) * (4.0 * rows_dim + bh * n), &shape,
         bf16 ? Precision::kBf16 : Precision::kFp32, matmul);
}

template <typename T>
void Device::attention_backward(const AttentionDims& d, const T* qkv, const T* ctx, const T* lse,
                                const T* dctx, T* dqkv) {
  if (!dry_run_) run_attention_backward(d, qkv, ctx, lse, dctx, dqkv);
  const double bh = double(d.batch * d.heads), n = double(d.tokens), hd = double(d.head_dim);
  // Five products: the scores again, dp = dctx v^T, dv = p^T dctx, dq = ds k, dk = ds^T q.
  const double matmul = 5.0 * 2.0 * bh * n * n * hd;
  const double rows_dim = double(d.rows() * d.dim());
  const bool bf16 = std::is_same_v<T, float> && precision_ == Precision::kBf16;
  const GemmShape shape = attention_shape(d);
  // Reads qkv, ctx, dctx and lse, writes dqkv.
  report("attention.backward", KernelKind::kAttention, matmul + 8.0 * bh * n * n,
         double(sizeof(T)) * (8.0 * rows_dim + bh * n), &shape,
         bf16 ? Precision::kBf16 : Precision::kFp32, matmul);
}

template <typename T>
void Device::add_rows(std::int64_t rows, std::int64_t period, std::int64_t dim, const T* x, T* y) {
  if (!dry_run_) run_add_rows(rows, period, dim, x, y);
  report("add_rows", KernelKind::kElementwise, double(rows * dim),
         double(sizeof(T)) * double(2 * rows * dim + period * dim));
}

template <typename T>
void Device::sum_rows(std::int64_t rows, std::int64_t period, std::int64_t dim, const T* dy,
                      T* dx) {
  if (!dry_run_) run_sum_rows(rows, period, dim, dy, dx);
  report("sum_rows", KernelKind::kReduction, double(rows * dim),
         double(sizeof(T)) * double(rows * dim + 2 * period * dim));
}

template <typename T>
void Device::axpy(std::int64_t n, float alpha, const T* x, T* y) {
  if (!dry_run_) run_axpy(n, alpha, x, y);
  report("axpy", KernelKind::kElementwise, 2.0 * double(n), double(sizeof(T)) * 3.0 * double(n));
}

template <typename T>
void Device::fill(std::int64_t n, T value, T* x) {
  if (!dry_run_) run_fill(n, value, x);
  report("fill", KernelKind::kElementwise, 0.0, double(sizeof(T)) * double(n));
}

template <typename T>
void Device::copy_rows(std::int64_t count, std::int64_t dim, const T* src, RowIndex src_index,
                       T* dst, RowIndex dst_index, bool accumulate) {
  if (!dry_run_) run_copy_rows(count, dim, src, src_index, dst, dst_index, accumulate);
  report(accumulate ? "copy_rows.add" : "copy_rows", KernelKind::kElementwise,
         accumulate ? double(count * dim) : 0.0,
         double(sizeof(T)) * double(count * dim) * (accumulate ? 3.0 : 2.0));
}

template <typename T>
void Device::permute(std::span<const std::int64_t> src_dims, std::span<const int> perm,
                     const T* src, T* dst, bool accumulate) {
  if (!dry_run_) run_permute(src_dims, perm, src, dst, accumulate);
  double n = 1;
  for (const std::int64_t d : src_dims) n *= double(d);
  report("permute", KernelKind::kElementwise, accumulate ? n : 0.0,
         double(sizeof(T)) * n * (accumulate ? 3.0 : 2.0));
}

template <typename T>
void Device::row_normalize(std::int64_t rows, std::int64_t dim, float eps, const T* src,
                           RowIndex src_index, T* dst) {
  if (!dry_run_) run_row_normalize(rows, dim, eps, src, src_index, dst);
  report("row_normalize", KernelKind::kReduction, 6.0 * double(rows * dim),
         double(sizeof(T)) * 2.0 * double(rows * dim));
}

template <typename T>
void Device::gather_tubelets(const TubeletDims& g, const T* clips, RowIndex rows, T* dst) {
  if (!dry_run_) run_gather_tubelets(g, clips, rows, dst);
  report("gather_tubelets", KernelKind::kElementwise, 0.0,
         double(sizeof(T)) * 2.0 * double(std::int64_t(rows.size()) * g.row_elems()));
}

template <typename T>
double Device::tubelet_mse_loss(const TubeletDims& g, float eps, const T* pred, const T* clips,
                                RowIndex rows) {
  const double loss =
      dry_run_ ? 0.0 : run_tubelet_mse_loss(g, eps, pred, clips, rows, static_cast<T*>(nullptr), 1.0f);
  const double n = double(std::int64_t(rows.size()) * g.row_elems());
  report("tubelet_mse_loss", KernelKind::kReduction, 9.0 * n, double(sizeof(T)) * 2.0 * n);
  return loss;
}

template <typename T>
double Device::tubelet_mse_loss_and_grad(const TubeletDims& g, float eps, const T* pred,
                                         const T* clips, RowIndex rows, T* dpred, float scale) {
  const double loss = dry_run_ ? 0.0 : run_tubelet_mse_loss(g, eps, pred, clips, rows, dpred, scale);
  const double n = double(std::int64_t(rows.size()) * g.row_elems());
  report("tubelet_mse_loss.backward", KernelKind::kReduction, 11.0 * n,
         double(sizeof(T)) * 3.0 * n);
  return loss;
}

template <typename T>
double Device::mse_loss(std::int64_t n, const T* pred, const T* target) {
  const double loss = dry_run_ ? 0.0 : run_mse_loss(n, pred, target, static_cast<T*>(nullptr), 1.0f);
  report("mse_loss", KernelKind::kReduction, 3.0 * double(n), double(sizeof(T)) * double(n) * 2.0);
  return loss;
}

template <typename T>
double Device::mse_loss_and_grad(std::int64_t n, const T* pred, const T* target, T* dpred,
                                 float scale) {
  const double loss = dry_run_ ? 0.0 : run_mse_loss(n, pred, target, dpred, scale);
  report("mse_loss.backward", KernelKind::kReduction, 6.0 * double(n),
         double(sizeof(T)) * double(n) * 4.0);
  return loss;
}

inline void Device::adamw(std::string_view name, std::int64_t n, const AdamWStep& hp, float* params,
                          const float* grads, float* m, float* v) {
  if (!dry_run_) run_adamw(n, hp, params, grads, m, v);
  report(name, KernelKind::kOptimizer, 14.0 * double(n), 4.0 * 7.0 * double(n));
}

}  // namespace dojo::accel
