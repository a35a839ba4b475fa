#pragma once
// The contract between what runs (model kernels on a Device, collectives in the trainer)
// and what it would cost on the simulated mesh.
//
// A Device runs each kernel for real on the host and then describes it to its CostSink
// (if one is attached) as a KernelRecord: what kind of kernel, its shape, how many
// floating-point operations and memory bytes it needs. The trainer describes each
// gradient collective as a CollectiveRecord. The mesh cost model (accel/mesh_*) is a
// CostSink that turns these records into simulated time on a Timeline; tests can attach
// a recording sink instead. Records are delivered in program order on the thread that
// issued the work; a sink need not be thread-safe.
#include <cstdint>
#include <string_view>

namespace dojo::accel {

enum class Precision { kFp32, kBf16 };

enum class KernelKind {
  kGemm,         // (batched) matrix multiply; m, n, k, batch are set
  kAttention,    // fused attention: its products (matmul_flops) and softmax in one kernel
  kElementwise,  // adds, GELU, scaling, masking, copies
  kReduction,    // LayerNorm, softmax, losses, norms
  kOptimizer,    // AdamW update over the parameter arena
};

// What a kernel's host cost scales with (accel/host_calibration.hpp): a Device kernel
// says its class, so that a fused kernel is charged like what it does; kUnspecified
// derives it from the kind and name.
enum class KernelClass {
  kUnspecified,
  kGemm,            // by shape and precision
  kElementwise,     // adds, copies, permutes, scaling: by bytes
  kTranscendental,  // GELU (erf) and other per-element math: by bytes
  kLayerNorm,       // row statistics + normalisation: by bytes
  kSoftmax,         // a separate row softmax: by bytes
  kAttention,       // fused attention (q k^T, online softmax, p v): by its products' shape
  kReduction,       // losses, row sums, row standardisation: by bytes
  kAdamW,           // the optimizer over the parameter arena: by bytes
};

struct KernelRecord {
  std::string_view name;   // kernel name, e.g. "attn.qkv" (valid only during the call)
  std::string_view layer;  // innermost layer scope, e.g. "encoder.3" ("" outside any)
  KernelKind kind = KernelKind::kElementwise;
  Precision precision = Precision::kFp32;
  bool backward = false;  // part of the backward pass
  double flops = 0;       // floating-point operations; one multiply-add counts 2
  double bytes = 0;       // bytes read plus bytes written
  // Of `flops`, the part done as matrix products (a matrix unit's work): all of a kGemm's,
  // the q k^T / p v products inside a fused kAttention kernel, 0 for vector-only kernels.
  double matmul_flops = 0;
  // GEMM shape: C(m, n) += A(m, k) * B(k, n), `batch` times. A fused kAttention kernel
  // gives its per-head products' shape: m = n = tokens, k = head width, batch = clips x
  // heads. Zero for other kinds.
  std::int64_t m = 0, n = 0, k = 0, batch = 0;
  bool trans_a = false, trans_b = false;  // GEMM operand transposes
  KernelClass kernel_class = KernelClass::kUnspecified;
};

enum class CollectiveKind { kAllReduce, kBroadcast };

struct CollectiveRecord {
  std::string_view name;  // e.g. "grad_bucket.3"
  CollectiveKind kind = CollectiveKind::kAllReduce;
  double bytes = 0;  // payload per rank
  int ranks = 1;     // data-parallel replicas taking part
  // true: issued now and overlaps with the kernels that follow (a gradient bucket during
  // backward); false: the issuing thread waits for it to finish.
  bool async = false;
};

class CostSink {
 public:
  virtual ~CostSink() = default;
  virtual void on_kernel(const KernelRecord& record) = 0;
  virtual void on_collective(const CollectiveRecord& record) = 0;
};

}  // namespace dojo::accel

namespace dojo::accel {
const char* to_string(KernelKind kind);
const char* to_string(Precision precision);
// "fp32" or "bf16"; throws InvalidArgument naming the value otherwise.
Precision parse_precision(std::string_view name);
}  // namespace dojo::accel
