#include "accel/collectives.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace dojo::accel {

const char* to_string(CollectiveAlgo algo) {
  switch (algo) {
    case CollectiveAlgo::kAuto:
      return "auto";
    case CollectiveAlgo::kSnakeRing:
      return "ring";
    case CollectiveAlgo::kRing2d:
      return "ring2d";
    case CollectiveAlgo::kHierarchical:
      return "hierarchical";
  }
  return "?";
}

CollectiveAlgo parse_collective_algo(std::string_view name) {
  if (name == "auto") return CollectiveAlgo::kAuto;
  if (name == "ring") return CollectiveAlgo::kSnakeRing;
  if (name == "ring2d") return CollectiveAlgo::kRing2d;
  if (name == "hierarchical") return CollectiveAlgo::kHierarchical;
  throw InvalidArgument(fmt::format(
      "collective algorithm '{}' is not one of: auto, ring, ring2d, hierarchical", name));
}

UnitSet UnitSet::tiling(const Rect& rect, GridDims unit) {
  DOJO_ASSERT(unit.x >= 1 && unit.y >= 1 && rect.w % unit.x == 0 && rect.h % unit.y == 0,
              "rect {}x{} not a multiple of unit {}x{}", rect.w, rect.h, unit.x, unit.y);
  UnitSet set;
  set.shape = unit;
  set.ux = rect.w / unit.x;
  set.uy = rect.h / unit.y;
  for (std::int64_t j = 0; j < set.uy; ++j)
    for (std::int64_t i = 0; i < set.ux; ++i)
      set.origins.push_back({rect.x + i * unit.x, rect.y + j * unit.y});
  return set;
}

namespace {

// 0, 2, 4, ..., then the odd ones descending: consecutive entries differ by at most 2.
std::vector<std::int64_t> folded(std::int64_t n) {
  std::vector<std::int64_t> order;
  for (std::int64_t i = 0; i < n; i += 2) order.push_back(i);
  for (std::int64_t i = (n % 2 == 0 ? n - 1 : n - 2); i >= 1; i -= 2) order.push_back(i);
  return order;
}

// Hamiltonian cycle on ux x uy with uy even: along row 0, snake rows 1.. over columns
// 1..ux-1, back down column 0.
std::vector<std::int64_t> hamiltonian_even_rows(std::int64_t ux, std::int64_t uy) {
  std::vector<std::int64_t> order;
  for (std::int64_t i = 0; i < ux; ++i) order.push_back(i);
  for (std::int64_t j = 1; j < uy; ++j) {
    if (j % 2 == 1) {
      for (std::int64_t i = ux - 1; i >= 1; --i) order.push_back(j * ux + i);
    } else {
      for (std::int64_t i = 1; i < ux; ++i) order.push_back(j * ux + i);
    }
  }
  for (std::int64_t j = uy - 1; j >= 1; --j) order.push_back(j * ux);
  return order;
}

// Flows of one ring step: every member sends to the next, for every offset in the unit.
void append_ring_flows(const UnitSet& units, const std::vector<std::int64_t>& ring,
                       std::vector<Flow>& flows) {
  if (ring.size() < 2) return;
  for (std::size_t r = 0; r < ring.size(); ++r) {
    const Coord a = units.origins[static_cast<std::size_t>(ring[r])];
    const Coord b = units.origins[static_cast<std::size_t>(ring[(r + 1) % ring.size()])];
    for (std::int64_t oy = 0; oy < units.shape.y; ++oy)
      for (std::int64_t ox = 0; ox < units.shape.x; ++ox)
        flows.push_back({{a.x + ox, a.y + oy}, {b.x + ox, b.y + oy}});
  }
}

RingPhase make_phase(const Topology& topo, std::int64_t participants, double fraction,
                     const std::vector<Flow>& flows) {
  RingPhase phase;
  phase.participants = participants;
  phase.fraction = fraction;
  phase.step = profile_flows(topo, flows);
  return phase;
}

CollectivePlan plan_hierarchical(const Topology& topo, const Rect& rect) {
  CollectivePlan plan;
  plan.algo = CollectiveAlgo::kHierarchical;
  plan.units = rect.area();
  double fraction = 1;
  // Level l: within every level-l unit, ring over its level-(l-1) sub-units (nodes for
  // l = 0) per offset.
  for (int level = 0; level < topo.level_count(); ++level) {
    const std::int64_t sub_x = level == 0 ? 1 : topo.unit_extent(Axis::kX, level - 1);
    const std::int64_t sub_y = level == 0 ? 1 : topo.unit_extent(Axis::kY, level - 1);
    const std::int64_t ext_x = topo.unit_extent(Axis::kX, level);
    const std::int64_t ext_y = topo.unit_extent(Axis::kY, level);
    const bool spans = rect.x / sub_x != (rect.x + rect.w - 1) / sub_x ||
                       rect.y / sub_y != (rect.y + rect.h - 1) / sub_y;
    if (!spans) continue;  // the whole rectangle sits in one sub-unit: nothing to do here
    DOJO_CHECK(
        rect.x % sub_x == 0 && rect.y % sub_y == 0 && rect.w % sub_x == 0 && rect.h % sub_y == 0,
        InvalidArgument,
        "hierarchical all-reduce needs a rectangle aligned to level {} units ({}x{} nodes); "
        "got {}x{} at ({},{})",
        level - 1, sub_x, sub_y, rect.w, rect.h, rect.x, rect.y);
    std::vector<Flow> flows;
    std::int64_t participants = 1;
    // Each level-l unit's intersection with rect is one group.
    for (std::int64_t gy = rect.y / ext_y * ext_y; gy < rect.y + rect.h; gy += ext_y) {
      for (std::int64_t gx = rect.x / ext_x * ext_x; gx < rect.x + rect.w; gx += ext_x) {
        const std::int64_t x0 = std::max(gx, rect.x), y0 = std::max(gy, rect.y);
        const std::int64_t x1 = std::min(gx + ext_x, rect.x + rect.w);
        const std::int64_t y1 = std::min(gy + ext_y, rect.y + rect.h);
        const auto group = UnitSet::tiling({x0, y0, x1 - x0, y1 - y0}, {sub_x, sub_y});
        participants = std::max(participants, group.count());
        append_ring_flows(group, ring_order(group.ux, group.uy), flows);
      }
    }
    if (participants > 1) {
      plan.phases.push_back(make_phase(topo, participants, fraction, flows));
      fraction /= static_cast<double>(participants);
    }
  }
  return plan;
}

}  // namespace

std::vector<std::int64_t> ring_order(std::int64_t ux, std::int64_t uy) {
  DOJO_ASSERT(ux >= 1 && uy >= 1, "grid {}x{}", ux, uy);
  if (ux == 1 || uy == 1) return folded(ux * uy);  // a line: indices run along it
  if (uy % 2 == 0) return hamiltonian_even_rows(ux, uy);
  if (ux % 2 == 0) {
    // Transpose: build on a uy x ux grid and map (j', i') back.
    auto order = hamiltonian_even_rows(uy, ux);
    for (auto& index : order) index = (index % uy) * ux + index / uy;
    return order;
  }
  // Both sides odd: fold the boustrophedon path.
  std::vector<std::int64_t> path;
  for (std::int64_t j = 0; j < uy; ++j)
    for (std::int64_t i = 0; i < ux; ++i) path.push_back(j * ux + (j % 2 == 0 ? i : ux - 1 - i));
  std::vector<std::int64_t> order;
  for (const auto position : folded(ux * uy))
    order.push_back(path[static_cast<std::size_t>(position)]);
  return order;
}

double RingPhase::time_s(double payload_bytes_per_node) const {
  if (participants < 2) return 0;
  const double chunk = fraction * payload_bytes_per_node / static_cast<double>(participants);
  return 2.0 * static_cast<double>(participants - 1) * step.time_s(chunk);
}

double CollectivePlan::allreduce_s(double bytes) const {
  const double per_node = bytes / static_cast<double>(nodes_per_unit);
  double total = 0;
  for (const auto& phase : phases) total += phase.time_s(per_node);
  return total;
}

std::vector<double> CollectivePlan::bytes_per_level(double bytes) const {
  const double per_node = bytes / static_cast<double>(nodes_per_unit);
  std::vector<double> out;
  for (const auto& phase : phases) {
    if (out.size() < phase.step.hops_per_level.size())
      out.resize(phase.step.hops_per_level.size(), 0);
    const double chunk = phase.fraction * per_node / static_cast<double>(phase.participants);
    const double steps = 2.0 * static_cast<double>(phase.participants - 1);
    for (std::size_t l = 0; l < phase.step.hops_per_level.size(); ++l)
      out[l] += steps * chunk * phase.step.hops_per_level[l];
  }
  return out;
}

int CollectivePlan::max_link_level() const {
  int level = -1;
  for (const auto& phase : phases) level = std::max(level, phase.step.max_link_level);
  return level;
}

CollectivePlan plan_allreduce(const Topology& topo, const UnitSet& units, CollectiveAlgo algo) {
  DOJO_ASSERT(units.count() == units.ux * units.uy || units.uy == 1, "unit set {} vs {}x{}",
              units.count(), units.ux, units.uy);
  if (algo == CollectiveAlgo::kAuto) {
    algo = units.ux > 1 && units.uy > 1 && units.count() == units.ux * units.uy
               ? CollectiveAlgo::kRing2d
               : CollectiveAlgo::kSnakeRing;
  }
  if (algo == CollectiveAlgo::kHierarchical) {
    DOJO_CHECK(units.shape.count() == 1 && units.count() == units.ux * units.uy, InvalidArgument,
               "hierarchical all-reduce runs over a rectangle of nodes, not over {}x{} regions",
               units.shape.x, units.shape.y);
    return plan_hierarchical(
        topo, {units.origins.front().x, units.origins.front().y, units.ux, units.uy});
  }
  CollectivePlan plan;
  plan.algo = algo;
  plan.units = units.count();
  plan.nodes_per_unit = units.shape.count();
  if (units.count() < 2) return plan;
  if (algo == CollectiveAlgo::kSnakeRing) {
    std::vector<Flow> flows;
    append_ring_flows(units, ring_order(units.ux, units.uy), flows);
    plan.phases.push_back(make_phase(topo, units.count(), 1.0, flows));
    return plan;
  }
  // 2D: rows (each row of units its own ring), then columns on 1/ux of the payload.
  std::vector<Flow> row_flows, column_flows;
  for (std::int64_t j = 0; j < units.uy; ++j) {
    std::vector<std::int64_t> ring;
    for (const auto i : folded(units.ux)) ring.push_back(j * units.ux + i);
    append_ring_flows(units, ring, row_flows);
  }
  for (std::int64_t i = 0; i < units.ux; ++i) {
    std::vector<std::int64_t> ring;
    for (const auto j : folded(units.uy)) ring.push_back(j * units.ux + i);
    append_ring_flows(units, ring, column_flows);
  }
  if (units.ux > 1) plan.phases.push_back(make_phase(topo, units.ux, 1.0, row_flows));
  if (units.uy > 1)
    plan.phases.push_back(
        make_phase(topo, units.uy, 1.0 / static_cast<double>(units.ux), column_flows));
  return plan;
}

CollectivePlan plan_allreduce(const Topology& topo, const Rect& rect, CollectiveAlgo algo) {
  return plan_allreduce(topo, UnitSet::tiling(rect, {1, 1}), algo);
}

double ring_closed_form_s(std::int64_t participants, double hops, double hop_latency_s,
                          double bytes, double link_bytes_per_s) {
  if (participants < 2) return 0;
  const auto p = static_cast<double>(participants);
  return 2.0 * (p - 1) * (hops * hop_latency_s + bytes / (p * link_bytes_per_s));
}

}  // namespace dojo::accel
