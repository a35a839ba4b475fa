#pragma once
// All-reduce on the mesh: ring along a snake path, 2D ring (rows then columns), and
// hierarchical (chip -> tile -> system), simulated as concurrent flows (flows.hpp).
//
// Words:
//   unit     a block of nodes taking part as one participant: a single node for a
//            collective over a rectangle of nodes, a replica's region for the gradient
//            all-reduce between data-parallel replicas. All units have the same shape.
//   offset   a node's position inside its unit. A unit's payload is spread over its
//            nodes; the collective runs one ring per offset, all at once, so node
//            (unit u, offset o) only ever talks to (unit v, offset o).
//   phase    rings of p participants doing a reduce-scatter and later an all-gather:
//            2(p - 1) steps, each moving (payload fraction x S / p) bytes per flow. All
//            steps of a phase move the same flows, so one step is simulated.
// Ring orders keep neighbours close: a Hamiltonian cycle (every step one unit apart)
// when the unit grid has an even side, else the snake path folded back on itself
// (0, 2, 4, ..., 5, 3, 1: every step at most two units apart, every link used once per
// direction). Closed forms: a phase of p participants whose steps are h hops of latency
// a on links of bandwidth B, uncontended, takes 2(p-1)(h a + f S / (p B)).
#include <cstdint>
#include <string_view>
#include <vector>

#include "accel/flows.hpp"
#include "accel/partition.hpp"

namespace dojo::accel {

enum class CollectiveAlgo { kAuto, kSnakeRing, kRing2d, kHierarchical };
const char* to_string(CollectiveAlgo algo);
// "auto", "ring", "ring2d", "hierarchical"; throws InvalidArgument otherwise.
CollectiveAlgo parse_collective_algo(std::string_view name);

// Units on a ux x uy grid, origins[j * ux + i] the lowest corner of unit (i, j).
struct UnitSet {
  std::vector<Coord> origins;
  GridDims shape;  // nodes per unit
  std::int64_t ux = 1, uy = 1;
  // Units of shape `unit` tiling `rect` from its corner (rect must be a multiple of it).
  static UnitSet tiling(const Rect& rect, GridDims unit);
  std::int64_t count() const { return static_cast<std::int64_t>(origins.size()); }
};

// Ring order over a ux x uy grid of unit indices (j * ux + i), as described above.
std::vector<std::int64_t> ring_order(std::int64_t ux, std::int64_t uy);

struct RingPhase {
  std::int64_t participants = 1;
  double fraction = 1;  // share of the per-node payload each ring of this phase reduces
  FlowProfile step;     // one step's flows
  double time_s(double payload_bytes_per_node) const;
};

struct CollectivePlan {
  CollectiveAlgo algo = CollectiveAlgo::kSnakeRing;
  std::int64_t units = 1;
  std::int64_t nodes_per_unit = 1;
  std::vector<RingPhase> phases;
  // All-reduce of `bytes` per unit (spread evenly over the unit's nodes).
  double allreduce_s(double bytes) const;
  // Bytes crossing links of each level during that all-reduce (sum over hops).
  std::vector<double> bytes_per_level(double bytes) const;
  int max_link_level() const;
};

// Plans an all-reduce among the units. kAuto: 2D ring on a full grid with both sides > 1,
// else the snake ring. kHierarchical needs 1x1 units tiling a rectangle aligned to the
// chips (and tiles, ...) it spans; throws InvalidArgument otherwise.
CollectivePlan plan_allreduce(const Topology& topo, const UnitSet& units, CollectiveAlgo algo);
// All-reduce among the nodes of `rect` (1x1 units).
CollectivePlan plan_allreduce(const Topology& topo, const Rect& rect, CollectiveAlgo algo);

// Closed form for one uncontended ring phase (see above).
double ring_closed_form_s(std::int64_t participants, double hops, double hop_latency_s,
                          double bytes, double link_bytes_per_s);

}  // namespace dojo::accel
