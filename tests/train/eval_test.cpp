// The eval's numbers against hand-computed cases, and held-out clips spread over sources.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "accel/host_device.hpp"
#include "model/mask.hpp"
#include "model/tubelet.hpp"
#include "train/eval.hpp"
#include "train/eval_set.hpp"
#include "train/masks.hpp"

namespace dojo::train {
namespace {

using model::ModelConfig;

// A clip of values in [0.2, 0.8] (so no prediction below is clamped) and one mask.
struct Case {
  ModelConfig c = model::load_model_config("tiny");
  std::vector<float> clip;
  model::TubeMask mask;
  std::vector<float> tubelets;
  Case() {
    std::mt19937 gen(5);
    std::uniform_real_distribution<float> u(0.2f, 0.8f);
    clip.resize(std::size_t(c.clip_elems()));
    for (auto& x : clip) x = u(gen);
    mask = model::make_tube_mask(c, 1, 11);
    tubelets = model::clip_to_tubelets(c, clip);
  }
  std::span<const float> tubelet(std::int64_t k) const {
    return std::span<const float>(tubelets).subspan(std::size_t(k * c.patch_dim()),
                                                    std::size_t(c.patch_dim()));
  }
  // Nearest visible token in the same slot, computed here without eval's code.
  std::int64_t nearest(std::int64_t k) const {
    const std::int64_t n = c.spatial_tokens(), slot = k / n, y = k % n / c.grid_w(),
                       x = k % c.grid_w();
    std::int64_t best = -1, best_d = 1 << 30;
    for (std::int64_t v = slot * n; v < (slot + 1) * n; ++v) {
      if (mask.is_masked[std::size_t(v)]) continue;
      const std::int64_t vy = v % n / c.grid_w(), vx = v % c.grid_w();
      const std::int64_t d = (vy - y) * (vy - y) + (vx - x) * (vx - x);
      if (d < best_d) best_d = d, best = v;
    }
    return best;
  }
  // Predictions (Nm, P) from a function of (hidden token, element).
  template <typename Fn>
  std::vector<float> predictions(Fn&& fn) const {
    std::vector<float> out;
    for (const std::int64_t k : mask.masked_index) {
      for (std::int64_t e = 0; e < c.patch_dim(); ++e) out.push_back(float(fn(k, e)));
    }
    return out;
  }
  EvalMetrics score(const std::vector<float>& pred) const {
    EvalSums sums;
    score_clip(c, clip, mask.is_masked, mask.masked_index, pred, sums);
    return metrics(sums);
  }
  double normalised(std::int64_t k, std::int64_t e, std::int64_t stats_of) const {
    const auto s = model::tubelet_stats(tubelet(stats_of), c.target_eps);
    return (tubelet(k)[std::size_t(e)] - s.mean) / s.scale;
  }
};

TEST(EvalTest, ThePerfectNormalisedPredictionScoresZeroLossAndZeroOracleStatsMse) {
  const Case t;
  const auto m = t.score(t.predictions([&](std::int64_t k, std::int64_t e) {
    return t.normalised(k, e, k);  // the target itself
  }));
  EXPECT_EQ(m.clips, 1);
  EXPECT_NEAR(m.loss, 0.0, 1e-10);
  EXPECT_NEAR(m.mse_oracle_stats, 0.0, 1e-10);
  EXPECT_GT(m.baseline_zero_loss, 0.5);
  EXPECT_GT(m.baseline_copy_loss, 0.5);
}

TEST(EvalTest, APredictionExactInVisibleStatsScoresZeroVisibleStatsMse) {
  // The output that, de-normalised with the nearest visible tubelet's statistics, is the
  // hidden tubelet: the visible-stats variant's perfect prediction.
  const Case t;
  const auto m = t.score(t.predictions(
      [&](std::int64_t k, std::int64_t e) { return t.normalised(k, e, t.nearest(k)); }));
  EXPECT_NEAR(m.mse_visible_stats, 0.0, 1e-10);
}

TEST(EvalTest, AZeroOutputScoresTheZeroBaselineInEveryVariant) {
  const Case t;
  const auto m = t.score(t.predictions([](std::int64_t, std::int64_t) { return 0.0; }));
  EXPECT_DOUBLE_EQ(m.loss, m.baseline_zero_loss);
  EXPECT_DOUBLE_EQ(m.mse_oracle_stats, m.baseline_oracle_mean_mse);
  EXPECT_DOUBLE_EQ(m.mse_visible_stats, m.baseline_zero_mse_visible_stats);
  // By hand: the normalised target's mean square, (P - 1) / P * (std / (std + eps))^2.
  double by_hand = 0, oracle_mean = 0;
  for (const std::int64_t k : t.mask.masked_index) {
    const auto s = model::tubelet_stats(t.tubelet(k), t.c.target_eps);
    for (std::int64_t e = 0; e < t.c.patch_dim(); ++e) {
      by_hand += std::pow(t.normalised(k, e, k), 2);
      oracle_mean += std::pow(t.tubelet(k)[std::size_t(e)] - s.mean, 2);
    }
  }
  const double n = double(t.mask.masked_index.size() * std::size_t(t.c.patch_dim()));
  EXPECT_NEAR(m.baseline_zero_loss, by_hand / n, 1e-12);
  EXPECT_NEAR(m.baseline_zero_loss, double(t.c.patch_dim() - 1) / double(t.c.patch_dim()), 1e-3);
  EXPECT_NEAR(m.baseline_oracle_mean_mse, oracle_mean / n, 1e-12);
}

TEST(EvalTest, TheCopyBaselineIsTheNearestVisibleTubeletInTheSameSlotComputedByHand) {
  const Case t;
  // Straight from the clip's pixels: hidden tubelet vs its nearest visible neighbour.
  const auto& c = t.c;
  double copy_sq = 0, n = 0;
  for (const std::int64_t k : t.mask.masked_index) {
    const std::int64_t v = t.nearest(k);
    const std::int64_t s = c.spatial_tokens();
    for (std::int64_t f = 0; f < c.tubelet_frames; ++f) {
      for (std::int64_t dy = 0; dy < c.patch; ++dy) {
        for (std::int64_t dx = 0; dx < c.patch; ++dx) {
          for (std::int64_t ch = 0; ch < c.channels; ++ch) {
            auto at = [&](std::int64_t token) {
              const std::int64_t frame = token / s * c.tubelet_frames + f;
              const std::int64_t y = token % s / c.grid_w() * c.patch + dy;
              const std::int64_t x = token % c.grid_w() * c.patch + dx;
              return t.clip[std::size_t(((frame * c.height + y) * c.width + x) * c.channels + ch)];
            };
            copy_sq += std::pow(double(at(v)) - at(k), 2);
            n += 1;
          }
        }
      }
    }
  }
  // A model that outputs the copy, normalised with the copy's statistics, is the copy
  // baseline in every variant.
  const auto m = t.score(t.predictions(
      [&](std::int64_t k, std::int64_t e) { return t.normalised(t.nearest(k), e, t.nearest(k)); }));
  EXPECT_NEAR(m.baseline_copy_mse_visible_stats, copy_sq / n, 1e-6);
  EXPECT_NEAR(m.mse_visible_stats, m.baseline_copy_mse_visible_stats, 1e-6);
  EXPECT_NEAR(m.loss, m.baseline_copy_loss, 1e-6);
  EXPECT_NEAR(m.mse_oracle_stats, m.baseline_copy_mse_oracle_stats, 1e-6);
}

TEST(EvalTest, ReconstructionsKeepVisibleTubeletsAndSayWhichStatsTheyUse) {
  const Case t;
  const auto pred =
      t.predictions([&](std::int64_t k, std::int64_t e) { return t.normalised(k, e, k); });
  const auto oracle = reconstruct_clip(t.c, t.clip, t.mask.is_masked, t.mask.masked_index, pred,
                                       StatsSource::kOracle);
  // The oracle-stats reconstruction of the perfect prediction is the clip.
  ASSERT_EQ(oracle.size(), t.clip.size());
  for (std::size_t i = 0; i < oracle.size(); ++i) ASSERT_NEAR(oracle[i], t.clip[i], 1e-5);
  const auto visible = reconstruct_clip(t.c, t.clip, t.mask.is_masked, t.mask.masked_index, pred,
                                        StatsSource::kVisible);
  const auto vt = model::clip_to_tubelets(t.c, visible);
  for (std::int64_t k = 0; k < t.c.tokens(); ++k) {
    if (t.mask.is_masked[std::size_t(k)]) continue;
    for (std::int64_t e = 0; e < t.c.patch_dim(); ++e) {
      ASSERT_EQ(vt[std::size_t(k * t.c.patch_dim() + e)], t.tubelet(k)[std::size_t(e)]);
    }
  }
  EXPECT_STREQ(stats_name(StatsSource::kOracle), "oracle-stats");
  EXPECT_STREQ(stats_name(StatsSource::kVisible), "visible-stats");
}

TEST(EvalTest, EvaluateMatchesTheModelLossAndSplitsBySource) {
  const ModelConfig c = model::load_model_config("tiny");
  accel::HostDevice device;
  model::VideoMAE model(c, device, 2);
  model.init(1);
  EvalSet set;
  set.count = 3;
  set.clip_elems = c.clip_elems();
  std::mt19937 gen(2);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  set.pixels.resize(std::size_t(3 * c.clip_elems()));
  for (auto& x : set.pixels) x = u(gen);
  set.source = {"a.mp4", "b.mp4", "a.mp4"};
  set.index = {0, 1, 2};
  std::vector<Reconstruction> recon;
  const EvalResult r = evaluate(model, set, 9, &recon, 2);
  EXPECT_EQ(r.all.clips, 3);
  ASSERT_EQ(r.per_source.size(), 2u);
  EXPECT_EQ(r.per_source.at("a.mp4").clips, 2);
  EXPECT_EQ(r.per_source.at("b.mp4").clips, 1);
  EXPECT_EQ(recon.size(), 2u);
  // Each clip alone through the model's own loss (its mask from the same counters).
  double loss = 0;
  model::VideoMAE one(c, device, 1);
  std::copy(model.params().begin(), model.params().end(), one.params().begin());
  for (std::int64_t i = 0; i < 3; ++i) {
    const std::uint64_t seed = mix_seed(9, 0xE7A1, std::uint64_t(i));
    loss += one.forward_loss(set.clip(i), masks_for(c, std::span<const std::uint64_t>(&seed, 1)));
  }
  EXPECT_NEAR(r.all.loss, loss / 3, 1e-4 * loss);
  const auto j = to_json(r);
  for (const char* key :
       {"loss", "baseline_zero_loss", "baseline_copy_loss", "mse_oracle_stats",
        "baseline_oracle_mean_mse", "baseline_copy_mse_oracle_stats", "mse_visible_stats",
        "baseline_zero_mse_visible_stats", "baseline_copy_mse_visible_stats", "psnr_visible_stats",
        "per_source", "sources", "clips"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_TRUE(j["per_source"]["b.mp4"].contains("baseline_copy_mse_visible_stats"));
  EXPECT_NE(format_report(r).find("visible tubelet's mean and std"), std::string::npos);
}

TEST(EvalSetTest, PickEvenlyGivesEverySourceAnEqualShareSpreadOverItsClips) {
  // Source 0: 10 clips, source 1: 2, source 2: 6, in contiguous runs.
  std::vector<std::int64_t> source;
  for (int i = 0; i < 10; ++i) source.push_back(0);
  for (int i = 0; i < 2; ++i) source.push_back(1);
  for (int i = 0; i < 6; ++i) source.push_back(2);
  const auto picks = pick_evenly(source, 9);
  ASSERT_EQ(picks.size(), 9u);
  std::map<std::int64_t, std::vector<std::int64_t>> by;
  for (const auto p : picks) by[source[std::size_t(p)]].push_back(p);
  EXPECT_EQ(by[1].size(), 2u);  // all it has
  EXPECT_EQ(by[0].size(), 4u);  // the rest shared: 4 and 3
  EXPECT_EQ(by[2].size(), 3u);
  // Spread: source 0's four picks are the middles of four stretches of its ten clips.
  EXPECT_EQ(by[0], (std::vector<std::int64_t>{1, 3, 6, 8}));
  EXPECT_EQ(by[2], (std::vector<std::int64_t>{13, 15, 17}));
  // Round order: the first three picks come from three different sources.
  EXPECT_EQ(source[std::size_t(picks[0])], 0);
  EXPECT_EQ(source[std::size_t(picks[1])], 1);
  EXPECT_EQ(source[std::size_t(picks[2])], 2);
  // Distinct, and asking for more than there is gives everything once.
  auto all = pick_evenly(source, 100);
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), source.size());
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], std::int64_t(i));
}

}  // namespace
}  // namespace dojo::train
