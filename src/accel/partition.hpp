#pragma once
// Partition: the global node grid cut into one rectangular block per MPI rank.
//
// The grid is cut into `columns` vertical strips; each strip holds a whole number of ranks
// stacked vertically. With n ranks and c columns, n mod c strips hold ceil(n/c) ranks and
// the rest floor(n/c); strip widths are proportional to their rank counts and heights
// within a strip are balanced, so every block has nearly the same area. When c divides n
// this is the px x py grid MPI_Dims_create would give. The column count is the one with
// the least imbalance (largest / smallest block area), then the squarest blocks.
// Every grid position belongs to exactly one block.
#include <cstdint>
#include <vector>

#include "accel/topology.hpp"

namespace dojo::accel {

struct Rect {
  std::int64_t x = 0, y = 0;  // origin (lowest corner)
  std::int64_t w = 0, h = 0;
  std::int64_t area() const { return w * h; }
  bool contains(Coord c) const { return c.x >= x && c.y >= y && c.x < x + w && c.y < y + h; }
  bool operator==(const Rect&) const = default;
};

class Partition {
 public:
  // Throws InvalidArgument when ranks < 1 or ranks > grid positions.
  Partition(std::int64_t grid_x, std::int64_t grid_y, std::int64_t ranks);
  Partition(const Topology& topo, std::int64_t ranks)
      : Partition(topo.grid_x(), topo.grid_y(), ranks) {}

  std::int64_t ranks() const { return static_cast<std::int64_t>(blocks_.size()); }
  const Rect& block(std::int64_t rank) const { return blocks_.at(static_cast<std::size_t>(rank)); }
  const std::vector<Rect>& blocks() const { return blocks_; }
  std::int64_t columns() const { return columns_; }
  // Ranks in an order where consecutive blocks touch (down one column, up the next, ...).
  std::vector<std::int64_t> snake_order() const;

 private:
  std::int64_t columns_ = 1;
  std::vector<std::int64_t> column_of_;  // per rank
  std::vector<Rect> blocks_;             // by rank: column by column, bottom to top
};

// Splits `total` into `parts` integers proportional to `weights` (largest remainder), each
// at least 1. Requires total >= parts.
std::vector<std::int64_t> apportion(std::int64_t total, const std::vector<std::int64_t>& weights);

}  // namespace dojo::accel
