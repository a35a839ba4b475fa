#pragma once
// What one kernel costs on the region a replica occupies (roofline per node, GEMMs tiled
// across the region with their operand broadcasts charged to links).
//
// Let N be the region's usable nodes, P the node's peak FLOP/s at the kernel's precision,
// V its non-GEMM (vector) FLOP/s (P unless the spec says otherwise), M its SRAM bandwidth.
//   Elementwise, reduction, attention-softmax and optimizer kernels split evenly:
//       compute = flops / (N V),   sram = bytes / (N M).
//   GEMM C(m,n) += A(m,k) B(k,n), `batch` times, the cheaper of:
//     SUMMA over the region's h x w node grid: node (r, c) owns the C block of
//       ceil(m/h) x ceil(n/w); A's block row is broadcast along each node row and B's
//       block column along each node column (pipelined line broadcasts, one per operand):
//       compute = batch 2 ceil(m/h) ceil(n/w) k / P
//       link    = batch (ceil(m/h) k e / B_row + k ceil(n/w) e / B_col)
//       latency = hops along a row + hops along a column (once: the pipeline fills once)
//       where e is the element size and B_row, B_col a node's share of the links its row /
//       column broadcast crosses, found by simulating every node sending to its
//       neighbour at once (so rows crossing a chip edge share that edge);
//     batch-parallel (batch > 1): every node runs whole GEMMs of its batch share:
//       compute = ceil(batch / N) 2 m n k / P, no links.
//   Off-mesh: the replica's spill fraction of the kernel's bytes, or everything beyond
//     the region's SRAM if the kernel alone does not fit, moves at the region's off-mesh
//     bandwidth.
//   time = max(compute, sram, link, off-mesh) + latency: broadcasts and off-mesh streams
//   overlap compute (double-buffered), their startup latency does not.
// A spec with a host calibration (the `host` preset) replaces all of this: the kernel
// takes what its class measured on this machine at N threads (host_calibration.hpp), and
// `bound` names the class.
#include <string>

#include "accel/cost_sink.hpp"
#include "accel/flows.hpp"
#include "accel/placement.hpp"

namespace dojo::accel {

struct KernelCost {
  double compute_s = 0;
  double sram_s = 0;
  double link_s = 0;
  double dram_s = 0;
  double latency_s = 0;
  double time_s = 0;
  double link_bytes = 0;          // operand bytes broadcast over links
  int link_level = -1;            // outermost level the broadcasts cross (-1: none)
  bool fits = true;               // the kernel's working set fits in the region's SRAM
  const char* bound = "compute";  // compute | sram | link | dram (host: the kernel class)
};

class KernelCostModel {
 public:
  // `fit` gives the region, its capacity, spill fraction and off-mesh bandwidth.
  KernelCostModel(const MeshSpec& spec, const Topology& topo, const SramFit& fit);
  KernelCost cost(const KernelRecord& record) const;
  double region_peak_flops(Precision precision) const {
    return nodes_ * spec_.node.peak_flops(precision);
  }

 private:
  const MeshSpec& spec_;
  SramFit fit_;
  double nodes_ = 1;         // usable nodes
  double per_position_ = 1;  // usable nodes per grid position
  double row_s_per_byte_ = 0, col_s_per_byte_ = 0;
  double row_latency_s_ = 0, col_latency_s_ = 0;
  int row_level_ = -1, col_level_ = -1;
};

}  // namespace dojo::accel
