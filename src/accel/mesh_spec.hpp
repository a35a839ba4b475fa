#pragma once
// MeshSpec: a Dojo-style accelerator described as a hierarchy of 2D grids.
//
// Words used throughout accel/:
//   node    the smallest compute unit (a Dojo "training node": core + SRAM).
//   level   one grid of the hierarchy. levels[0] is the grid of nodes on a chip; levels[i]
//           (i > 0) is the grid of level-(i-1) units inside one level-i unit (chips on a
//           tile, tiles in a tray, ...). The outermost level is the whole system.
//   link    levels[0].link_bytes_per_s is the bandwidth of one node-to-node link, per
//           direction. For i > 0 it is the bandwidth of one *edge* of a level-(i-1) unit
//           towards its neighbour (e.g. a D1 chip edge, 4 TB/s), per direction, shared by
//           every row or column of nodes that crosses that edge. A 1x1 level is allowed:
//           it only states the edge bandwidth of the unit inside it (a lone D1's edges).
//   global grid   every node position of the system as one 2D grid; a hop between two
//           adjacent positions uses the link of the outermost level whose boundary it
//           crosses.
// A chip may carry spare nodes: `usable_nodes_per_chip` of its grid positions compute,
// the rest only route (D1: 354 of an assumed 18x20 array). Compute and SRAM totals count
// usable nodes; routing and partitioning work on grid positions.
#include <cstdint>
#include <string>
#include <vector>

#include <optional>

#include "accel/cost_sink.hpp"
#include "accel/host_calibration.hpp"

namespace dojo::accel {

struct GridDims {
  std::int64_t x = 1;
  std::int64_t y = 1;
  std::int64_t count() const { return x * y; }
  bool operator==(const GridDims&) const = default;
};

struct MeshLevel {
  std::string name;  // "chip", "tile", "system", ...
  GridDims grid;     // children per side
  double link_bytes_per_s = 0;
  double hop_latency_s = 0;
};

struct NodeSpec {
  double peak_flops_fp32 = 0;
  double peak_flops_bf16 = 0;
  double peak_flops_cfp8 = 0;
  double sram_bytes = 0;
  double sram_bytes_per_s = 0;  // load bandwidth of one node's SRAM
  double clock_hz = 0;          // informational
  // FLOP/s of non-GEMM work (elementwise, reductions, softmax, optimizer); 0 means the
  // precision's peak. A host runs these far below its sgemm rate (erf, exp, scalar loops).
  double vector_flops_per_s = 0;
  double peak_flops(Precision precision) const {
    return precision == Precision::kBf16 ? peak_flops_bf16 : peak_flops_fp32;
  }
  double vector_flops(Precision precision) const {
    return vector_flops_per_s > 0 ? vector_flops_per_s : peak_flops(precision);
  }
};

// Memory outside the mesh (Dojo's interface processors with HBM; a host's DRAM).
struct OffMeshMemory {
  std::int64_t devices = 0;
  double bytes_per_device = 0;
  double bytes_per_s_per_device = 0;
  double total_bytes() const { return static_cast<double>(devices) * bytes_per_device; }
  double total_bytes_per_s() const { return static_cast<double>(devices) * bytes_per_s_per_device; }
};

struct MeshSpec {
  std::string name;
  std::string description;
  NodeSpec node;
  std::vector<MeshLevel> levels;           // innermost (nodes on a chip) first
  std::int64_t usable_nodes_per_chip = 0;  // 0: every grid position is a usable node
  OffMeshMemory dram;
  // Where each figure comes from and which are assumptions (free text, printed by `dojo mesh`).
  std::vector<std::string> notes;
  // Measured kernel-class rates and link curves (the calibrated `host` preset only): when
  // set, kernels and all-reduces are charged from them instead of the roofline.
  std::optional<HostCalibration> host;
};

// Totals derived from a spec (what `dojo mesh` prints and the preset tests check).
struct MeshTotals {
  std::int64_t grid_x = 0, grid_y = 0;  // global grid of node positions
  std::int64_t positions = 0;           // grid_x * grid_y
  std::int64_t chips = 0;
  std::int64_t nodes = 0;  // usable nodes
  double peak_flops_fp32 = 0, peak_flops_bf16 = 0, peak_flops_cfp8 = 0;
  double sram_bytes = 0;
  double dram_bytes = 0, dram_bytes_per_s = 0;
  // One direction across the cut that halves the x axis / the y axis of the global grid.
  double cut_x_bytes_per_s = 0, cut_y_bytes_per_s = 0;
  double bisection_bytes_per_s = 0;  // min of the two cuts
};

// Throws InvalidArgument naming the spec and field when a value is out of its domain.
void validate(const MeshSpec& spec);
MeshTotals totals(const MeshSpec& spec);
// Usable nodes per grid position (1 without spares; 354/360 for D1).
double usable_fraction(const MeshSpec& spec);
std::int64_t nodes_per_chip_positions(const MeshSpec& spec);

}  // namespace dojo::accel
