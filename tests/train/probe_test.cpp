// The probe over feature sets and label columns: every label gets a score for every
// feature set, with the metric its values call for.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "train/probe.hpp"

namespace dojo::train {
namespace {

// Two labels per clip: a continuous "speed" and a 0/1 "lane_change"; the "pretrained"
// features carry both, "random_init" and "pixels" are noise.
struct Split {
  Features f;
  std::vector<float> labels;  // (N, 2)
};

Split make(std::int64_t n, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> g(0, 1);
  Split s;
  s.f.clips = n;
  std::vector<double> good, noise_a, noise_b;
  for (std::int64_t i = 0; i < n; ++i) {
    const double speed = g(gen), lane = g(gen) > 0 ? 1 : 0;
    s.labels.push_back(float(speed));
    s.labels.push_back(float(lane));
    for (int j = 0; j < 6; ++j) {
      good.push_back(j == 0 ? speed : j == 1 ? lane * 2 - 1 + 0.1 * g(gen) : g(gen));
      noise_a.push_back(g(gen));
      noise_b.push_back(g(gen));
    }
  }
  s.labels[2] = NAN;  // clip 1's source had no speed label: left out of that label only
  s.f.sets["pretrained"] = {6, good};
  s.f.sets["random_init"] = {6, noise_a};
  s.f.sets["pixels"] = {6, noise_b};
  return s;
}

TEST(ProbeTest, EveryLabelIsScoredForEveryFeatureSetWithItsMetric) {
  const Split train = make(120, 1), test = make(60, 2);
  const ProbeResult r =
      probe_features(train.f, test.f, {"speed", "lane_change"}, train.labels, test.labels, 0);
  ASSERT_EQ(r.labels.size(), 2u);
  const LabelScore& speed = r.labels.at("speed");
  EXPECT_EQ(speed.metric, "r2");
  EXPECT_GT(speed.pretrained, 0.99);
  EXPECT_LT(speed.random_init, 0.2);
  EXPECT_LT(speed.pixels, 0.2);
  EXPECT_EQ(speed.train_clips, 119);  // the NaN clip is left out
  EXPECT_EQ(speed.test_clips, 59);
  const LabelScore& lane = r.labels.at("lane_change");
  EXPECT_EQ(lane.metric, "accuracy");
  EXPECT_GT(lane.pretrained, 0.95);
  EXPECT_LT(lane.random_init, 0.75);
  EXPECT_EQ(lane.train_clips, 120);
  const auto j = to_json(r);
  for (const char* key : {"metric", "pretrained", "random_init", "pixels"}) {
    EXPECT_TRUE(j["labels"]["speed"].contains(key)) << key;
  }
  EXPECT_NE(format_probe(r).find("random init on 2 of 2 scored"), std::string::npos)
      << format_probe(r);
}

// A label whose test values are all equal has no R^2: it is reported (null in the JSON) but
// not counted among the labels the pretrained encoder is said to beat the references on.
TEST(ProbeTest, ALabelConstantInTheTestClipsIsShownButNotCounted) {
  const Split train = make(120, 1);
  Split test = make(60, 2);
  for (std::size_t i = 0; i < test.labels.size(); i += 2) test.labels[i] = 0.5f;
  const ProbeResult r =
      probe_features(train.f, test.f, {"speed", "lane_change"}, train.labels, test.labels, 0);
  EXPECT_TRUE(std::isnan(r.labels.at("speed").pretrained));
  EXPECT_FALSE(r.labels.at("speed").scored());
  EXPECT_TRUE(r.labels.at("lane_change").scored());
  const auto j = to_json(r);
  EXPECT_TRUE(j["labels"]["speed"]["pretrained"].is_null());
  EXPECT_FALSE(j["labels"]["speed"]["scored"].get<bool>());
  EXPECT_TRUE(j["labels"]["lane_change"]["scored"].get<bool>());
  const std::string text = format_probe(r);
  EXPECT_NE(text.find("random init on 1 of 1 scored labels, raw pixels on 1 of 1"),
            std::string::npos) << text;
  EXPECT_NE(text.find("not scored (the test clips' values are all equal): speed"),
            std::string::npos) << text;
}

}  // namespace
}  // namespace dojo::train
