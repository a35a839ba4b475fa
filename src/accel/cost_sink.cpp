#include "accel/cost_sink.hpp"

#include "core/error.hpp"

namespace dojo::accel {

const char* to_string(KernelKind kind) {
  switch (kind) {
    case KernelKind::kGemm: return "gemm";
    case KernelKind::kAttention: return "attention";
    case KernelKind::kElementwise: return "elementwise";
    case KernelKind::kReduction: return "reduction";
    case KernelKind::kOptimizer: return "optimizer";
  }
  return "?";
}

const char* to_string(Precision precision) {
  return precision == Precision::kBf16 ? "bf16" : "fp32";
}

Precision parse_precision(std::string_view name) {
  if (name == "fp32") return Precision::kFp32;
  if (name == "bf16") return Precision::kBf16;
  throw InvalidArgument(fmt::format("precision '{}' is not one of: fp32, bf16", name));
}

}  // namespace dojo::accel
