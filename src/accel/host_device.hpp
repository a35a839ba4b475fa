#pragma once
// HostDevice: runs the Device kernels for real on this machine's CPU.
//
// Float kernels (the model): GEMMs through oneDNN's matmul (fp32, or bf16 operands with
// float32 accumulation and output -- avx512_bf16 where the CPU has it) or, by option,
// OpenBLAS sgemm; GELU and softmax through oneDNN's JIT kernels; the rest are loops the
// compiler vectorises, split over OpenMP threads when large enough. Double kernels (the
// gradient tests) are the same loops and OpenBLAS dgemm.
//
// bf16: a GEMM may reuse the bf16 copy of an operand converted by the GEMM just before it
// (same memory, no other kernel in between). Host code must not change a GEMM's input
// between two back-to-back GEMM calls; any kernel in between is fine.
//
// Threads: oneDNN and the loops use OpenMP, OpenBLAS its own pool; both thread counts are
// process-wide and a (non-dry-run) HostDevice sets them to `threads`. Use one HostDevice
// per process.
#include <cstdint>
#include <memory>
#include <vector>

#include "accel/device.hpp"
#include "accel/host_device_dnnl.hpp"

namespace dojo::accel {

enum class GemmBackend { kOneDnn, kOpenBlas };

// Host kernels split a loop over OpenMP threads only when it touches at least this many
// elements: smaller ones do not pay for the fork.
inline constexpr std::int64_t kHostParallelMinElems = 1 << 17;

struct HostDeviceOptions {
  int threads = 1;
  GemmBackend gemm = GemmBackend::kOneDnn;  // fp32 GEMMs; bf16 always uses oneDNN
  bool dry_run = false;                     // skip the math, still report records
  Precision precision = Precision::kFp32;
};

class HostDevice final : public Device {
 public:
  explicit HostDevice(HostDeviceOptions options = {});
  ~HostDevice() override;
  int threads() const override { return options_.threads; }

 protected:
  void run_gemm(const GemmShape& s, const float* a, const float* b, float* c, const float* bias,
                const std::uint16_t* b_bf16) override;
  void run_to_bf16(std::int64_t n, const float* x, std::uint16_t* y) override;
  void run_gemm(const GemmShape& s, const double* a, const double* b, double* c,
                const double* bias) override;
#define DOJO_HOST_RUN_DECL(T)                                                                     \
  void run_layernorm_forward(std::int64_t rows, std::int64_t dim, float eps, const T* x,          \
                             const T* gamma, const T* beta, T* y, T* mean, T* rstd) override;     \
  void run_layernorm_backward(std::int64_t rows, std::int64_t dim, const T* dy, const T* x,       \
                              const T* mean, const T* rstd, const T* gamma, T* dx, T* dgamma,     \
                              T* dbeta) override;                                                 \
  void run_gelu_forward(std::int64_t n, const T* x, T* y) override;                               \
  void run_gelu_backward(std::int64_t n, const T* x, const T* dy, T* dx) override;                \
  void run_gelu_backward_bias(std::int64_t rows, std::int64_t dim, const T* x, const T* dy, T* dx, \
                              T* dbias) override;                                                 \
  void run_layernorm_backward_residual(std::int64_t rows, std::int64_t dim, const T* dy,          \
                                       const T* x, const T* mean, const T* rstd, const T* gamma,  \
                                       const T* dresidual, T* dx, T* dgamma, T* dbeta) override;  \
  void run_softmax_forward(std::int64_t rows, std::int64_t cols, T* x) override;                  \
  void run_attention_forward(const AttentionDims& d, const T* qkv, T* ctx, T* lse) override;      \
  void run_attention_backward(const AttentionDims& d, const T* qkv, const T* ctx, const T* lse,   \
                              const T* dctx, T* dqkv) override;                                   \
  void run_softmax_backward(std::int64_t rows, std::int64_t cols, const T* y, const T* dy, T* dx) \
      override;                                                                                   \
  void run_add_rows(std::int64_t rows, std::int64_t period, std::int64_t dim, const T* x, T* y)   \
      override;                                                                                   \
  void run_sum_rows(std::int64_t rows, std::int64_t period, std::int64_t dim, const T* dy, T* dx) \
      override;                                                                                   \
  void run_axpy(std::int64_t n, float alpha, const T* x, T* y) override;                          \
  void run_fill(std::int64_t n, T value, T* x) override;                                          \
  void run_copy_rows(std::int64_t count, std::int64_t dim, const T* src, RowIndex src_index,      \
                     T* dst, RowIndex dst_index, bool accumulate) override;                       \
  void run_permute(std::span<const std::int64_t> src_dims, std::span<const int> perm,             \
                   const T* src, T* dst, bool accumulate) override;                               \
  void run_row_normalize(std::int64_t rows, std::int64_t dim, float eps, const T* src,            \
                         RowIndex src_index, T* dst) override;                                    \
  double run_mse_loss(std::int64_t n, const T* pred, const T* target, T* dpred, float scale)      \
      override;                                                                                   \
  void run_gather_tubelets(const TubeletDims& g, const T* clips, RowIndex rows, T* dst) override; \
  double run_tubelet_mse_loss(const TubeletDims& g, float eps, const T* pred, const T* clips,     \
                              RowIndex rows, T* dpred, float scale) override;
  DOJO_HOST_RUN_DECL(float)
  DOJO_HOST_RUN_DECL(double)
#undef DOJO_HOST_RUN_DECL
  void run_adamw(std::int64_t n, const AdamWStep& hp, float* params, const float* grads, float* m,
                 float* v) override;

 private:
  // Every kernel except a GEMM may overwrite a GEMM operand whose bf16 copy is cached.
  void forget_bf16_copies() {
    if (dnnl_) dnnl_->forget_bf16_copies();
  }

  HostDeviceOptions options_;
  std::unique_ptr<DnnlKernels> dnnl_;  // null on a dry-run device
  // Staging buffers of the fused attention (host_device_attention.cpp), reused by calls.
  std::vector<float> attention_f32_;
  std::vector<std::uint16_t> attention_bf16_;
};

}  // namespace dojo::accel
