// The calibrated host: curves, kernel classes, per-class charges, the host all-reduce
// formulas and the preset's round trip through its file format.
#include <cmath>

#include <gtest/gtest.h>

#include "accel/calibrate.hpp"
#include "accel/host_calibration.hpp"
#include "accel/mesh_cost_model.hpp"
#include "accel/mesh_io.hpp"
#include "core/error.hpp"

namespace dojo::accel {
namespace {

// A calibration whose every figure is known: GEMMs at 1e10 FLOP/s (1 thread) and 2e10
// (2 threads), streams at 1e9 B/s from 1 KB up, a link of 1 us + bytes / 1e9 (cold: / 5e8).
HostCalibration known_calibration() {
  HostCalibration h;
  for (const int t : {1, 2}) {
    ThreadRates r;
    r.threads = t;
    const double rate = 1e10 * t;
    r.gemm_fp32 = {{64, 64, 64, 1, false, false, rate}, {512, 512, 512, 1, false, false, rate},
                   {32, 32, 64, 48, false, true, rate / 2}};
    r.gemm_bf16 = {{64, 64, 64, 1, false, false, 2 * rate}};
    // The fused attention: forward at 1e9 x t FLOP/s for 64 tokens, 4e9 x t for 256 (head
    // width 16); backward half of that.
    for (const bool backward : {false, true}) {
      const double a = (backward ? 0.5e9 : 1e9) * t;
      r.attention_fp32.push_back({64, 16, 32, backward, a});
      r.attention_fp32.push_back({256, 16, 32, backward, 4 * a});
    }
    for (const auto c : {KernelClass::kElementwise, KernelClass::kTranscendental,
                         KernelClass::kLayerNorm, KernelClass::kSoftmax, KernelClass::kReduction,
                         KernelClass::kAdamW})
      r.streams.push_back({c, Curve{{{1e3, 1e9 * t}, {1e6, 1e9 * t}}}});
    h.threads.push_back(r);
  }
  LinkCurve mpi;
  mpi.transport = "mpi";
  // Points at every size the formulas below look up, so the curve is exact there.
  for (const double b : {8.0, 65536.0, 524288.0, 1048576.0, 1e8}) {
    mpi.hot_s.points.push_back({b, 1e-6 + b / 1e9});
    mpi.cold_s.points.push_back({b, 1e-6 + b / 5e8});
  }
  h.links.push_back(mpi);
  h.cache_bytes = 8e6;
  h.ring_segment_bytes = 1 << 20;
  h.auto_small_bytes = 256 << 10;
  return h;
}

TEST(HostCurve, InterpolatesInLogLogAndClampsAtTheEnds) {
  const Curve c{{{1e3, 1.0}, {1e5, 100.0}}};
  EXPECT_DOUBLE_EQ(c.rate_at(1e3), 1.0);
  EXPECT_NEAR(c.rate_at(1e4), 10.0, 1e-9);  // halfway in log size: geometric mean
  EXPECT_DOUBLE_EQ(c.rate_at(10), 1.0);
  EXPECT_DOUBLE_EQ(c.rate_at(1e7), 100.0);
  EXPECT_DOUBLE_EQ(c.time_at(10), 1.0);       // a call costs at least the first point
  EXPECT_DOUBLE_EQ(c.time_at(1e6), 1000.0);   // beyond the last: proportional
}

TEST(HostKernelClass, DerivedFromKindAndNameUnlessTheRecordSaysIt) {
  KernelRecord r;
  r.kind = KernelKind::kReduction;
  r.name = "layernorm.backward";
  EXPECT_EQ(kernel_class_of(r), KernelClass::kLayerNorm);
  r.name = "row_normalize";
  EXPECT_EQ(kernel_class_of(r), KernelClass::kReduction);
  r.kind = KernelKind::kElementwise;
  r.name = "gelu";
  EXPECT_EQ(kernel_class_of(r), KernelClass::kTranscendental);
  r.name = "axpy";
  EXPECT_EQ(kernel_class_of(r), KernelClass::kElementwise);
  r.kind = KernelKind::kAttention;  // a separate softmax
  EXPECT_EQ(kernel_class_of(r), KernelClass::kSoftmax);
  r.matmul_flops = 1e6;  // the fused attention: products inside
  EXPECT_EQ(kernel_class_of(r), KernelClass::kAttention);
  r.matmul_flops = 0;
  r.kind = KernelKind::kOptimizer;
  EXPECT_EQ(kernel_class_of(r), KernelClass::kAdamW);
  r.kind = KernelKind::kElementwise;
  r.name = "fused.layernorm_gelu";
  r.kernel_class = KernelClass::kLayerNorm;  // a fused kernel says what it is
  EXPECT_EQ(kernel_class_of(r), KernelClass::kLayerNorm);
  for (const auto c :
       {KernelClass::kGemm, KernelClass::kAdamW, KernelClass::kSoftmax, KernelClass::kAttention})
    EXPECT_EQ(parse_kernel_class(to_string(c)), c);
  EXPECT_THROW(parse_kernel_class("fft"), InvalidArgument);
}

TEST(HostKernelCharge, MeasuredPointsAreChargedAtTheirRatePerPrecisionAndThreads) {
  const auto h = known_calibration();
  KernelRecord g;
  g.name = "gemm";
  g.kind = KernelKind::kGemm;
  g.m = g.n = g.k = 512;
  g.batch = 1;
  g.flops = 2.0 * 512 * 512 * 512;
  EXPECT_NEAR(h.kernel_s(g, 1), g.flops / 1e10, 1e-15);
  EXPECT_NEAR(h.kernel_s(g, 2), g.flops / 2e10, 1e-15);
  EXPECT_NEAR(h.kernel_s(g, 4), g.flops / 4e10, 1e-15);  // beyond the measured: proportional
  g.precision = Precision::kBf16;
  EXPECT_NEAR(h.kernel_s(g, 1), g.flops / 2e10, 1e-15);
  // Batched GEMMs are charged from the batched points only.
  KernelRecord b = g;
  b.precision = Precision::kFp32;
  b.m = b.n = 32;
  b.k = 64;
  b.batch = 48;
  b.flops = 2.0 * 32 * 32 * 64 * 48;
  EXPECT_NEAR(h.kernel_s(b, 1), b.flops / 5e9, 1e-15);
  KernelRecord s;
  s.name = "axpy";
  s.kind = KernelKind::kElementwise;
  s.bytes = 1e5;
  EXPECT_NEAR(h.kernel_s(s, 1), 1e-4, 1e-15);
  s.bytes = 10;  // below the first point: the first point's time
  EXPECT_NEAR(h.kernel_s(s, 1), 1e-6, 1e-15);
}

TEST(HostKernelCharge, GemmsAreChargedFromPointsOfTheirTransposes) {
  auto h = known_calibration();
  // The weight gradient's layout (A^T B) measured slower than the plain one.
  h.threads[0].gemm_fp32.push_back({512, 512, 512, 1, true, false, 2.5e9});
  KernelRecord g;
  g.name = "linear.dweight";
  g.kind = KernelKind::kGemm;
  g.m = g.n = g.k = 512;
  g.batch = 1;
  g.flops = 2.0 * 512 * 512 * 512;
  g.trans_a = true;
  EXPECT_NEAR(h.kernel_s(g, 1), g.flops / 2.5e9, 1e-15);
  g.trans_a = false;
  EXPECT_NEAR(h.kernel_s(g, 1), g.flops / 1e10, 1e-15);
  // No point of this layout: charged from any (here the one exact match, 64^3 A B).
  g.trans_b = true;
  g.m = g.n = g.k = 64;
  g.flops = 2.0 * 64 * 64 * 64;
  EXPECT_NEAR(h.kernel_s(g, 1), g.flops / 1e10, 1e-15);
}

TEST(HostKernelCharge, FusedAttentionIsChargedFromItsOwnPointsByDirection) {
  const auto h = known_calibration();
  KernelRecord a;
  a.name = "attention";
  a.kind = KernelKind::kAttention;
  a.m = a.n = 64;
  a.k = 16;
  a.batch = 48;
  a.flops = 1e8;
  a.matmul_flops = 0.9e8;
  EXPECT_NEAR(h.kernel_s(a, 1), 1e8 / 1e9, 1e-12);
  EXPECT_NEAR(h.kernel_s(a, 2), 1e8 / 2e9, 1e-12);
  a.name = "attention.backward";
  EXPECT_NEAR(h.kernel_s(a, 1), 1e8 / 0.5e9, 1e-12);
  // 128 tokens: halfway in log2 between the two points, equal weights on time per FLOP.
  a.m = a.n = 128;
  EXPECT_NEAR(h.kernel_s(a, 1), 1e8 * 0.5 * (1 / 0.5e9 + 1 / 2e9), 1e-12);
  a.precision = Precision::kBf16;  // no bf16 points: the fp32 ones
  EXPECT_NEAR(h.kernel_s(a, 1), 1e8 * 0.5 * (1 / 0.5e9 + 1 / 2e9), 1e-12);
  auto old = h;  // a preset from before the attention class names what is missing
  for (auto& t : old.threads) t.attention_fp32.clear();
  EXPECT_THROW(old.kernel_s(a, 1), InvalidArgument);
}

TEST(HostAllreduce, FormulasMatchTheLinkCurveByHand) {
  const auto h = known_calibration();
  const double add_s_per_byte = 3.0 / 1e9;  // the sum reads two floats and writes one
  // Recursive doubling, 2 ranks, 64 KiB (in cache): one exchange and one sum.
  const double s = 65536;
  EXPECT_NEAR(host_allreduce_s(h, HostAllreduce::kRecursiveDoubling, s, 2),
              1e-6 + s / 1e9 + s * add_s_per_byte, 1e-12);
  // Ring, 2 ranks, 1 MiB: chunk 512 KiB in one segment; exchange 1 us + c / 1e9, and the
  // sum not hidden after the last segment.
  const double b = 1 << 20, c = b / 2;
  const double x = 1e-6 + c / 1e9, add = c * add_s_per_byte;
  EXPECT_NEAR(host_allreduce_s(h, HostAllreduce::kRing, b, 2), std::max(x, add) + add + x, 1e-12);
  // 16 MiB is beyond cache: the cold curve, 8 segments of 1 MiB per chunk.
  const double big = 16 << 20, seg = 1 << 20;
  const double xc = 1e-6 + seg / 5e8, addc = seg * add_s_per_byte;
  EXPECT_NEAR(host_allreduce_s(h, HostAllreduce::kRing, big, 2),
              8 * std::max(xc, addc) + addc + 8 * xc, 1e-12);
  // auto, as comm chooses on one host: small messages by recursive doubling, large through
  // shared memory; one rank costs nothing.
  EXPECT_DOUBLE_EQ(host_allreduce_s(h, HostAllreduce::kAuto, b, 2),
                   host_allreduce_s(h, HostAllreduce::kShm, b, 2));
  EXPECT_DOUBLE_EQ(host_allreduce_s(h, HostAllreduce::kAuto, s, 2),
                   host_allreduce_s(h, HostAllreduce::kRecursiveDoubling, s, 2));
  EXPECT_EQ(host_allreduce_s(h, HostAllreduce::kRing, b, 1), 0);
  EXPECT_THROW(host_allreduce_s(h, HostAllreduce::kGloo, b, 2), InvalidArgument);
}

TEST(HostAllreduce, MpiIsTheMeasuredCurveOnItsOwnLayoutOnly) {
  auto h = known_calibration();
  const double formula = host_allreduce_s(h, HostAllreduce::kMpi, 1 << 20, 2);
  const double formula3 = host_allreduce_s(h, HostAllreduce::kMpi, 1 << 20, 3);
  h.hosts = 1;
  h.ranks_per_host = 2;
  h.mpi_allreduce_s.points = {{8192, 1e-5}, {32768, 4e-5}, {2 << 20, 3e-3}};
  EXPECT_DOUBLE_EQ(host_allreduce_s(h, HostAllreduce::kMpi, 32768, 2), 4e-5);
  // Between points log-log: halfway in log size between 32 KiB and 2 MiB.
  EXPECT_NEAR(host_allreduce_s(h, HostAllreduce::kMpi, 262144, 2), std::sqrt(4e-5 * 3e-3), 1e-12);
  EXPECT_DOUBLE_EQ(host_allreduce_s(h, HostAllreduce::kMpi, 8 << 20, 2), 4 * 3e-3);
  EXPECT_DOUBLE_EQ(host_allreduce_s(h, HostAllreduce::kMpi, 8 << 20, HostLayout{1, 2}), 4 * 3e-3);
  // Another layout than the calibrated one: the formula.
  EXPECT_DOUBLE_EQ(host_allreduce_s(h, HostAllreduce::kMpi, 1 << 20, 3), formula3);
  h.ranks_per_host = 3;
  EXPECT_DOUBLE_EQ(host_allreduce_s(h, HostAllreduce::kMpi, 1 << 20, 2), formula);
}

TEST(HostAllreduce, GlooIsItsMeasuredCurveOnItsOwnLayoutOnly) {
  auto h = known_calibration();
  h.links.push_back(h.links.front());
  h.links.back().transport = "gloo";
  const double formula = host_allreduce_s(h, HostAllreduce::kGloo, 1 << 20, 2);
  h.hosts = 1;
  h.ranks_per_host = 2;
  h.gloo_allreduce_s.points = {{8192, 4e-3}, {2 << 20, 5e-3}};
  EXPECT_DOUBLE_EQ(host_allreduce_s(h, HostAllreduce::kGloo, 8192, 2), 4e-3);
  EXPECT_DOUBLE_EQ(host_allreduce_s(h, HostAllreduce::kGloo, 8192, HostLayout{1, 2}), 4e-3);
  EXPECT_NE(host_allreduce_s(h, HostAllreduce::kGloo, 1 << 20, 2), formula);
  // MPI keeps its own (here: none measured, the formula) and another layout gloo's formula.
  h.mpi_allreduce_s.points.clear();
  EXPECT_LT(host_allreduce_s(h, HostAllreduce::kMpi, 8192, 2), 4e-3);
  h.ranks_per_host = 3;
  EXPECT_DOUBLE_EQ(host_allreduce_s(h, HostAllreduce::kGloo, 1 << 20, 2), formula);
}

MeshSpec known_host_spec() {
  HostMeasurements m;
  m.cores = 2;
  m.ram_bytes = 8e9;
  m.memory_bytes_per_s = 1e10;
  m.p2p_measured = true;
  m.p2p_how = "test";
  m.calibration = known_calibration();
  // Every optional part of the file format, so the round trip below covers them.
  m.calibration.mpi_allreduce_s.points = {{8192, 1e-5}, {32768, 4e-5}};
  m.calibration.gloo_allreduce_s.points = {{8192, 4e-3}, {32768, 4.1e-3}};
  m.calibration.threads[0].attention_bf16 = {{64, 16, 32, false, 3e9}};
  return host_spec(m);
}

TEST(HostSpec, CalibrationRoundTripsThroughTheFileFormat) {
  const auto spec = known_host_spec();
  ASSERT_TRUE(spec.host.has_value());
  EXPECT_EQ(totals(spec).nodes, 2);
  EXPECT_DOUBLE_EQ(spec.levels[0].hop_latency_s, 1e-6 + 8 / 1e9);
  const auto back = mesh_spec_from_json(to_json(spec), "<test>");
  EXPECT_EQ(to_json(back), to_json(spec));
  auto bad = to_json(spec);
  bad["host_calibration"]["threads"][0]["streams_bytes_per_s"]["fft"] = {{1, 1}};
  EXPECT_THROW(mesh_spec_from_json(bad, "<test>"), FormatError);
  bad = to_json(spec);
  bad["host_calibration"]["threads"][0]["attention_fp32"][0] = {64, 16, 32, 0};  // no rate
  EXPECT_THROW(mesh_spec_from_json(bad, "<test>"), FormatError);
  bad = to_json(spec);
  bad["host_calibration"]["links"][0]["hot_s"] = {{8, 1e-6}, {4, 1e-6}};  // sizes must increase
  EXPECT_THROW(mesh_spec_from_json(bad, "<test>"), FormatError);
  HostMeasurements empty;
  EXPECT_THROW(host_spec(empty), InvalidArgument);
}

TEST(HostSpec, CostModelChargesKernelsByClassAtTheRegionsThreadCount) {
  const auto spec = known_host_spec();
  KernelRecord s;
  s.name = "layernorm";
  s.kind = KernelKind::kReduction;
  s.bytes = 1e5;
  for (const std::int64_t cores : {1, 2}) {
    MeshCostModel mesh(spec, Rect{0, 0, cores, 1}, 1);
    mesh.begin_step();
    mesh.on_kernel(s);
    EXPECT_NEAR(mesh.end_step().step_s, spec.host->kernel_s(s, static_cast<int>(cores)), 1e-15);
  }
  // Two one-core replicas: a gradient bucket costs the host all-reduce.
  MeshCostModel two(spec, Rect{0, 0, 1, 1}, 2);
  EXPECT_DOUBLE_EQ(two.allreduce_s(1 << 20),
                   host_allreduce_s(*spec.host, HostAllreduce::kAuto, 1 << 20, 2));
}

}  // namespace
}  // namespace dojo::accel
