#pragma once
// HostDevice: runs the Device kernels for real on this machine's CPU.
//
// GEMMs go to OpenBLAS (sgemm/dgemm; one call per batch entry, or the batch split across
// threads when the matrices are small). bf16 GEMMs use oneDNN's matmul with bfloat16
// operands and float32 accumulation and output (avx512_bf16 where the CPU has it).
// Elementwise, LayerNorm and softmax kernels are plain loops the compiler vectorises,
// split across `threads` worker threads when large enough.
//
// Threads: OpenBLAS's thread count is process-wide; constructing a HostDevice sets it to
// `threads`. Use one HostDevice per process (dry-run devices do not touch it).
#include <memory>

#include "accel/device.hpp"

namespace dojo::accel {

struct HostDeviceOptions {
  int threads = 1;
  bool dry_run = false;  // skip the math, still report records
  Precision precision = Precision::kFp32;
};

class HostDevice final : public Device {
 public:
  explicit HostDevice(HostDeviceOptions options = {});
  ~HostDevice() override;
  int threads() const override { return options_.threads; }

 protected:
  void run_gemm(const GemmShape& s, const float* a, const float* b, float* c) override;
  void run_gemm(const GemmShape& s, const double* a, const double* b, double* c) override;
#define DOJO_HOST_RUN_DECL(T)                                                                     \
  void run_layernorm_forward(std::int64_t rows, std::int64_t dim, float eps, const T* x,          \
                             const T* gamma, const T* beta, T* y, T* mean, T* rstd) override;     \
  void run_layernorm_backward(std::int64_t rows, std::int64_t dim, const T* dy, const T* x,       \
                              const T* mean, const T* rstd, const T* gamma, T* dx, T* dgamma,     \
                              T* dbeta) override;                                                 \
  void run_gelu_forward(std::int64_t n, const T* x, T* y) override;                               \
  void run_gelu_backward(std::int64_t n, const T* x, const T* dy, T* dx) override;                \
  void run_softmax_forward(std::int64_t rows, std::int64_t cols, T* x) override;                  \
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
  void run_row_normalize(std::int64_t rows, std::int64_t dim, float eps, const T* src, T* dst)    \
      override;                                                                                   \
  double run_mse_loss(std::int64_t n, const T* pred, const T* target, T* dpred, float scale)      \
      override;
  DOJO_HOST_RUN_DECL(float)
  DOJO_HOST_RUN_DECL(double)
#undef DOJO_HOST_RUN_DECL
  void run_adamw(std::int64_t n, const AdamWStep& hp, float* params, const float* grads, float* m,
                 float* v) override;

 private:
  struct Bf16Gemm;  // oneDNN engine, stream and a cache of matmul primitives
  HostDeviceOptions options_;
  std::unique_ptr<Bf16Gemm> bf16_;
};

}  // namespace dojo::accel
