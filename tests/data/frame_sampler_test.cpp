#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "data/frame_sampler.hpp"

namespace dojo::data {
namespace {

std::vector<std::int64_t> sample(double target, double nominal,
                                 const std::vector<std::optional<double>>& times) {
  FrameSampler sampler(target, nominal);
  std::vector<std::int64_t> out;
  for (std::size_t i = 0; i < times.size(); ++i)
    sampler.push(times[i], static_cast<std::int64_t>(i), out);
  sampler.finish(out);
  return out;
}

TEST(FrameSampler, HalfTheRateTakesEveryOtherFrame) {
  std::vector<std::optional<double>> times;
  for (int i = 0; i < 10; ++i) times.emplace_back(i / 30.0);
  EXPECT_EQ(sample(15, 30, times), (std::vector<std::int64_t>{0, 2, 4, 6, 8}));
}

TEST(FrameSampler, AStreamWithoutTimestampsIsSampledByFrameIndexAtItsNominalRate) {
  // 30 frames, no timestamps, nominal 30 fps, sampled at 15 fps: every other frame, not
  // one frame (the sampler used to place every untimed frame at the same instant).
  const std::vector<std::optional<double>> none(30, std::nullopt);
  const auto got = sample(15, 30, none);
  std::vector<std::int64_t> want;
  for (int i = 0; i < 30; i += 2) want.push_back(i);
  EXPECT_EQ(got, want);
  // No nominal rate either: each frame counts as one tick of the target rate.
  EXPECT_EQ(sample(15, 0, std::vector<std::optional<double>>(5, std::nullopt)),
            (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
}

TEST(FrameSampler, ATimestampJumpIsADiscontinuityNotMillionsOfCopies) {
  std::vector<std::optional<double>> times;
  for (int i = 0; i < 5; ++i) times.emplace_back(i / 10.0);
  for (int i = 0; i < 5; ++i) times.emplace_back(1e6 + i / 10.0);
  FrameSampler sampler(15, 10);
  std::vector<std::int64_t> out;
  for (std::size_t i = 0; i < times.size(); ++i)
    sampler.push(times[i], static_cast<std::int64_t>(i), out);
  sampler.finish(out);
  EXPECT_EQ(sampler.jumps(), 1);
  EXPECT_LE(out.size(), 16u);  // 10 frames at 10 fps, sampled at 15 fps
  EXPECT_GE(out.size(), 14u);
  EXPECT_EQ(out.back(), 9);
  // A gap below the bound is filled as before (the frame before it is held).
  const auto held = sample(10, 10, {0.0, 0.1, 0.55, 0.67});
  EXPECT_EQ(held, (std::vector<std::int64_t>{0, 1, 1, 1, 2, 2, 2, 3}));
}

TEST(FrameSampler, RepeatedAndBackwardTimestampsAreDropped) {
  EXPECT_EQ(sample(10, 10, {0.0, 0.1, 0.1, 0.05, 0.2}), (std::vector<std::int64_t>{0, 1, 4}));
}

}  // namespace
}  // namespace dojo::data
