// HostDevice kernels against naive loops, and the Device's record contract.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "accel/host_device.hpp"
#include "core/random.hpp"

namespace dojo::accel {
namespace {

std::vector<float> random_floats(std::size_t n, std::uint64_t seed) {
  CounterRng rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = float(2.0 * rng.uniform() - 1.0);
  return v;
}

// dst[i0..i3] = src at the permuted index, written out by hand for 4 axes.
TEST(HostDeviceTest, PermuteMatchesNaiveLoopsForEveryOrderOf4Axes) {
  HostDevice dev;
  const std::array<std::int64_t, 4> dims = {2, 3, 4, 5};
  const auto src = random_floats(120, 1);
  std::array<int, 4> perm = {0, 1, 2, 3};
  do {
    std::vector<float> got(120, 7.0f);
    dev.permute<float>(dims, perm, src.data(), got.data());
    std::array<std::int64_t, 4> out_dims{}, idx{};
    for (int i = 0; i < 4; ++i) out_dims[std::size_t(i)] = dims[std::size_t(perm[std::size_t(i)])];
    std::size_t o = 0;
    for (idx[0] = 0; idx[0] < out_dims[0]; ++idx[0])
      for (idx[1] = 0; idx[1] < out_dims[1]; ++idx[1])
        for (idx[2] = 0; idx[2] < out_dims[2]; ++idx[2])
          for (idx[3] = 0; idx[3] < out_dims[3]; ++idx[3], ++o) {
            std::array<std::int64_t, 4> s{};
            for (int i = 0; i < 4; ++i) s[std::size_t(perm[std::size_t(i)])] = idx[std::size_t(i)];
            const std::int64_t at = ((s[0] * 3 + s[1]) * 4 + s[2]) * 5 + s[3];
            ASSERT_EQ(got[o], src[std::size_t(at)])
                << "perm " << perm[0] << perm[1] << perm[2] << perm[3] << " at " << o;
          }
    // Accumulating adds the same permutation onto what is there.
    std::vector<float> acc(120, 1.0f);
    dev.permute<float>(dims, perm, src.data(), acc.data(), true);
    for (std::size_t i = 0; i < 120; ++i) ASSERT_FLOAT_EQ(acc[i], 1.0f + got[i]);
  } while (std::next_permutation(perm.begin(), perm.end()));
}

void naive_gemm(const GemmShape& s, const float* a, const float* b, const float* bias,
                std::vector<double>& c) {
  const std::int64_t lda = s.trans_a ? s.m : s.k, ldb = s.trans_b ? s.k : s.n;
  for (std::int64_t bt = 0; bt < s.batch; ++bt)
    for (std::int64_t i = 0; i < s.m; ++i)
      for (std::int64_t j = 0; j < s.n; ++j) {
        double sum = 0;
        for (std::int64_t p = 0; p < s.k; ++p) {
          const float av =
              s.trans_a ? a[bt * s.stride_a + p * lda + i] : a[bt * s.stride_a + i * lda + p];
          const float bv =
              s.trans_b ? b[bt * s.stride_b + j * ldb + p] : b[bt * s.stride_b + p * ldb + j];
          sum += double(av) * double(bv);
        }
        double& out = c[std::size_t(bt * s.stride_c + i * s.n + j)];
        out = s.alpha * sum + s.beta * out + (bias ? bias[j] : 0.0);
      }
}

struct GemmCase {
  GemmBackend backend;
  Precision precision;
  double tolerance;
};

class HostGemmTest : public ::testing::TestWithParam<GemmCase> {};

TEST_P(HostGemmTest, StridedBatchedGemmMatchesNaiveForAllTransposes) {
  const GemmCase c = GetParam();
  HostDeviceOptions options;
  options.gemm = c.backend;
  options.precision = c.precision;
  HostDevice dev(options);
  for (int t = 0; t < 4; ++t) {
    for (const bool with_bias : {false, true}) {
      GemmShape s;
      s.trans_a = t & 1;
      s.trans_b = t & 2;
      s.m = 7;
      s.n = 5;
      s.k = 9;
      s.batch = 3;
      s.stride_a = s.m * s.k;
      s.stride_b = s.k * s.n;
      s.stride_c = s.m * s.n;
      s.alpha = 0.5f;
      s.beta = with_bias ? 0.0f : 1.0f;
      s.add_bias = with_bias;
      const auto a = random_floats(std::size_t(s.batch * s.m * s.k), 3);
      const auto b = random_floats(std::size_t(s.batch * s.k * s.n), 4);
      const auto bias = random_floats(std::size_t(s.n), 5);
      auto c0 = random_floats(std::size_t(s.batch * s.m * s.n), 6);
      std::vector<double> want(c0.begin(), c0.end());
      naive_gemm(s, a.data(), b.data(), with_bias ? bias.data() : nullptr, want);
      dev.gemm<float>("test", s, a.data(), b.data(), c0.data(), with_bias ? bias.data() : nullptr);
      for (std::size_t i = 0; i < want.size(); ++i) {
        ASSERT_NEAR(c0[i], want[i], c.tolerance) << "trans " << t << " bias " << with_bias;
      }
    }
  }
}

// Operands with gaps (leading dimension larger than the row) in both slots at once.
TEST_P(HostGemmTest, GemmWithPaddedOperandsMatchesNaive) {
  const GemmCase c = GetParam();
  HostDeviceOptions options;
  options.gemm = c.backend;
  options.precision = c.precision;
  HostDevice dev(options);
  GemmShape s;
  s.m = 6;
  s.n = 5;
  s.k = 7;
  s.lda = 9;
  s.ldb = 8;
  const auto a = random_floats(std::size_t(s.m * s.lda), 11);
  const auto b = random_floats(std::size_t(s.k * s.ldb), 12);
  std::vector<float> got(std::size_t(s.m * s.n));
  dev.gemm<float>("padded", s, a.data(), b.data(), got.data());
  for (std::int64_t i = 0; i < s.m; ++i) {
    for (std::int64_t j = 0; j < s.n; ++j) {
      double want = 0;
      for (std::int64_t p = 0; p < s.k; ++p) {
        want += double(a[std::size_t(i * s.lda + p)]) * double(b[std::size_t(p * s.ldb + j)]);
      }
      ASSERT_NEAR(got[std::size_t(i * s.n + j)], want, c.tolerance) << i << "," << j;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, HostGemmTest,
                         ::testing::Values(GemmCase{GemmBackend::kOneDnn, Precision::kFp32, 1e-5},
                                           GemmCase{GemmBackend::kOpenBlas, Precision::kFp32, 1e-5},
                                           // bf16 operands: ~3 significant digits per product
                                           GemmCase{GemmBackend::kOneDnn, Precision::kBf16, 3e-2}));

// In bf16 mode a GEMM reuses the bf16 copy of an operand converted by the GEMM just before;
// the copy must never outlive a change to its source.
TEST(HostDeviceTest, Bf16OperandCopiesNeverGoStale) {
  HostDeviceOptions options;
  options.precision = Precision::kBf16;
  HostDevice dev(options);
  const std::int64_t m = 6, k = 4, n = 5;
  auto x = random_floats(std::size_t(m * k), 7);  // (m, k), also read as (k, m)^T
  const auto w = random_floats(std::size_t(k * n), 8);
  const auto y0 = random_floats(std::size_t(k * k), 9);
  GemmShape xw;  // (m, n) = x w
  xw.m = m;
  xw.n = n;
  xw.k = k;
  GemmShape xtx;  // (k, k) = x^T x
  xtx.trans_a = true;
  xtx.m = k;
  xtx.n = k;
  xtx.k = m;
  auto fresh = [&](const GemmShape& s, const float* a, const float* b, std::size_t out) {
    HostDevice once(options);
    std::vector<float> c(out);
    once.gemm<float>("fresh", s, a, b, c.data());
    return c;
  };
  std::vector<float> c1(std::size_t(k * k)), c2(std::size_t(m * n));
  dev.gemm<float>("xtx", xtx, x.data(), x.data(), c1.data());
  dev.gemm<float>("xw", xw, x.data(), w.data(), c2.data());  // reuses x's copy
  EXPECT_EQ(c2, fresh(xw, x.data(), w.data(), c2.size()));
  EXPECT_EQ(c1, fresh(xtx, x.data(), x.data(), c1.size()));
  // A non-GEMM kernel changes x: the next GEMM must see the new values.
  dev.axpy<float>(m * k, 1.0f, x.data(), x.data());
  dev.gemm<float>("xw", xw, x.data(), w.data(), c2.data());
  EXPECT_EQ(c2, fresh(xw, x.data(), w.data(), c2.size()));
  // A GEMM writes into x (its first k*k elements): the next GEMM must see that too.
  GemmShape into;  // (k, k) = y0 I-ish: any product that overwrites x[0 .. k*k)
  into.m = k;
  into.n = k;
  into.k = k;
  dev.gemm<float>("into", into, y0.data(), y0.data(), x.data());
  dev.gemm<float>("xw", xw, x.data(), w.data(), c2.data());
  EXPECT_EQ(c2, fresh(xw, x.data(), w.data(), c2.size()));
}

// The float attention (oneDNN products on staged chunks, vectorised softmax) against the
// double loops, forward and backward. Decoder-like sizes: 160 tokens make several chunks
// of sequences and a softmax big enough to run on threads; 9 tokens one chunk for all.
struct AttentionCase {
  std::int64_t batch, tokens, heads, head_dim;
  Precision precision;
  double tolerance;  // max abs error over max abs value
};

class HostAttentionTest : public ::testing::TestWithParam<AttentionCase> {};

double relative_error(const std::vector<float>& got, const std::vector<double>& want) {
  double err = 0, ref = 1e-30;
  for (std::size_t i = 0; i < want.size(); ++i) {
    err = std::max(err, std::abs(double(got[i]) - want[i]));
    ref = std::max(ref, std::abs(want[i]));
  }
  return err / ref;
}

TEST_P(HostAttentionTest, FusedFloatAttentionMatchesDoubleLoops) {
  const AttentionCase c = GetParam();
  const AttentionDims d{c.batch, c.tokens, c.heads, c.head_dim};
  const std::size_t rows_dim = std::size_t(d.rows() * d.dim());
  const std::size_t lse_n = std::size_t(d.batch * d.heads * d.tokens);
  // Scaled up so the softmax is far from uniform.
  auto qkv = random_floats(3 * rows_dim, 31);
  for (auto& x : qkv) x *= 3.0f;
  const auto dctx = random_floats(rows_dim, 32);
  HostDeviceOptions options;
  options.threads = 2;
  options.precision = c.precision;
  HostDevice dev(options);
  std::vector<float> ctx(rows_dim, 9.0f), lse(lse_n, 9.0f), dqkv(3 * rows_dim, 9.0f);
  dev.attention_forward<float>(d, qkv.data(), ctx.data(), lse.data());
  dev.attention_backward<float>(d, qkv.data(), ctx.data(), lse.data(), dctx.data(), dqkv.data());

  HostDevice ref_dev;
  const std::vector<double> qkv64(qkv.begin(), qkv.end()), dctx64(dctx.begin(), dctx.end());
  std::vector<double> ctx64(rows_dim), lse64(lse_n), dqkv64(3 * rows_dim);
  ref_dev.attention_forward<double>(d, qkv64.data(), ctx64.data(), lse64.data());
  ref_dev.attention_backward<double>(d, qkv64.data(), ctx64.data(), lse64.data(), dctx64.data(),
                                     dqkv64.data());
  EXPECT_LT(relative_error(ctx, ctx64), c.tolerance);
  EXPECT_LT(relative_error(lse, lse64), c.tolerance);
  EXPECT_LT(relative_error(dqkv, dqkv64), c.tolerance);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, HostAttentionTest,
    ::testing::Values(AttentionCase{5, 160, 3, 16, Precision::kFp32, 1e-5},
                      AttentionCase{3, 9, 2, 8, Precision::kFp32, 1e-5},
                      AttentionCase{5, 160, 3, 16, Precision::kBf16, 3e-2},
                      AttentionCase{3, 9, 2, 8, Precision::kBf16, 3e-2}));

// The float fused GELU backward (vectorised erf and exp) against the double one, with
// columns split over two threads (the bias sums must not depend on that).
TEST(HostDeviceTest, FusedGeluBackwardFloatMatchesDouble) {
  const std::int64_t rows = 300, dim = 500;  // big enough to run on threads
  auto x = random_floats(std::size_t(rows * dim), 51);
  for (auto& v : x) v *= 6.0f;
  const auto dy = random_floats(x.size(), 52);
  HostDevice dev(HostDeviceOptions{.threads = 2});
  std::vector<float> dx(x.size()), dbias(std::size_t(dim), 0.0f);
  dev.gelu_backward_bias<float>(rows, dim, x.data(), dy.data(), dx.data(), dbias.data());
  HostDevice one(HostDeviceOptions{.threads = 1});
  std::vector<float> dx1(x.size()), dbias1(std::size_t(dim), 0.0f);
  one.gelu_backward_bias<float>(rows, dim, x.data(), dy.data(), dx1.data(), dbias1.data());
  EXPECT_EQ(dbias, dbias1);
  const std::vector<double> x64(x.begin(), x.end()), dy64(dy.begin(), dy.end());
  std::vector<double> dx64(x.size()), dbias64(std::size_t(dim), 0.0);
  HostDevice ref;
  ref.gelu_backward_bias<double>(rows, dim, x64.data(), dy64.data(), dx64.data(), dbias64.data());
  EXPECT_LT(relative_error(dx, dx64), 1e-6);
  EXPECT_LT(relative_error(dbias, dbias64), 1e-5);
}

class RecordingSink : public CostSink {
 public:
  void on_kernel(const KernelRecord& r) override {
    names.emplace_back(r.name);
    layers.emplace_back(r.layer);
    records.push_back(r);
  }
  void on_collective(const CollectiveRecord&) override {}
  std::vector<std::string> names, layers;
  std::vector<KernelRecord> records;
};

TEST(HostDeviceTest, DryRunReportsHonestGemmRecordsWithoutTouchingOutputs) {
  HostDevice dev(HostDeviceOptions{.threads = 1, .dry_run = true});
  RecordingSink sink;
  dev.set_sink(&sink);
  GemmShape s;
  s.m = 4;
  s.n = 3;
  s.k = 2;
  s.batch = 5;
  std::vector<float> c(60, 9.0f);
  {
    LayerScope outer(dev, "encoder.3");
    LayerScope inner(dev, "encoder.3.attn");
    BackwardScope backward(dev);
    dev.gemm<float>("attn.scores", s, nullptr, nullptr, c.data());
  }
  dev.fill<float>(60, 0.0f, c.data());
  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(sink.names[0], "attn.scores");
  EXPECT_EQ(sink.layers[0], "encoder.3.attn");
  EXPECT_TRUE(sink.records[0].backward);
  EXPECT_EQ(sink.records[0].kind, KernelKind::kGemm);
  EXPECT_DOUBLE_EQ(sink.records[0].flops, 2.0 * 4 * 3 * 2 * 5);
  EXPECT_DOUBLE_EQ(sink.records[0].bytes, 4.0 * (4 * 2 + 2 * 3 + 4 * 3) * 5);
  EXPECT_EQ(sink.records[0].batch, 5);
  EXPECT_EQ(sink.layers[1], "");
  EXPECT_FALSE(sink.records[1].backward);
  for (const float x : c) ASSERT_EQ(x, 9.0f);
}

TEST(HostDeviceTest, RejectsZeroThreads) {
  EXPECT_THROW(HostDevice(HostDeviceOptions{.threads = 0}), InvalidArgument);
}

}  // namespace
}  // namespace dojo::accel
