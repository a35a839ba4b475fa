// The probe's solvers on synthetic data whose answers are known.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "train/probe_solvers.hpp"

namespace dojo::train {
namespace {

struct Data {
  std::vector<double> x, y;
  std::int64_t n, d;
};

// y = 2 + x.w_true + noise, features of different scales.
Data linear(std::int64_t n, std::int64_t d, double noise, std::uint64_t seed,
            std::vector<double>& w_true) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> g(0, 1);
  w_true.resize(std::size_t(d));
  for (auto& w : w_true) w = g(gen);
  Data out{{}, {}, n, d};
  for (std::int64_t i = 0; i < n; ++i) {
    double z = 2;
    for (std::int64_t j = 0; j < d; ++j) {
      const double v = g(gen);
      out.x.push_back(v);
      z += v * w_true[std::size_t(j)];
    }
    out.y.push_back(z + noise * g(gen));
  }
  return out;
}

TEST(ProbeSolversTest, RidgeWithASmallPenaltyRecoversKnownWeightsAndIntercept) {
  std::vector<double> w;
  const Data t = linear(400, 5, 0.01, 1, w);
  const LinearModel m = fit_ridge(t.x, t.y, t.n, t.d, 1e-6);
  for (std::int64_t j = 0; j < t.d; ++j) EXPECT_NEAR(m.w[std::size_t(j)], w[std::size_t(j)], 5e-3);
  EXPECT_NEAR(m.b, 2.0, 5e-3);
  EXPECT_GT(r2_score(t.y, m.predict(t.x, t.n)), 0.9999);
}

TEST(ProbeSolversTest, RidgeDualAndPrimalGiveTheSameSolution) {
  // n < d takes the dual; the same problem with the rows repeated to n > d takes the
  // primal, and repeating rows twice is the same as halving lambda.
  std::vector<double> w;
  const Data t = linear(6, 10, 0.5, 2, w);
  const LinearModel dual = fit_ridge(t.x, t.y, t.n, t.d, 2.0);
  Data twice = t;
  twice.x.insert(twice.x.end(), t.x.begin(), t.x.end());
  twice.y.insert(twice.y.end(), t.y.begin(), t.y.end());
  twice.n = 12;
  const LinearModel primal = fit_ridge(twice.x, twice.y, twice.n, twice.d, 4.0);
  for (std::int64_t j = 0; j < t.d; ++j) {
    EXPECT_NEAR(dual.w[std::size_t(j)], primal.w[std::size_t(j)], 1e-9);
  }
  EXPECT_NEAR(dual.b, primal.b, 1e-9);
}

TEST(ProbeSolversTest, RidgeShrinksTowardsZeroAsLambdaGrows) {
  std::vector<double> w;
  const Data t = linear(50, 3, 0.1, 3, w);
  const LinearModel m = fit_ridge(t.x, t.y, t.n, t.d, 1e9);
  for (const double v : m.w) EXPECT_LT(std::abs(v), 1e-6);
  double mean = 0;
  for (const double v : t.y) mean += v / double(t.n);
  EXPECT_NEAR(m.b, mean, 1e-6);  // only the intercept is left
}

TEST(ProbeSolversTest, LogisticRecoversTheGeneratingWeights) {
  // P(y = 1) = sigmoid(0.5 + 1.5 x0 - 1 x1), 20000 samples.
  std::mt19937_64 gen(4);
  std::normal_distribution<double> g(0, 1);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> x, y;
  const std::int64_t n = 20000;
  for (std::int64_t i = 0; i < n; ++i) {
    const double a = g(gen), b = g(gen);
    x.push_back(a);
    x.push_back(b);
    y.push_back(u(gen) < 1 / (1 + std::exp(-(0.5 + 1.5 * a - b))) ? 1 : 0);
  }
  const LinearModel m = fit_logistic(x, y, n, 2, 1e-6);
  EXPECT_NEAR(m.w[0], 1.5, 0.08);
  EXPECT_NEAR(m.w[1], -1.0, 0.08);
  EXPECT_NEAR(m.b, 0.5, 0.08);
}

TEST(ProbeSolversTest, LogisticOnSeparableDataStaysFiniteAndClassifiesEveryRow) {
  std::vector<double> x, y;
  for (int i = 0; i < 40; ++i) {
    x.push_back(i < 20 ? -1.0 - i * 0.1 : 1.0 + i * 0.1);
    y.push_back(i < 20 ? 0 : 1);
  }
  const LinearModel m = fit_logistic(x, y, 40, 1, 1e-2);
  EXPECT_TRUE(std::isfinite(m.w[0]));
  EXPECT_GT(m.w[0], 0);
  EXPECT_DOUBLE_EQ(accuracy(y, m.predict(x, 40)), 1.0);
}

TEST(ProbeSolversTest, StandardizerZeroesConstantColumnsAndScalesTheRest) {
  const std::vector<double> x = {1, 5, 3, 5, 5, 5};  // (3, 2): column 1 constant
  const Standardizer s = Standardizer::fit(x, 3, 2);
  const auto z = s.apply(x, 3);
  EXPECT_NEAR(z[0], -std::sqrt(1.5), 1e-12);  // (1 - 3) / sqrt(8/3)
  EXPECT_NEAR(z[2], 0, 1e-12);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(z[std::size_t(2 * i + 1)], 0.0);
}

TEST(ProbeSolversTest, ScoresMatchTheirDefinitions) {
  const std::vector<double> y = {1, 2, 3, 4};
  EXPECT_DOUBLE_EQ(r2_score(y, y), 1.0);
  EXPECT_DOUBLE_EQ(r2_score(y, std::vector<double>(4, 2.5)), 0.0);  // the mean scores 0
  EXPECT_TRUE(std::isnan(r2_score(std::vector<double>(3, 1.0), y)));
  EXPECT_DOUBLE_EQ(accuracy(std::vector<double>{0, 1, 1, 0}, std::vector<double>{-1, 2, -3, -0.5}),
                   0.75);
  EXPECT_TRUE(is_binary(std::vector<double>{0, 1, 1}));
  EXPECT_FALSE(is_binary(std::vector<double>{0, 1, 2}));
  EXPECT_FALSE(is_binary(std::vector<double>{1, 1}));
}

TEST(ProbeSolversTest, FitProbeFindsSignalAndRejectsNoise) {
  // Train and test from the same linear law: R^2 near 1. Labels of pure noise: R^2 <= ~0.
  std::vector<double> w;
  const Data train = linear(200, 20, 0.1, 5, w);
  std::mt19937_64 gen(6);
  std::normal_distribution<double> g(0, 1);
  Data test{{}, {}, 100, 20};
  for (int i = 0; i < 100; ++i) {
    double z = 2;
    for (int j = 0; j < 20; ++j) {
      const double v = g(gen);
      test.x.push_back(v);
      z += v * w[std::size_t(j)];
    }
    test.y.push_back(z + 0.1 * g(gen));
  }
  const std::vector<std::int64_t> one_source(train.y.size(), 0);
  const ProbeFit good =
      fit_probe(ProbeKind::kRidge, train.x, train.y, one_source, test.x, test.y, 20, 0);
  EXPECT_GT(good.test_score, 0.99);
  EXPECT_LE(good.lambda, 10.0);
  std::vector<double> noise_y(train.y.size());
  for (auto& v : noise_y) v = g(gen);
  std::vector<double> noise_test(test.y.size());
  for (auto& v : noise_test) v = g(gen);
  // The validation split prefers shrinking noise away: over ten splits, the median choice
  // is a strong penalty (one split of 40 rows may still pick a weaker one).
  std::vector<double> lambdas;
  for (std::uint64_t seed = 0; seed < 10; ++seed) {
    const ProbeFit bad =
        fit_probe(ProbeKind::kRidge, train.x, noise_y, one_source, test.x, noise_test, 20, seed);
    EXPECT_LT(bad.test_score, 0.05) << "split " << seed;
    lambdas.push_back(bad.lambda);
  }
  std::sort(lambdas.begin(), lambdas.end());
  std::string chosen;
  for (double l : lambdas) chosen += std::to_string(l) + " ";
  EXPECT_GE(lambdas[5], 100.0) << "lambdas chosen: " << chosen;
}

TEST(ProbeSolversTest, ValidationHoldsOutWholeSourceVideos) {
  std::vector<std::int64_t> group;
  for (std::int64_t v = 0; v < 12; ++v)
    for (int c = 0; c < 7; ++c) group.push_back(v * 3);  // ids need not be dense
  const auto val = validation_rows(group, 4);
  ASSERT_FALSE(val.empty());
  std::set<std::int64_t> held, fitted;
  for (std::size_t i = 0, k = 0; i < group.size(); ++i) {
    const bool in_val = k < val.size() && val[k] == static_cast<std::int64_t>(i);
    k += in_val ? 1 : 0;
    (in_val ? held : fitted).insert(group[i]);
  }
  EXPECT_EQ(held.size(), 2u);  // every 5th of 12 videos
  for (const auto g : held) EXPECT_EQ(fitted.count(g), 0u) << "video " << g << " on both sides";
  EXPECT_EQ(val.size(), 14u);  // all 7 clips of each held-out video
  // One source only: every 5th row instead.
  EXPECT_EQ(validation_rows(std::vector<std::int64_t>(50, 0), 4).size(), 10u);
}

TEST(ProbeSolversTest, VideoFingerprintsAreNotMistakenForSignal) {
  // Clips of a video share its fingerprint (features) and its label, which is unrelated to
  // the fingerprint: nothing carries over to new videos. Validating on clips of the
  // training videos rewards recognising them; validating on held-out videos does not.
  const int d = 30, per_video = 10;
  std::mt19937_64 gen(11);
  std::normal_distribution<double> g(0, 1);
  auto videos = [&](int count, std::vector<double>& x, std::vector<double>& y,
                    std::vector<std::int64_t>& group) {
    for (int v = 0; v < count; ++v) {
      std::vector<double> fingerprint(d);
      for (auto& f : fingerprint) f = g(gen);
      const double label = g(gen);
      for (int c = 0; c < per_video; ++c) {
        for (int j = 0; j < d; ++j) x.push_back(fingerprint[std::size_t(j)] + 0.05 * g(gen));
        y.push_back(label + 0.05 * g(gen));
        group.push_back(v);
      }
    }
  };
  std::vector<double> x, y, tx, ty;
  std::vector<std::int64_t> group, test_group;
  videos(40, x, y, group);
  videos(20, tx, ty, test_group);
  const ProbeFit by_video = fit_probe(ProbeKind::kRidge, x, y, group, tx, ty, d, 0);
  const ProbeFit by_clip = fit_probe(ProbeKind::kRidge, x, y, std::vector<std::int64_t>(y.size(), 0),
                                     tx, ty, d, 0);
  EXPECT_LT(by_clip.lambda, 10.0) << "a split of clips recognises the training videos";
  EXPECT_GE(by_video.lambda, 100.0);
  EXPECT_GT(by_video.test_score, -0.3);
  EXPECT_GT(by_video.test_score, by_clip.test_score + 0.2)
      << "by video " << by_video.test_score << ", by clip " << by_clip.test_score;
}

}  // namespace
}  // namespace dojo::train
