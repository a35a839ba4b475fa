#include "accel/topology.hpp"

#include "core/error.hpp"

namespace dojo::accel {

namespace {

// Level of the hop pos -> pos+1 given nodes per unit at each level (ext).
std::vector<int> hop_levels(const std::vector<std::int64_t>& ext) {
  const std::int64_t n = ext.back();
  std::vector<int> levels(static_cast<std::size_t>(n > 0 ? n - 1 : 0), 0);
  for (std::int64_t pos = 0; pos + 1 < n; ++pos) {
    int level = 0;
    // Same level-l unit iff pos / ext[l] == (pos+1) / ext[l]; find the first level where so.
    while ((pos + 1) % ext[static_cast<std::size_t>(level)] == 0) ++level;
    levels[static_cast<std::size_t>(pos)] = level;
  }
  return levels;
}

}  // namespace

Topology::Topology(const MeshSpec& spec) {
  validate(spec);
  std::int64_t ex = 1, ey = 1;
  for (const auto& level : spec.levels) {
    ex *= level.grid.x;
    ey *= level.grid.y;
    ext_x_.push_back(ex);
    ext_y_.push_back(ey);
    bandwidth_.push_back(level.link_bytes_per_s);
    latency_.push_back(level.hop_latency_s);
  }
  level_x_ = hop_levels(ext_x_);
  level_y_ = hop_levels(ext_y_);
  offset_.push_back(0);
  resource_count_ = static_cast<std::size_t>(ex * ey) * 4;
  for (std::size_t l = 1; l < spec.levels.size(); ++l) {
    offset_.push_back(resource_count_);
    const auto units = (ex / ext_x_[l - 1]) * (ey / ext_y_[l - 1]);
    resource_count_ += static_cast<std::size_t>(units) * 4;
  }
}

std::int64_t Topology::unit_extent(Axis axis, int level) const {
  DOJO_ASSERT(level >= 0 && level < level_count(), "level {}", level);
  return axis == Axis::kX ? ext_x_[static_cast<std::size_t>(level)]
                          : ext_y_[static_cast<std::size_t>(level)];
}

std::size_t Topology::resource(int level, std::int64_t x, std::int64_t y, int direction) const {
  if (level == 0) return static_cast<std::size_t>((y * grid_x() + x) * 4 + direction);
  const auto l = static_cast<std::size_t>(level - 1);
  const std::int64_t units_x = grid_x() / ext_x_[l];
  const std::int64_t unit = (y / ext_y_[l]) * units_x + x / ext_x_[l];
  return offset_[static_cast<std::size_t>(level)] + static_cast<std::size_t>(unit * 4 + direction);
}

double Topology::path_latency_s(Coord a, Coord b) const {
  double latency = 0;
  route(a, b, [&](std::size_t, int level) { latency += hop_latency_s(level); });
  return latency;
}

double Topology::cut_bytes_per_s(Axis axis) const {
  const std::int64_t along = axis == Axis::kX ? grid_x() : grid_y();
  const std::int64_t across = axis == Axis::kX ? grid_y() : grid_x();
  if (along < 2) return 0;
  const int level = link_level(axis, along / 2 - 1);
  if (level == 0) return static_cast<double>(across) * link_bytes_per_s(0);
  // Edges of level-(l-1) units: one per unit along the other axis.
  const auto other = axis == Axis::kX ? Axis::kY : Axis::kX;
  const std::int64_t edges = across / unit_extent(other, level - 1);
  return static_cast<double>(edges) * link_bytes_per_s(level);
}

}  // namespace dojo::accel
