#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "data/clip_cutter.hpp"
#include "data/sampler.hpp"

namespace dojo::data {
namespace {

TEST(EpochSampler, RanksGetEqualCountsAndTogetherCoverEveryClip) {
  for (std::int64_t n : {1, 2, 7, 10, 64, 101}) {
    for (int world : {1, 2, 3, 4, 8}) {
      std::multiset<std::int64_t> seen;
      std::int64_t per_rank = -1;
      for (int r = 0; r < world; ++r) {
        EpochSampler s(n, r, world, 42, true);
        if (per_rank < 0) per_rank = s.clips_per_epoch();
        EXPECT_EQ(s.clips_per_epoch(), per_rank);
        for (std::int64_t p = 0; p < s.clips_per_epoch(); ++p) seen.insert(s.clip_at(3, p));
      }
      EXPECT_EQ(per_rank, (n + world - 1) / world);
      const std::set<std::int64_t> distinct(seen.begin(), seen.end());
      EXPECT_EQ(std::ssize(distinct), n) << "n=" << n << " world=" << world;
      // Only the wrapped padding repeats: at most world - 1 duplicates.
      EXPECT_EQ(std::ssize(seen), per_rank * world);
      EXPECT_LT(std::ssize(seen) - n, world);
    }
  }
}

TEST(EpochSampler, SlicesAreDisjointWhenClipsDivideEvenly) {
  std::set<std::int64_t> all;
  for (int r = 0; r < 4; ++r) {
    EpochSampler s(40, r, 4, 7, true);
    for (std::int64_t p = 0; p < s.clips_per_epoch(); ++p) {
      EXPECT_TRUE(all.insert(s.clip_at(0, p)).second);
    }
  }
  EXPECT_EQ(all.size(), 40u);
}

TEST(EpochSampler, PermutationDependsOnlyOnSeedAndEpoch) {
  const EpochSampler a(50, 0, 1, 9, true), b(50, 0, 1, 9, true), c(50, 0, 1, 10, true);
  EXPECT_EQ(a.permutation(2), b.permutation(2));
  EXPECT_NE(a.permutation(2), a.permutation(3));
  EXPECT_NE(a.permutation(2), c.permutation(2));
  auto sorted = a.permutation(5);
  std::sort(sorted.begin(), sorted.end());
  for (std::int64_t i = 0; i < 50; ++i) EXPECT_EQ(sorted[static_cast<std::size_t>(i)], i);
  const EpochSampler plain(5, 0, 1, 9, false);
  EXPECT_EQ(plain.permutation(4), (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
}

TEST(ClipCutter, CountsAndStartsFollowStepAndStride) {
  const ClipShape shape{3, 2, 2, 1, 2};  // span 5
  EXPECT_EQ(clips_in(4, shape, 0), 0);
  EXPECT_EQ(clips_in(5, shape, 0), 1);
  EXPECT_EQ(clips_in(11, shape, 0), 2);  // default stride 6
  EXPECT_EQ(clips_in(10, shape, 6), 1);
  EXPECT_EQ(clips_in(11, shape, 1), 7);
  ClipCutter cutter(shape, 3);
  std::vector<std::int64_t> starts;
  for (int f = 0; f < 12; ++f) {
    auto slot = cutter.slot();
    std::fill(slot.begin(), slot.end(), static_cast<std::uint8_t>(f));
    if (cutter.push()) {
      starts.push_back(cutter.clip_start());
      // Frames start, start + 2, start + 4.
      for (int t = 0; t < 3; ++t)
        EXPECT_EQ(cutter.clip()[static_cast<std::size_t>(t * 4)], cutter.clip_start() + 2 * t);
    }
  }
  EXPECT_EQ(starts, (std::vector<std::int64_t>{0, 3, 6}));
  EXPECT_EQ(std::ssize(starts), clips_in(12, shape, 3));
}

}  // namespace
}  // namespace dojo::data
