// VideoMAE's contracts beyond the maths: configs, masks, the arena tables, the backward
// callbacks, dry-run profiling, predictions and embeddings, the tubelet layout, the optimizer helpers and bf16 mode.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>

#include "accel/host_device.hpp"
#include "model/optim.hpp"
#include "model/profile.hpp"
#include "core/random.hpp"
#include "model/tubelet.hpp"
#include "model/videomae.hpp"

namespace dojo::model {
namespace {

std::string config_path(const std::string& name) {
  return std::string(DOJO_SOURCE_DIR) + "/configs/model-" + name + ".yaml";
}

std::vector<float> random_clips(const ModelConfig& c, std::int64_t batch, std::uint64_t seed) {
  CounterRng rng(seed);
  std::vector<float> clips(std::size_t(batch * c.clip_elems()));
  for (auto& x : clips) x = float(rng.uniform());
  return clips;
}

TEST(ModelConfigTest, YamlFilesEqualTheBuiltins) {
  for (const std::string name : {"tiny", "bench", "small"}) {
    const ModelConfig a = load_model_config(name);
    const ModelConfig b = load_model_config(config_path(name));
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.tokens(), b.tokens()) << name;
    EXPECT_EQ(a.visible_tokens(), b.visible_tokens()) << name;
    EXPECT_EQ(build_param_table(a).total, build_param_table(b).total) << name;
    EXPECT_EQ(a.mask_ratio, b.mask_ratio) << name;
    EXPECT_EQ(a.ln_eps, b.ln_eps) << name;
  }
}

TEST(ModelConfigTest, BenchHas288TokensAnd32Visible) {
  const ModelConfig c = load_model_config("bench");
  EXPECT_EQ(c.tokens(), 288);
  EXPECT_EQ(c.visible_tokens(), 32);
  EXPECT_EQ(c.patch_dim(), 2 * 16 * 16 * 3);
}

TEST(ModelConfigTest, UnknownKeyIsRejectedByName) {
  const std::string path = ::testing::TempDir() + "/model-bad.yaml";
  std::ofstream(path) << "frames: 8\nencoder_widht: 64\n";
  try {
    load_model_config(path);
    FAIL() << "no exception";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("encoder_widht"), std::string::npos) << e.what();
  }
}

TEST(ModelConfigTest, BadValuesAndNamesAreRejected) {
  const std::string path = ::testing::TempDir() + "/model-bad2.yaml";
  std::ofstream(path) << "patch: 7\n";
  EXPECT_THROW(load_model_config(path), InvalidArgument);  // 96 % 7 != 0
  std::ofstream(path) << "frames: many\n";
  EXPECT_THROW(load_model_config(path), InvalidArgument);
  EXPECT_THROW(load_model_config("huge"), InvalidArgument);
  EXPECT_THROW(load_model_config("/nonexistent/model.yaml"), IoError);
}

TEST(TubeMaskTest, SameVisibleCountEveryTimeSlotAndDeterministic) {
  const ModelConfig c = load_model_config("bench");
  const TubeMask a = make_tube_mask(c, 4, 99);
  const TubeMask b = make_tube_mask(c, 4, 99);
  const TubeMask other = make_tube_mask(c, 4, 100);
  EXPECT_EQ(a.visible_index, b.visible_index);
  EXPECT_NE(a.visible_index, other.visible_index);
  ASSERT_EQ(a.visible_index.size(), std::size_t(4 * 32));
  ASSERT_EQ(a.masked_index.size(), std::size_t(4 * 256));
  const std::int64_t s = c.spatial_tokens();
  for (std::int64_t bi = 0; bi < 4; ++bi) {
    // A tube: the same spatial positions are visible in all 8 time slots.
    std::set<std::int64_t> first_slot;
    for (std::int64_t i = 0; i < 32; ++i) {
      const std::int64_t t = a.visible_index[std::size_t(bi * 32 + i)];
      EXPECT_EQ(a.is_masked[std::size_t(bi * c.tokens() + t)], 0);
      if (t < s) first_slot.insert(t);
      EXPECT_TRUE(first_slot.count(t % s) == 1 || t < s);
    }
    EXPECT_EQ(first_slot.size(), 4u);
  }
}

TEST(VideoMAETest, LayerGradRangesTileTheArenaInForwardOrder) {
  const ModelConfig c = load_model_config("tiny");
  accel::HostDevice device;
  VideoMAE model(c, device, 2);
  const auto ranges = model.layer_grad_ranges();
  ASSERT_EQ(ranges.size(), model.layer_names().size());
  EXPECT_EQ(model.layer_names().front(), "embed");
  EXPECT_EQ(model.layer_names().back(), "head");
  EXPECT_EQ(ranges.front().first, 0u);
  EXPECT_EQ(ranges.back().second, model.grads().size());
  for (std::size_t i = 1; i < ranges.size(); ++i) {
    EXPECT_EQ(ranges[i].first, ranges[i - 1].second);
    EXPECT_LT(ranges[i].first, ranges[i].second);
  }
  for (const TensorInfo& t : model.tensors()) {
    EXPECT_EQ(t.offset % 16, 0u) << t.name;  // 64-byte aligned
    EXPECT_GE(t.offset, ranges[t.layer].first);
    EXPECT_LE(t.offset + t.size, ranges[t.layer].second);
    EXPECT_EQ(t.decay, t.shape.size() == 2) << t.name;
  }
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(model.grads().data()) % 64, 0u);
}

TEST(VideoMAETest, LayerCallbacksComeInReverseOrderWithFinalGradients) {
  const ModelConfig c = load_model_config("tiny");
  accel::HostDevice device;
  VideoMAE model(c, device, 2);
  model.init(1);
  const auto clips = random_clips(c, 2, 2);
  const TubeMask mask = make_tube_mask(c, 2, 3);
  // Reference gradients from a plain call.
  model.zero_grads();
  model.forward_backward(clips, mask);
  const std::vector<float> full(model.grads().begin(), model.grads().end());
  // Snapshot each layer's range when its callback fires: it must already be final.
  model.zero_grads();
  const auto ranges = model.layer_grad_ranges();
  std::vector<std::size_t> order;
  model.forward_backward(clips, mask, [&](std::size_t layer) {
    order.push_back(layer);
    const auto [begin, end] = ranges[layer];
    for (std::size_t i = begin; i < end; ++i) ASSERT_EQ(model.grads()[i], full[i]) << layer;
  });
  ASSERT_EQ(order.size(), ranges.size());
  for (std::size_t i = 0; i < order.size(); ++i) EXPECT_EQ(order[i], ranges.size() - 1 - i);
}

TEST(VideoMAETest, RejectsAMaskForAnotherShapeOrWithBadIndices) {
  const ModelConfig c = load_model_config("tiny");
  accel::HostDevice device;
  VideoMAE model(c, device, 2);
  model.init(1);
  const auto clips = random_clips(c, 2, 2);
  EXPECT_THROW(model.forward_loss(clips, make_tube_mask(c, 3, 1)), InvalidArgument);
  TubeMask bad = make_tube_mask(c, 2, 1);
  bad.masked_index[5] = c.tokens();
  EXPECT_THROW(model.forward_loss(clips, bad), InvalidArgument);
  EXPECT_THROW(model.forward_loss(std::span<const float>(clips).first(10), make_tube_mask(c, 2, 1)),
               InvalidArgument);
}

TEST(VideoMAETest, GradientsAccumulateAcrossCalls) {
  const ModelConfig c = load_model_config("tiny");
  accel::HostDevice device;
  VideoMAE model(c, device, 2);
  model.init(4);
  const auto clips = random_clips(c, 2, 5);
  const TubeMask mask = make_tube_mask(c, 2, 6);
  model.zero_grads();
  model.forward_backward(clips, mask);
  const std::vector<float> once(model.grads().begin(), model.grads().end());
  model.forward_backward(clips, mask);
  for (std::size_t i = 0; i < once.size(); ++i) {
    ASSERT_NEAR(model.grads()[i], 2 * once[i], 1e-6f + 1e-5f * std::abs(once[i]));
  }
}

TEST(VideoMAETest, LossIsTheMeanSquaredErrorOfPredictionsAgainstTubeletTargets) {
  const ModelConfig c = load_model_config("tiny");
  accel::HostDevice device;
  VideoMAE model(c, device, 2);
  model.init(7);
  AdamW optimizer(model);
  const auto clips = random_clips(c, 2, 8);
  const TubeMask mask = make_tube_mask(c, 2, 9);
  const float first = model.forward_loss(clips, mask);
  for (int step = 0; step < 80; ++step) {
    model.zero_grads();
    model.forward_backward(clips, mask);
    optimizer.step(1e-2f);
  }
  // Noise clips: the model can only memorise this batch, which it does.
  const float loss = model.forward_loss(clips, mask);
  EXPECT_LT(loss, 0.5f * first);
  // The loss, recomputed from predictions() against targets made with tubelet.hpp's
  // layout and statistics: both describe the same tubelets.
  const std::span<const float> all(clips);
  std::vector<float> tubelets = clip_to_tubelets(c, all.first(std::size_t(c.clip_elems())));
  const auto second = clip_to_tubelets(c, all.subspan(std::size_t(c.clip_elems())));
  tubelets.insert(tubelets.end(), second.begin(), second.end());
  const auto pred = model.predictions();
  ASSERT_EQ(pred.size(), std::size_t(2 * c.masked_tokens() * c.patch_dim()));
  const std::int64_t p = c.patch_dim();
  double sq = 0;
  for (std::size_t r = 0; r < mask.masked_index.size(); ++r) {
    const std::int64_t sample = std::int64_t(r) / mask.masked;
    const float* x = tubelets.data() + (sample * c.tokens() + mask.masked_index[r]) * p;
    const TubeletStats st = tubelet_stats({x, std::size_t(p)}, c.target_eps);
    for (std::int64_t e = 0; e < p; ++e) {
      const double d = pred[r * std::size_t(p) + std::size_t(e)] - (x[e] - st.mean) / st.scale;
      sq += d * d;
    }
  }
  EXPECT_NEAR(sq / double(pred.size()), loss, 1e-4 * loss);
}

TEST(TubeletLayoutTest, EachPixelLandsInItsTokenAndTheInverseRestoresTheClip) {
  const ModelConfig c = load_model_config("tiny");
  std::vector<float> clip(std::size_t(c.clip_elems()));
  for (std::size_t i = 0; i < clip.size(); ++i) clip[i] = float(i);
  const auto tubelets = clip_to_tubelets(c, clip);
  for (std::int64_t t = 0; t < c.frames; ++t) {
    for (std::int64_t y = 0; y < c.height; ++y) {
      for (std::int64_t x = 0; x < c.width; ++x) {
        for (std::int64_t ch = 0; ch < c.channels; ++ch) {
          const std::int64_t token =
              c.layout().token_of_pixel(t, y, x);
          const std::int64_t e =
              (((t % c.tubelet_frames) * c.patch + y % c.patch) * c.patch + x % c.patch) *
                  c.channels + ch;
          const std::int64_t pixel = ((t * c.height + y) * c.width + x) * c.channels + ch;
          ASSERT_EQ(tubelets[std::size_t(token * c.patch_dim() + e)], float(pixel));
          ASSERT_EQ(c.layout().token_slot(token), t / c.tubelet_frames);
          ASSERT_EQ(c.layout().token_row(token), y / c.patch);
          ASSERT_EQ(c.layout().token_col(token), x / c.patch);
        }
      }
    }
  }
  EXPECT_EQ(tubelets_to_clip(c, tubelets), clip);
}

TEST(VideoMAETest, EmbedIsOneRowPerClipIndependentOfTheOtherClips) {
  const ModelConfig c = load_model_config("tiny");
  accel::HostDevice device;
  VideoMAE pair(c, device, 2), single(c, device, 1);
  pair.init(3);
  single.init(3);
  const auto clips = random_clips(c, 2, 5);
  const auto both = pair.embed(clips);
  ASSERT_EQ(both.size(), std::size_t(2 * c.encoder_dim));
  const auto second =
      single.embed(std::span<const float>(clips).subspan(std::size_t(c.clip_elems())));
  for (std::int64_t d = 0; d < c.encoder_dim; ++d) {
    EXPECT_NEAR(both[std::size_t(c.encoder_dim + d)], second[std::size_t(d)], 1e-5);
  }
  double diff = 0;  // two different clips give two different embeddings
  for (std::int64_t d = 0; d < c.encoder_dim; ++d) {
    diff += std::abs(both[std::size_t(d)] - both[std::size_t(c.encoder_dim + d)]);
  }
  EXPECT_GT(diff, 1e-3);
}

TEST(VideoMAETest, EmbedReadsTheTokensAtTheLayerAsked) {
  const ModelConfig c = load_model_config("tiny");
  accel::HostDevice device;
  VideoMAE model(c, device, 1);
  model.init(4);
  const auto clip = random_clips(c, 1, 6);
  const std::int64_t n = c.tokens(), de = c.encoder_dim, pd = c.patch_dim();
  // Layer 0 is the patch embedding plus position, averaged over tokens; the mean of an
  // affine map is the map of the mean, so it is W (mean tubelet) + b + mean position.
  const auto tubelets = clip_to_tubelets(c, clip);
  const auto pos = sincos_table(n, de);
  const auto w = model.param("patch_embed.weight");  // (de, pd)
  const auto b = model.param("patch_embed.bias");
  std::vector<double> mean_tubelet(std::size_t(pd), 0.0);
  for (std::int64_t t = 0; t < n; ++t) {
    for (std::int64_t e = 0; e < pd; ++e) {
      mean_tubelet[std::size_t(e)] += tubelets[std::size_t(t * pd + e)] / double(n);
    }
  }
  const auto layer0 = model.embed(clip, 0);
  ASSERT_EQ(layer0.size(), std::size_t(de));
  for (std::int64_t d = 0; d < de; ++d) {
    double want = b[std::size_t(d)];
    for (std::int64_t e = 0; e < pd; ++e) {
      want += w[std::size_t(d * pd + e)] * mean_tubelet[std::size_t(e)];
    }
    for (std::int64_t t = 0; t < n; ++t) want += pos[std::size_t(t * de + d)] / double(n);
    EXPECT_NEAR(layer0[std::size_t(d)], want, 1e-4) << "dimension " << d;
  }
  // After the last block the tokens are not yet normalised: a different vector from the
  // default, which is after the final LayerNorm (gain 1, bias 0 at init, so each token of
  // the default has mean 0 over its dimensions, and so does their average).
  const auto last = model.embed(clip, c.encoder_depth), final_norm = model.embed(clip);
  double diff = 0, final_mean = 0;
  for (std::int64_t d = 0; d < de; ++d) {
    diff += std::abs(last[std::size_t(d)] - final_norm[std::size_t(d)]);
    final_mean += final_norm[std::size_t(d)] / double(de);
  }
  EXPECT_GT(diff, 1e-3);
  EXPECT_NEAR(final_mean, 0.0, 1e-5);
  EXPECT_EQ(model.embed(clip, VideoMAE::kFinalLayer), final_norm);
  EXPECT_THROW(model.embed(clip, c.encoder_depth + 1), InvalidArgument);
  EXPECT_THROW(model.embed(clip, -2), InvalidArgument);
}

// --pool-grid: each cell of a G x G partition of the token positions holds the mean of its
// own tokens; the cells are equal in size, so their mean is the mean over all tokens.
TEST(VideoMAETest, EmbedPooledPerCellAveragesToTheMeanOverTokens) {
  const ModelConfig c = load_model_config("tiny");
  accel::HostDevice device;
  VideoMAE model(c, device, 1);
  model.init(11);
  const auto clip = random_clips(c, 1, 5);
  const std::int64_t de = c.encoder_dim;
  const auto mean = model.embed(clip, 0), cells = model.embed(clip, 0, 2);
  ASSERT_EQ(cells.size(), std::size_t(4 * de));
  double spread = 0;
  for (std::int64_t d = 0; d < de; ++d) {
    double avg = 0;
    for (std::int64_t k = 0; k < 4; ++k) avg += cells[std::size_t(k * de + d)] / 4.0;
    EXPECT_NEAR(avg, mean[std::size_t(d)], 1e-5) << "dimension " << d;
    spread += std::abs(cells[std::size_t(d)] - cells[std::size_t(3 * de + d)]);
  }
  EXPECT_GT(spread, 1e-3);  // the cells differ: positions are kept
  EXPECT_THROW(model.embed(clip, 0, c.grid_h() + 1), InvalidArgument);
  EXPECT_THROW(model.embed(clip, 0, 0), InvalidArgument);
}

class CountingSink : public accel::CostSink {
 public:
  void on_kernel(const accel::KernelRecord& r) override {
    ++kernels;
    // Matrix products: the GEMMs and the products inside the fused attention.
    (r.backward ? backward_gemm_flops : forward_gemm_flops) += r.matmul_flops;
    if (r.backward) ++backward;
    if (r.kind == accel::KernelKind::kOptimizer) ++optimizer;
    layers.insert(std::string(r.layer));
    if (r.precision == accel::Precision::kBf16) ++bf16;
  }
  void on_collective(const accel::CollectiveRecord&) override {}
  int kernels = 0, backward = 0, optimizer = 0, bf16 = 0;
  double forward_gemm_flops = 0, backward_gemm_flops = 0;
  std::set<std::string> layers;
};

TEST(ProfileTest, DryRunStepReportsEveryLayerAndTheGemmFlops) {
  const ModelConfig c = load_model_config("bench");
  CountingSink sink;
  profile_training_step(c, 16, accel::Precision::kFp32, sink);
  EXPECT_GT(sink.backward, 0);
  EXPECT_GT(sink.optimizer, 0);
  EXPECT_EQ(sink.bf16, 0);
  EXPECT_TRUE(sink.layers.count("encoder.5.attn"));
  EXPECT_TRUE(sink.layers.count("decoder.1.mlp"));
  EXPECT_TRUE(sink.layers.count("head"));
  EXPECT_TRUE(sink.layers.count("optimizer"));
  // The figure: about 21 GFLOP per step for forward + backward (3x forward GEMMs).
  EXPECT_NEAR(3 * sink.forward_gemm_flops / 1e9, 21.0, 2.0);
  CountingSink bf16;
  profile_training_step(c, 16, accel::Precision::kBf16, bf16);
  EXPECT_GT(bf16.bf16, 0);
}

// The dry-run profile (what `dojo sim` projects) must report exactly the kernels a real
// step runs: same count, same flops, same bytes.
TEST(ProfileTest, DryRunReportsTheSameKernelsAsARealStep) {
  const ModelConfig c = load_model_config("tiny");
  CountingSink dry;
  profile_training_step(c, 4, accel::Precision::kFp32, dry);

  accel::HostDevice device(accel::HostDeviceOptions{});
  VideoMAE model(c, device, 4);
  model.init(3);
  AdamW optimizer(model);
  std::vector<float> clips(std::size_t(4 * c.clip_elems()), 0.5f);
  CountingSink real;
  device.set_sink(&real);
  model.zero_grads();
  model.forward_backward(clips, make_tube_mask(c, 4, 0));
  optimizer.step(1e-3f);
  device.set_sink(nullptr);

  EXPECT_EQ(dry.kernels, real.kernels);
  EXPECT_EQ(dry.backward, real.backward);
  EXPECT_DOUBLE_EQ(dry.forward_gemm_flops, real.forward_gemm_flops);
  EXPECT_DOUBLE_EQ(dry.backward_gemm_flops, real.backward_gemm_flops);
  EXPECT_GT(real.backward_gemm_flops, 1.5 * real.forward_gemm_flops);
}

TEST(OptimTest, ScheduleWarmsUpThenDecaysToMin) {
  EXPECT_FLOAT_EQ(lr_at(0, 10, 100, 1.0f, 0.1f), 0.1f);
  EXPECT_FLOAT_EQ(lr_at(9, 10, 100, 1.0f, 0.1f), 1.0f);
  EXPECT_FLOAT_EQ(lr_at(10, 10, 100, 1.0f, 0.1f), 1.0f);
  EXPECT_NEAR(lr_at(55, 10, 100, 1.0f, 0.1f), 0.55f, 1e-6f);
  EXPECT_FLOAT_EQ(lr_at(100, 10, 100, 1.0f, 0.1f), 0.1f);
}

TEST(OptimTest, ClipGradNormReturnsPreClipNormAndScales) {
  std::vector<float> g = {3.0f, 4.0f};
  EXPECT_FLOAT_EQ(clip_grad_norm(g, 1.0f), 5.0f);
  EXPECT_NEAR(std::hypot(g[0], g[1]), 1.0f, 1e-5f);
  std::vector<float> small = {0.3f, 0.4f};
  EXPECT_FLOAT_EQ(clip_grad_norm(small, 1.0f), 0.5f);
  EXPECT_FLOAT_EQ(small[0], 0.3f);
}

TEST(Bf16Test, LossTracksFp32OverTrainingSteps) {
  ModelConfig c = load_model_config("tiny");
  const auto clips = random_clips(c, 2, 21);
  const TubeMask mask = make_tube_mask(c, 2, 22);
  std::vector<float> losses[2];
  for (int mode = 0; mode < 2; ++mode) {
    c.precision = mode == 0 ? accel::Precision::kFp32 : accel::Precision::kBf16;
    accel::HostDevice device;
    VideoMAE model(c, device, 2);
    model.init(23);
    AdamW optimizer(model);
    for (int step = 0; step < 10; ++step) {
      model.zero_grads();
      losses[mode].push_back(model.forward_backward(clips, mask));
      optimizer.step(1e-3f);
    }
  }
  for (std::size_t i = 0; i < losses[0].size(); ++i) {
    EXPECT_NEAR(losses[1][i], losses[0][i], 0.02f * losses[0][i]) << "step " << i;
    if (i == 0) {
      EXPECT_NE(losses[1][i], losses[0][i]);  // bf16 really rounds
    }
  }
}

}  // namespace
}  // namespace dojo::model
