// A partition owns every node exactly once, in balanced rectangles.
#include <gtest/gtest.h>

#include "accel/partition.hpp"
#include "core/error.hpp"

namespace dojo::accel {
namespace {

void expect_exact_cover(std::int64_t gx, std::int64_t gy, std::int64_t ranks) {
  const Partition p(gx, gy, ranks);
  ASSERT_EQ(p.ranks(), ranks);
  std::vector<int> owner(static_cast<std::size_t>(gx * gy), 0);
  std::int64_t min_area = gx * gy, max_area = 0;
  for (const auto& b : p.blocks()) {
    ASSERT_GE(b.w, 1);
    ASSERT_GE(b.h, 1);
    ASSERT_LE(b.x + b.w, gx);
    ASSERT_LE(b.y + b.h, gy);
    for (std::int64_t y = b.y; y < b.y + b.h; ++y)
      for (std::int64_t x = b.x; x < b.x + b.w; ++x) ++owner[static_cast<std::size_t>(y * gx + x)];
    min_area = std::min(min_area, b.area());
    max_area = std::max(max_area, b.area());
  }
  for (std::size_t i = 0; i < owner.size(); ++i)
    ASSERT_EQ(owner[i], 1) << gx << "x" << gy << " ranks " << ranks << " position " << i;
  // Balanced: no block more than twice another, except on meshes so small that blocks
  // are 1-3 nodes (5x3 into 7: strips cannot do better than 1..3).
  EXPECT_LE(max_area, std::max(2 * min_area, min_area + 2))
      << gx << "x" << gy << " ranks " << ranks << " areas " << min_area << ".." << max_area;
}

TEST(Partition, CoversEveryNodeExactlyOnceForOneToSixteenRanksOnManyShapes) {
  const std::vector<std::pair<std::int64_t, std::int64_t>> shapes = {
      {4, 4}, {5, 3}, {7, 11}, {18, 20}, {16, 1}, {1, 17}, {3, 7}, {13, 13}, {1080, 1000}};
  for (const auto& [gx, gy] : shapes) {
    for (std::int64_t ranks = 1; ranks <= 16; ++ranks) {
      if (ranks > gx * gy) continue;
      expect_exact_cover(gx, gy, ranks);
    }
  }
}

TEST(Partition, FourRanksOnASquareAreTwoByTwoLikeDimsCreate) {
  const Partition p(8, 8, 4);
  EXPECT_EQ(p.columns(), 2);
  for (const auto& b : p.blocks()) {
    EXPECT_EQ(b.w, 4);
    EXPECT_EQ(b.h, 4);
  }
}

TEST(Partition, SnakeOrderVisitsEveryRankWithTouchingNeighbours) {
  const Partition p(7, 5, 6);
  const auto order = p.snake_order();
  ASSERT_EQ(order.size(), 6u);
  std::vector<bool> seen(6, false);
  for (const auto r : order) seen[static_cast<std::size_t>(r)] = true;
  for (const bool s : seen) EXPECT_TRUE(s);
  for (std::size_t i = 0; i + 1 < order.size(); ++i) {
    const auto& a = p.block(order[i]);
    const auto& b = p.block(order[i + 1]);
    const bool touch_x =
        (a.x + a.w == b.x || b.x + b.w == a.x) && a.y < b.y + b.h && b.y < a.y + a.h;
    const bool touch_y =
        (a.y + a.h == b.y || b.y + b.h == a.y) && a.x < b.x + b.w && b.x < a.x + a.w;
    EXPECT_TRUE(touch_x || touch_y) << "ranks " << order[i] << " and " << order[i + 1];
  }
}

TEST(Partition, MoreRanksThanNodesIsInvalidArgument) {
  EXPECT_THROW(Partition(2, 2, 5), InvalidArgument);
  EXPECT_THROW(Partition(2, 2, 0), InvalidArgument);
}

}  // namespace
}  // namespace dojo::accel
