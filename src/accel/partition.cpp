#include "accel/partition.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.hpp"

namespace dojo::accel {

std::vector<std::int64_t> apportion(std::int64_t total, const std::vector<std::int64_t>& weights) {
  const auto parts = static_cast<std::int64_t>(weights.size());
  DOJO_ASSERT(parts >= 1 && total >= parts, "apportion {} into {}", total, parts);
  const std::int64_t weight_sum = std::accumulate(weights.begin(), weights.end(), std::int64_t{0});
  // Everyone gets 1, the rest is split by weight with the largest remainders rounding up.
  const std::int64_t rest = total - parts;
  std::vector<std::int64_t> out(weights.size(), 1);
  std::vector<std::pair<double, std::size_t>> remainders;
  std::int64_t given = 0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    const double exact = static_cast<double>(rest) * static_cast<double>(weights[i]) /
                         static_cast<double>(weight_sum);
    const auto whole = static_cast<std::int64_t>(std::floor(exact));
    out[i] += whole;
    given += whole;
    remainders.emplace_back(exact - static_cast<double>(whole), i);
  }
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::int64_t i = 0; i < rest - given; ++i)
    ++out[remainders[static_cast<std::size_t>(i)].second];
  return out;
}

namespace {

struct Layout {
  std::vector<std::int64_t> per_column;  // ranks in each column
  std::vector<std::int64_t> widths;
};

// Blocks of one candidate layout (column by column, bottom to top).
std::vector<Rect> blocks_of(const Layout& layout, std::int64_t grid_y) {
  std::vector<Rect> blocks;
  std::int64_t x = 0;
  for (std::size_t c = 0; c < layout.per_column.size(); ++c) {
    const auto heights = apportion(
        grid_y, std::vector<std::int64_t>(static_cast<std::size_t>(layout.per_column[c]), 1));
    std::int64_t y = 0;
    for (const auto h : heights) {
      blocks.push_back({x, y, layout.widths[c], h});
      y += h;
    }
    x += layout.widths[c];
  }
  return blocks;
}

}  // namespace

Partition::Partition(std::int64_t grid_x, std::int64_t grid_y, std::int64_t ranks) {
  DOJO_CHECK(ranks >= 1 && ranks <= grid_x * grid_y, InvalidArgument,
             "cannot partition a {}x{} mesh into {} ranks (need 1 <= ranks <= {})", grid_x, grid_y,
             ranks, grid_x * grid_y);
  double best_imbalance = 0, best_aspect = 0;
  const auto consider = [&](const Layout& layout) {
    for (const auto count : layout.per_column)
      if (count > grid_y) return;
    const auto blocks = blocks_of(layout, grid_y);
    double min_area = 1e300, max_area = 0, aspect = 0;
    for (const auto& b : blocks) {
      min_area = std::min(min_area, static_cast<double>(b.area()));
      max_area = std::max(max_area, static_cast<double>(b.area()));
      const double a =
          static_cast<double>(std::max(b.w, b.h)) / static_cast<double>(std::min(b.w, b.h));
      aspect = std::max(aspect, a);
    }
    const double imbalance = max_area / min_area;
    const bool better = blocks_.empty() || imbalance < best_imbalance - 1e-12 ||
                        (imbalance <= best_imbalance + 1e-12 && aspect < best_aspect - 1e-12);
    if (!better) return;
    best_imbalance = imbalance;
    best_aspect = aspect;
    blocks_ = blocks;
    columns_ = static_cast<std::int64_t>(layout.per_column.size());
    column_of_.clear();
    for (std::size_t c = 0; c < layout.per_column.size(); ++c)
      column_of_.insert(column_of_.end(), static_cast<std::size_t>(layout.per_column[c]),
                        static_cast<std::int64_t>(c));
  };
  for (std::int64_t columns = 1; columns <= std::min(ranks, grid_x); ++columns) {
    // Balanced rank counts per column, widths proportional to them ...
    Layout by_ranks;
    const std::int64_t base = ranks / columns, extra = ranks % columns;
    for (std::int64_t c = 0; c < columns; ++c)
      by_ranks.per_column.push_back(base + (c < extra ? 1 : 0));
    by_ranks.widths = apportion(grid_x, by_ranks.per_column);
    consider(by_ranks);
    // ... or balanced widths, rank counts proportional to them.
    Layout by_width;
    by_width.widths =
        apportion(grid_x, std::vector<std::int64_t>(static_cast<std::size_t>(columns), 1));
    by_width.per_column = apportion(ranks, by_width.widths);
    consider(by_width);
  }
  DOJO_ASSERT(!blocks_.empty(), "no layout for {} ranks on {}x{}", ranks, grid_x, grid_y);
}

std::vector<std::int64_t> Partition::snake_order() const {
  std::vector<std::int64_t> order;
  std::int64_t first = 0;
  for (std::int64_t c = 0; c < columns_; ++c) {
    std::int64_t count = 0;
    while (first + count < ranks() && column_of_[static_cast<std::size_t>(first + count)] == c)
      ++count;
    for (std::int64_t i = 0; i < count; ++i)
      order.push_back(c % 2 == 0 ? first + i : first + count - 1 - i);
    first += count;
  }
  return order;
}

}  // namespace dojo::accel
