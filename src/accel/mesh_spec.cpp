#include "accel/mesh_spec.hpp"

#include <algorithm>

#include "accel/topology.hpp"
#include "core/error.hpp"

namespace dojo::accel {

void validate(const MeshSpec& spec) {
  const auto& n = spec.node;
  DOJO_CHECK(!spec.levels.empty(), InvalidArgument, "mesh '{}': needs at least one level",
             spec.name);
  DOJO_CHECK(n.peak_flops_fp32 > 0 && n.peak_flops_bf16 > 0, InvalidArgument,
             "mesh '{}': node peak FLOP/s must be > 0 (fp32 {}, bf16 {})", spec.name,
             n.peak_flops_fp32, n.peak_flops_bf16);
  DOJO_CHECK(n.sram_bytes > 0 && n.sram_bytes_per_s > 0, InvalidArgument,
             "mesh '{}': node SRAM bytes and bandwidth must be > 0 (got {} B, {} B/s)", spec.name,
             n.sram_bytes, n.sram_bytes_per_s);
  for (std::size_t i = 0; i < spec.levels.size(); ++i) {
    const auto& level = spec.levels[i];
    DOJO_CHECK(level.grid.x >= 1 && level.grid.y >= 1, InvalidArgument,
               "mesh '{}': level {} ('{}') grid {}x{} must be at least 1x1", spec.name, i,
               level.name, level.grid.x, level.grid.y);
    DOJO_CHECK(level.link_bytes_per_s > 0 && level.hop_latency_s >= 0, InvalidArgument,
               "mesh '{}': level {} ('{}') needs link bandwidth > 0 and latency >= 0 "
               "(got {} B/s, {} s)",
               spec.name, i, level.name, level.link_bytes_per_s, level.hop_latency_s);
  }
  const std::int64_t per_chip = spec.levels[0].grid.count();
  DOJO_CHECK(spec.usable_nodes_per_chip >= 0 && spec.usable_nodes_per_chip <= per_chip,
             InvalidArgument,
             "mesh '{}': usable_nodes_per_chip {} must be in [0, {}] (0 means all)", spec.name,
             spec.usable_nodes_per_chip, per_chip);
  DOJO_CHECK(spec.dram.devices >= 0 && spec.dram.bytes_per_device >= 0 &&
                 spec.dram.bytes_per_s_per_device >= 0,
             InvalidArgument, "mesh '{}': off-mesh memory figures must be >= 0", spec.name);
}

std::int64_t nodes_per_chip_positions(const MeshSpec& spec) {
  return spec.levels[0].grid.count();
}

double usable_fraction(const MeshSpec& spec) {
  const auto positions = nodes_per_chip_positions(spec);
  if (spec.usable_nodes_per_chip == 0) return 1.0;
  return static_cast<double>(spec.usable_nodes_per_chip) / static_cast<double>(positions);
}

MeshTotals totals(const MeshSpec& spec) {
  validate(spec);
  const Topology topo(spec);
  MeshTotals t;
  t.grid_x = topo.grid_x();
  t.grid_y = topo.grid_y();
  t.positions = t.grid_x * t.grid_y;
  t.chips = t.positions / nodes_per_chip_positions(spec);
  const std::int64_t usable =
      spec.usable_nodes_per_chip == 0 ? nodes_per_chip_positions(spec) : spec.usable_nodes_per_chip;
  t.nodes = t.chips * usable;
  const auto nodes = static_cast<double>(t.nodes);
  t.peak_flops_fp32 = nodes * spec.node.peak_flops_fp32;
  t.peak_flops_bf16 = nodes * spec.node.peak_flops_bf16;
  t.peak_flops_cfp8 = nodes * spec.node.peak_flops_cfp8;
  t.sram_bytes = nodes * spec.node.sram_bytes;
  t.dram_bytes = spec.dram.total_bytes();
  t.dram_bytes_per_s = spec.dram.total_bytes_per_s();
  t.cut_x_bytes_per_s = topo.cut_bytes_per_s(Axis::kX);
  t.cut_y_bytes_per_s = topo.cut_bytes_per_s(Axis::kY);
  t.bisection_bytes_per_s = std::min(t.cut_x_bytes_per_s, t.cut_y_bytes_per_s);
  return t;
}

}  // namespace dojo::accel
