#include "accel/placement.hpp"

#include <algorithm>
#include <cmath>

#include "accel/topology.hpp"
#include "core/error.hpp"

namespace dojo::accel {

double region_dram_bytes_per_s(const MeshSpec& spec, const Rect& region) {
  const Topology topo(spec);
  const double all = static_cast<double>(topo.grid_x() * topo.grid_y());
  return spec.dram.total_bytes_per_s() * static_cast<double>(region.area()) / all;
}

SramFit sram_fit(const MeshSpec& spec, const Rect& region, const ReplicaFootprint& footprint) {
  SramFit fit;
  fit.region = region;
  fit.region_nodes = static_cast<double>(region.area()) * usable_fraction(spec);
  fit.capacity_bytes = fit.region_nodes * spec.node.sram_bytes;
  fit.footprint = footprint;
  const double need = footprint.total_bytes();
  fit.fits = need <= fit.capacity_bytes;
  fit.spill_bytes = std::max(0.0, need - fit.capacity_bytes);
  fit.spill_fraction = need > 0 ? fit.spill_bytes / need : 0;
  fit.dram_bytes_per_s = region_dram_bytes_per_s(spec, region);
  return fit;
}

SramFit place_replica(const MeshSpec& spec, const Rect& area, const ReplicaFootprint& footprint) {
  DOJO_CHECK(area.w >= 1 && area.h >= 1, InvalidArgument,
             "cannot place a replica in an empty {}x{} area", area.w, area.h);
  const double per_position = spec.node.sram_bytes * usable_fraction(spec);
  const auto need = static_cast<std::int64_t>(
      std::max(1.0, std::ceil(footprint.total_bytes() / per_position - 1e-9)));
  if (need >= area.area()) return sram_fit(spec, area, footprint);
  Rect best{area.x, area.y, area.w, area.h};
  for (std::int64_t h = 1; h <= area.h; ++h) {
    const std::int64_t w = (need + h - 1) / h;
    if (w > area.w) continue;
    const Rect candidate{area.x, area.y, w, h};
    const auto aspect = [](const Rect& r) {
      return static_cast<double>(std::max(r.w, r.h)) / static_cast<double>(std::min(r.w, r.h));
    };
    if (candidate.area() < best.area() ||
        (candidate.area() == best.area() && aspect(candidate) < aspect(best)))
      best = candidate;
  }
  return sram_fit(spec, best, footprint);
}

}  // namespace dojo::accel
