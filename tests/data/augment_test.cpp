#include <gtest/gtest.h>

#include "data/augment.hpp"

namespace dojo::data {
namespace {

std::vector<std::uint8_t> ramp_clip(const ClipShape& s) {
  std::vector<std::uint8_t> clip(static_cast<std::size_t>(s.clip_bytes()));
  for (std::size_t i = 0; i < clip.size(); ++i) clip[i] = static_cast<std::uint8_t>((i / 3) % 251);
  return clip;
}

TEST(Augment, PlainConversionIsExactlyPixelsOver255) {
  const ClipShape s{2, 4, 6, 3, 1};
  const auto clip = ramp_clip(s);
  std::vector<float> out(clip.size());
  clip_to_float(clip, s, out);
  for (std::size_t i = 0; i < clip.size(); ++i) EXPECT_EQ(out[i], clip[i] / 255.0f);
}

TEST(Augment, SameSeedSameOutputOtherSeedsDifferAndValuesStayInRange) {
  const ClipShape s{3, 16, 20, 3, 1};
  const auto clip = ramp_clip(s);
  const auto copy = clip;
  std::vector<float> a(clip.size()), b(clip.size()), c(clip.size());
  augment_clip(clip, s, AugmentOptions{}, 11, a);
  augment_clip(clip, s, AugmentOptions{}, 11, b);
  augment_clip(clip, s, AugmentOptions{}, 12, c);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(clip, copy);  // the input is never written
  for (float v : a) {
    EXPECT_GE(v, 0.0f);
    EXPECT_LE(v, 1.0f);
  }
}

TEST(Augment, IdentitySettingsReproduceThePlainConversion) {
  const ClipShape s{2, 8, 8, 1, 1};
  const auto clip = ramp_clip(s);
  AugmentOptions none{1.0, false, 0.0, 0.0};
  std::vector<float> plain(clip.size()), aug(clip.size());
  clip_to_float(clip, s, plain);
  augment_clip(clip, s, none, 3, aug);
  for (std::size_t i = 0; i < clip.size(); ++i) EXPECT_NEAR(aug[i], plain[i], 1e-6f);
}

TEST(Augment, FlipMirrorsEveryFrame) {
  const ClipShape s{2, 2, 4, 1, 1};
  std::vector<std::uint8_t> clip = {0, 10, 20, 30, 40, 50, 60, 70, 1, 2, 3, 4, 5, 6, 7, 8};
  AugmentOptions flip_only{1.0, true, 0.0, 0.0};
  // Find a seed that flips (probability 1/2 each) and check the mirror image.
  for (std::uint64_t seed = 0; seed < 16; ++seed) {
    std::vector<float> out(clip.size());
    augment_clip(clip, s, flip_only, seed, out);
    if (out[0] == 0.0f) continue;
    EXPECT_FLOAT_EQ(out[0], 30 / 255.0f);
    EXPECT_FLOAT_EQ(out[3], 0.0f);
    EXPECT_FLOAT_EQ(out[8], 4 / 255.0f);
    return;
  }
  FAIL() << "no seed in 0..15 flipped";
}

}  // namespace
}  // namespace dojo::data
