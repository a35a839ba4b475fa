// Every layer's backward against central finite differences of its forward, in double.
#include <gtest/gtest.h>

#include <array>

#include "accel/host_device.hpp"
#include "model/arena.hpp"
#include "model/gradcheck.hpp"
#include "model/layers.hpp"
#include "model/tubelet.hpp"

namespace dojo::model {
namespace {

using testing::dot;
using testing::expect_gradient;
using testing::random_vector;

struct LinearFixture {
  std::int64_t rows = 5, in = 7, out = 4;
  std::vector<double> w = random_vector(std::size_t(out * in), 1, 0.5);
  std::vector<double> b = random_vector(std::size_t(out), 2, 0.5);
  std::vector<double> dw = std::vector<double>(w.size()), db = std::vector<double>(b.size());
  LinearParams<double> params() { return {w.data(), b.data(), dw.data(), db.data(), in, out}; }
};

TEST(LayerGradientTest, LinearMatchesFiniteDifferences) {
  accel::HostDevice dev;
  LinearFixture f;
  auto x = random_vector(std::size_t(f.rows * f.in), 3);
  const auto probe = random_vector(std::size_t(f.rows * f.out), 4);
  std::vector<double> y(probe.size());
  auto objective = [&] {
    linear_forward(dev, f.params(), f.rows, x.data(), y.data());
    return dot(y.data(), probe);
  };
  // dx accumulates onto what is there: start from ones and subtract them after.
  std::vector<double> dx(x.size(), 1.0);
  linear_backward(dev, f.params(), f.rows, x.data(), probe.data(), dx.data(), true);
  for (auto& v : dx) v -= 1.0;
  expect_gradient("dx", x.data(), x.size(), dx.data(), objective);
  expect_gradient("dweight", f.w.data(), f.w.size(), f.dw.data(), objective);
  expect_gradient("dbias", f.b.data(), f.b.size(), f.db.data(), objective);
}

TEST(LayerGradientTest, LayerNormMatchesFiniteDifferences) {
  accel::HostDevice dev;
  const std::int64_t rows = 4, dim = 9;
  auto x = random_vector(std::size_t(rows * dim), 5, 2.0);
  auto gamma = random_vector(std::size_t(dim), 6);
  auto beta = random_vector(std::size_t(dim), 7);
  std::vector<double> dgamma(static_cast<std::size_t>(dim)), dbeta(static_cast<std::size_t>(dim));
  const NormParams<double> p{gamma.data(), beta.data(), dgamma.data(), dbeta.data(), dim, 1e-6f};
  std::vector<double> y(x.size()), mean(static_cast<std::size_t>(rows)),
      rstd(static_cast<std::size_t>(rows));
  const NormActs<double> a{y.data(), mean.data(), rstd.data()};
  const auto probe = random_vector(y.size(), 8);
  auto objective = [&] {
    layernorm_forward(dev, p, rows, x.data(), a);
    return dot(y.data(), probe);
  };
  objective();
  std::vector<double> dx(x.size());
  layernorm_backward(dev, p, rows, x.data(), a, probe.data(), dx.data());
  expect_gradient("dx", x.data(), x.size(), dx.data(), objective);
  expect_gradient("dgamma", gamma.data(), gamma.size(), dgamma.data(), objective);
  expect_gradient("dbeta", beta.data(), beta.size(), dbeta.data(), objective);
}

TEST(LayerGradientTest, GeluMatchesFiniteDifferences) {
  accel::HostDevice dev;
  auto x = random_vector(40, 9, 3.0);
  const auto probe = random_vector(x.size(), 10);
  std::vector<double> y(x.size()), dx(x.size());
  auto objective = [&] {
    dev.gelu_forward<double>(std::int64_t(x.size()), x.data(), y.data());
    return dot(y.data(), probe);
  };
  dev.gelu_backward<double>(std::int64_t(x.size()), x.data(), probe.data(), dx.data());
  expect_gradient("dx", x.data(), x.size(), dx.data(), objective);
}

TEST(LayerGradientTest, SoftmaxMatchesFiniteDifferences) {
  accel::HostDevice dev;
  const std::int64_t rows = 3, cols = 6;
  auto x = random_vector(std::size_t(rows * cols), 11, 2.0);
  const auto probe = random_vector(x.size(), 12);
  std::vector<double> y(x.size()), dx(x.size());
  auto objective = [&] {
    y = x;
    dev.softmax_forward<double>(rows, cols, y.data());
    return dot(y.data(), probe);
  };
  objective();
  dev.softmax_backward<double>(rows, cols, y.data(), probe.data(), dx.data());
  expect_gradient("dx", x.data(), x.size(), dx.data(), objective);
}

TEST(LayerGradientTest, RowNormalizedMseMatchesFiniteDifferences) {
  accel::HostDevice dev;
  const std::int64_t n = 30;
  auto pred = random_vector(std::size_t(n), 13);
  const auto target = random_vector(std::size_t(n), 14);
  std::vector<double> dpred(static_cast<std::size_t>(n));
  auto objective = [&] { return dev.mse_loss<double>(n, pred.data(), target.data()); };
  dev.mse_loss_and_grad<double>(n, pred.data(), target.data(), dpred.data());
  expect_gradient("dpred", pred.data(), pred.size(), dpred.data(), objective);
}

// The fused GELU backward: dx = dy gelu'(x) and the bias gradient of the layer that made x
// (x = z + bias per row), against differences of sum(gelu(z + bias) * probe).
TEST(LayerGradientTest, FusedGeluBackwardAndBiasMatchFiniteDifferences) {
  accel::HostDevice dev;
  const std::int64_t rows = 4, dim = 19;  // 19: not a multiple of any vector width
  auto z = random_vector(std::size_t(rows * dim), 41, 3.0);
  auto bias = random_vector(std::size_t(dim), 42);
  const auto probe = random_vector(z.size(), 43);
  std::vector<double> x(z.size()), y(z.size());
  auto objective = [&] {
    x = z;
    dev.add_rows<double>(rows, 1, dim, bias.data(), x.data());
    dev.gelu_forward<double>(rows * dim, x.data(), y.data());
    return dot(y.data(), probe);
  };
  objective();
  std::vector<double> dx(z.size()), dbias(bias.size(), 0.5);
  dev.gelu_backward_bias<double>(rows, dim, x.data(), probe.data(), dx.data(), dbias.data());
  for (auto& v : dbias) v -= 0.5;  // accumulated onto 0.5
  expect_gradient("dx", z.data(), z.size(), dx.data(), objective);
  expect_gradient("dbias", bias.data(), bias.size(), dbias.data(), objective);
}

// LayerNorm's backward that joins a residual branch: dx = dresidual + the input gradient.
TEST(LayerGradientTest, LayerNormBackwardWithResidualMatchesFiniteDifferences) {
  accel::HostDevice dev;
  const std::int64_t rows = 3, dim = 11;
  auto x = random_vector(std::size_t(rows * dim), 44, 2.0);
  auto gamma = random_vector(std::size_t(dim), 45);
  auto beta = random_vector(std::size_t(dim), 46);
  const auto dres = random_vector(x.size(), 47);
  std::vector<double> dgamma(static_cast<std::size_t>(dim)), dbeta(static_cast<std::size_t>(dim));
  std::vector<double> y(x.size()), mean(static_cast<std::size_t>(rows)),
      rstd(static_cast<std::size_t>(rows));
  const auto probe = random_vector(y.size(), 48);
  auto objective = [&] {
    dev.layernorm_forward<double>(rows, dim, 1e-6f, x.data(), gamma.data(), beta.data(), y.data(),
                                  mean.data(), rstd.data());
    return dot(y.data(), probe);
  };
  objective();
  std::vector<double> dx(x.size(), 123.0);  // written, not accumulated
  dev.layernorm_backward_residual<double>(rows, dim, probe.data(), x.data(), mean.data(),
                                          rstd.data(), gamma.data(), dres.data(), dx.data(),
                                          dgamma.data(), dbeta.data());
  for (std::size_t i = 0; i < dx.size(); ++i) dx[i] -= dres[i];
  expect_gradient("dx", x.data(), x.size(), dx.data(), objective);
  expect_gradient("dgamma", gamma.data(), gamma.size(), dgamma.data(), objective);
  expect_gradient("dbeta", beta.data(), beta.size(), dbeta.data(), objective);
}

// Two clips of 4 frames, 8x12 pixels, 2 channels; tubelets 2x4x4 -> 2x2x3 = 12 tokens.
accel::TubeletDims small_tubelets() {
  return {2, 4, 8, 12, 2, 2, 4};
}

// The fused target normalisation + MSE: its gradient, and its value against the unfused
// kernels (patchify permute, row_normalize, mse_loss) it replaces.
TEST(LayerGradientTest, TubeletMseMatchesFiniteDifferencesAndTheUnfusedKernels) {
  accel::HostDevice dev;
  const accel::TubeletDims g = small_tubelets();
  const auto clips = random_vector(std::size_t(g.batch * g.frames * g.height * g.width * g.channels), 49);
  const std::vector<std::int64_t> rows = {3, 0, 17, 22, 11};  // masked rows over (batch, tokens)
  const std::int64_t p = g.row_elems();
  auto pred = random_vector(rows.size() * std::size_t(p), 50);
  auto objective = [&] {
    return dev.tubelet_mse_loss<double>(g, 1e-6f, pred.data(), clips.data(), rows);
  };
  std::vector<double> dpred(pred.size());
  const double loss = dev.tubelet_mse_loss_and_grad<double>(g, 1e-6f, pred.data(), clips.data(),
                                                            rows, dpred.data(), 1.0f);
  EXPECT_DOUBLE_EQ(loss, objective());
  expect_gradient("dpred", pred.data(), pred.size(), dpred.data(), objective);

  std::vector<double> tubelets(std::size_t(g.batch * g.tokens() * p)), target(pred.size());
  dev.permute<double>(g.clip_dims(), accel::kClipToTubelets, clips.data(), tubelets.data());
  dev.row_normalize<double>(std::int64_t(rows.size()), p, 1e-6f, tubelets.data(), rows,
                            target.data());
  EXPECT_NEAR(loss, dev.mse_loss<double>(std::int64_t(pred.size()), pred.data(), target.data()),
              1e-12 * loss);

  // gather_tubelets is the permute followed by a row gather, exactly.
  std::vector<double> gathered(pred.size()), want(pred.size());
  dev.gather_tubelets<double>(g, clips.data(), rows, gathered.data());
  dev.copy_rows<double>(std::int64_t(rows.size()), p, tubelets.data(), rows, want.data(), {},
                        false);
  EXPECT_EQ(gathered, want);
}

// A block's parameters laid out in one vector, views into it (as the model does).
struct BlockFixture {
  AttentionShape shape{2, 5, 8, 2};
  std::int64_t hidden = 12;
  std::vector<double> p, g;
  BlockParams<double> params;

  BlockFixture() {
    const std::int64_t d = shape.dim;
    const std::vector<std::int64_t> sizes = {d, d, 3 * d * d,  3 * d,  d * d,      d,
                                             d, d, hidden * d, hidden, d * hidden, d};
    std::size_t total = 0;
    for (auto s : sizes) total += std::size_t(s);
    p = random_vector(total, 15, 0.4);
    g.assign(total, 0.0);
    // Views at consecutive offsets, the same for values and gradients.
    std::vector<double*> pv, gv;
    std::size_t off = 0;
    for (auto s : sizes) {
      pv.push_back(p.data() + off);
      gv.push_back(g.data() + off);
      off += std::size_t(s);
    }
    params.norm1 = {pv[0], pv[1], gv[0], gv[1], d, 1e-6f};
    params.attn.qkv = {pv[2], pv[3], gv[2], gv[3], d, 3 * d};
    params.attn.proj = {pv[4], pv[5], gv[4], gv[5], d, d};
    params.norm2 = {pv[6], pv[7], gv[6], gv[7], d, 1e-6f};
    params.fc1 = {pv[8], pv[9], gv[8], gv[9], d, hidden};
    params.fc2 = {pv[10], pv[11], gv[10], gv[11], hidden, d};
  }
};

TEST(LayerGradientTest, AttentionMatchesFiniteDifferences) {
  accel::HostDevice dev;
  BlockFixture f;
  const auto& s = f.shape;
  Carver<double> count;
  carve_block_acts<double>(s, f.hidden, count);
  carve_block_scratch<double>(s, f.hidden, count);
  Arena<double> arena(count.used());
  Carver<double> take(arena.data());
  const BlockActs<double> acts = carve_block_acts<double>(s, f.hidden, take);
  const BlockScratch<double> scratch = carve_block_scratch<double>(s, f.hidden, take);
  auto x = random_vector(std::size_t(s.rows() * s.dim), 16);
  const auto probe = random_vector(x.size(), 17);
  std::vector<double> y(x.size()), dx(x.size());
  auto objective = [&] {
    attention_forward(dev, f.params.attn, s, x.data(), acts.attn, y.data());
    return dot(y.data(), probe);
  };
  objective();
  attention_backward(dev, f.params.attn, s, x.data(), acts.attn, probe.data(), scratch.attn,
                     dx.data());
  expect_gradient("dx", x.data(), x.size(), dx.data(), objective);
  expect_gradient("attention parameters", f.p.data() + 2 * s.dim,
                  std::size_t(3 * s.dim * s.dim + 4 * s.dim + s.dim * s.dim),
                  f.g.data() + 2 * s.dim, objective);
}

TEST(LayerGradientTest, TransformerBlockMatchesFiniteDifferences) {
  accel::HostDevice dev;
  BlockFixture f;
  const auto& s = f.shape;
  Carver<double> count;
  carve_block_acts<double>(s, f.hidden, count);
  carve_block_scratch<double>(s, f.hidden, count);
  Arena<double> arena(count.used());
  Carver<double> take(arena.data());
  const BlockActs<double> acts = carve_block_acts<double>(s, f.hidden, take);
  const BlockScratch<double> scratch = carve_block_scratch<double>(s, f.hidden, take);
  auto x = random_vector(std::size_t(s.rows() * s.dim), 18);
  const auto probe = random_vector(x.size(), 19);
  auto objective = [&] {
    block_forward(dev, f.params, s, x.data(), acts);
    return dot(acts.out, probe);
  };
  objective();
  std::vector<double> dx(x.size());
  block_backward(dev, f.params, s, x.data(), acts, probe.data(), scratch, dx.data());
  expect_gradient("dx", x.data(), x.size(), dx.data(), objective);
  expect_gradient("block parameters", f.p.data(), f.p.size(), f.g.data(), objective);
}

}  // namespace
}  // namespace dojo::model
