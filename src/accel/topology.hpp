#pragma once
// Topology: the global node grid of a MeshSpec, which link each hop uses, and XY routes.
//
// A hop between adjacent positions p and p+1 along an axis crosses the boundary of the
// outermost level unit that separates them; that level's link carries it (see
// mesh_spec.hpp). Links are resources identified by an index: a level-0 hop uses the
// source node's own link in that direction; a level-l hop (l > 0) uses the edge of the
// source's level-(l-1) unit in that direction, shared by every route that crosses it.
// Routes are dimension-ordered (x first, then y), as on Dojo's mesh.
#include <cstdint>
#include <vector>

#include "accel/mesh_spec.hpp"

namespace dojo::accel {

enum class Axis { kX, kY };

struct Coord {
  std::int64_t x = 0;
  std::int64_t y = 0;
  bool operator==(const Coord&) const = default;
};

class Topology {
 public:
  explicit Topology(const MeshSpec& spec);

  std::int64_t grid_x() const { return ext_x_.back(); }
  std::int64_t grid_y() const { return ext_y_.back(); }
  int level_count() const { return static_cast<int>(bandwidth_.size()); }
  // Nodes along x / y in one unit of `level` (level 0: a chip).
  std::int64_t unit_extent(Axis axis, int level) const;
  // Level of the link between positions `pos` and `pos + 1` along `axis`.
  int link_level(Axis axis, std::int64_t pos) const {
    return axis == Axis::kX ? level_x_[static_cast<std::size_t>(pos)]
                            : level_y_[static_cast<std::size_t>(pos)];
  }
  double link_bytes_per_s(int level) const { return bandwidth_[static_cast<std::size_t>(level)]; }
  double hop_latency_s(int level) const { return latency_[static_cast<std::size_t>(level)]; }
  std::size_t resource_count() const { return resource_count_; }
  bool contains(Coord c) const { return c.x >= 0 && c.y >= 0 && c.x < grid_x() && c.y < grid_y(); }

  // Calls fn(resource, level) for every hop of the XY route from a to b.
  template <typename Fn>
  void route(Coord a, Coord b, Fn&& fn) const {
    const std::int64_t sx = b.x > a.x ? 1 : -1;
    for (std::int64_t x = a.x; x != b.x; x += sx) {
      const int level = link_level(Axis::kX, sx > 0 ? x : x - 1);
      fn(resource(level, x, a.y, sx > 0 ? 0 : 1), level);
    }
    const std::int64_t sy = b.y > a.y ? 1 : -1;
    for (std::int64_t y = a.y; y != b.y; y += sy) {
      const int level = link_level(Axis::kY, sy > 0 ? y : y - 1);
      fn(resource(level, b.x, y, sy > 0 ? 2 : 3), level);
    }
  }
  // Sum of hop latencies along the XY route.
  double path_latency_s(Coord a, Coord b) const;
  // One direction across the cut between the two halves of `axis` (0 if the axis is 1 wide).
  double cut_bytes_per_s(Axis axis) const;

 private:
  std::size_t resource(int level, std::int64_t x, std::int64_t y, int direction) const;

  std::vector<std::int64_t> ext_x_, ext_y_;  // nodes per level unit along x / y
  std::vector<int> level_x_, level_y_;       // link level of hop pos -> pos+1
  std::vector<double> bandwidth_, latency_;  // per level
  std::vector<std::size_t> offset_;          // first resource index of each level
  std::size_t resource_count_ = 0;
};

}  // namespace dojo::accel
