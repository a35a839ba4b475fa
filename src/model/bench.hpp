#pragma once
// The model benchmark behind `dojo bench model`: median training-step time (tube masking,
// target normalisation, forward, backward, AdamW) on random clips, achieved GFLOP/s, and a
// bare GEMM of the model's shapes on the same device as the machine's ceiling.
//
// Flops are counted as the issue defines them: 2*M*N*K per forward matrix product (the
// fused attention's q k^T and p v included: KernelRecord::matmul_flops), backward = 2x forward, so a step is 3x the forward GEMM flops; elementwise
// work is not counted.
#include <cstdint>
#include <string>
#include <vector>

#include "accel/cost_sink.hpp"

namespace dojo::model {

struct ModelBenchOptions {
  std::string config = "bench";
  int threads = 1;
  std::int64_t batch = 16;
  std::int64_t steps = 10;  // timed steps
  std::int64_t warmup = 2;  // untimed steps first
  accel::Precision precision = accel::Precision::kFp32;
  bool breakdown = false;
  bool openblas = false;  // fp32 GEMMs through OpenBLAS instead of oneDNN  // also time each kernel
                          // (by name, forward/backward)
};

struct KernelTime {
  std::string name;  // "attn.scores" or "attn.scores (bwd)"
  double ms_per_step = 0;
  double cpu_ms_per_step = 0;  // process CPU time (all threads): steadier on a shared machine
  double gflop_per_step = 0;
  std::int64_t calls_per_step = 0;
};

struct ModelBenchResult {
  std::string config;
  int threads = 1;
  std::int64_t batch = 0;
  accel::Precision precision = accel::Precision::kFp32;
  std::vector<double> step_ms;  // every timed step
  double step_ms_median = 0;
  // Process CPU time per step (all threads): a cross-check that a busy shared machine
  // disturbs less than wall time.
  std::vector<double> step_cpu_ms;
  double step_cpu_ms_median = 0;
  double gflop_per_step = 0;
  double gflops = 0;                     // gflop_per_step / median step time
  double gemm_peak_gflops = 0;           // best of the bare GEMMs below
  std::vector<std::string> gemm_shapes;  // "MxNxK: X GFLOP/s"
  float loss_first = 0, loss_last = 0;
  std::vector<float> losses;  // every step, warmup included (same clips and masks per run)
  std::int64_t params = 0;
  std::vector<KernelTime> kernels;  // with `breakdown`, slowest first
};

ModelBenchResult run_model_bench(const ModelBenchOptions& options);

}  // namespace dojo::model
