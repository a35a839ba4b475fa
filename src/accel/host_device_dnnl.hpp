#pragma once
// oneDNN pieces of the HostDevice (float only): matmul for fp32 and bf16 GEMMs, and the
// JIT-vectorised GELU (erf) and softmax. Primitives are created once per shape and cached;
// a model step reuses a few dozen shapes. Part of host_device (the model engineer's file).
#include <memory>

#include "accel/device.hpp"

namespace dojo::accel {

class DnnlKernels {
 public:
  DnnlKernels();
  ~DnnlKernels();
  DnnlKernels(const DnnlKernels&) = delete;
  DnnlKernels& operator=(const DnnlKernels&) = delete;

  // bf16: A and B are converted to bfloat16 (round to nearest even) before the multiply;
  // accumulation and C are float32. beta must be 0 or 1; `bias` (n, may be null) is added
  // to every row of C. `b_bf16` (may be null): b already in bf16, used when b is packed.
  void gemm(const GemmShape& s, const float* a, const float* b, float* c, const float* bias,
            bool bf16, const std::uint16_t* b_bf16 = nullptr);
  // The same product on packed operands (lda, ldb, ldc 0) already in the operand type:
  // float, or bfloat16 bit patterns (std::uint16_t) when `bf16`. No conversion, no cached
  // copies (fused kernels that stage their own operands use it).
  void packed_gemm(const GemmShape& s, const void* a, const void* b, float* c, bool bf16);
  // Drops the cached bf16 copies of GEMM operands: call before anything else writes memory
  // (HostDevice does, before every non-GEMM kernel).
  void forget_bf16_copies();
  void gelu_forward(std::int64_t n, const float* x, float* y);
  void gelu_backward(std::int64_t n, const float* x, const float* dy, float* dx);
  void softmax_forward(std::int64_t rows, std::int64_t cols, float* x);
  void softmax_backward(std::int64_t rows, std::int64_t cols, const float* y, const float* dy,
                        float* dx);

  struct State;  // engine, stream and the primitive caches

 private:
  std::unique_ptr<State> state_;
};

}  // namespace dojo::accel
