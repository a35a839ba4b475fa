#include "accel/kernel_cost.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace dojo::accel {

namespace {

double ceil_div(std::int64_t a, std::int64_t b) {
  return static_cast<double>((a + b - 1) / b);
}

// Seconds per byte for a node's share of the links when every node of the region sends
// to its neighbour along `axis` at once.
FlowProfile neighbour_profile(const Topology& topo, const Rect& r, Axis axis) {
  std::vector<Flow> flows;
  for (std::int64_t y = r.y; y < r.y + r.h; ++y) {
    for (std::int64_t x = r.x; x < r.x + r.w; ++x) {
      if (axis == Axis::kX && x + 1 < r.x + r.w) flows.push_back({{x, y}, {x + 1, y}});
      if (axis == Axis::kY && y + 1 < r.y + r.h) flows.push_back({{x, y}, {x, y + 1}});
    }
  }
  return profile_flows(topo, flows);
}

double max_s_per_byte(const FlowProfile& profile) {
  double spb = 0;
  for (const auto& term : profile.terms) spb = std::max(spb, term.s_per_byte);
  return spb;
}

double element_bytes(Precision precision) {
  return precision == Precision::kBf16 ? 2.0 : 4.0;
}

}  // namespace

KernelCostModel::KernelCostModel(const MeshSpec& spec, const Topology& topo, const SramFit& fit)
    : spec_(spec), fit_(fit) {
  const Rect& r = fit.region;
  per_position_ = usable_fraction(spec);
  nodes_ = static_cast<double>(r.area()) * per_position_;
  const auto rows = neighbour_profile(topo, r, Axis::kX);
  const auto cols = neighbour_profile(topo, r, Axis::kY);
  row_s_per_byte_ = max_s_per_byte(rows);
  col_s_per_byte_ = max_s_per_byte(cols);
  row_level_ = rows.max_link_level;
  col_level_ = cols.max_link_level;
  row_latency_s_ = topo.path_latency_s({r.x, r.y}, {r.x + r.w - 1, r.y});
  col_latency_s_ = topo.path_latency_s({r.x, r.y}, {r.x, r.y + r.h - 1});
}

KernelCost KernelCostModel::cost(const KernelRecord& record) const {
  KernelCost c;
  if (spec_.host) {
    // A calibrated host: the replica's N cores run the kernel with N threads, at the rate
    // measured for its class.
    c.time_s = c.compute_s =
        spec_.host->kernel_s(record, static_cast<int>(std::max(1.0, std::round(nodes_))));
    c.fits = record.bytes <= fit_.capacity_bytes;
    c.bound = to_string(kernel_class_of(record));
    return c;
  }
  const double peak = spec_.node.peak_flops(record.precision);
  c.sram_s = record.bytes / (nodes_ * spec_.node.sram_bytes_per_s);
  c.compute_s = record.flops / (nodes_ * spec_.node.vector_flops(record.precision));
  if (record.kind == KernelKind::kGemm && record.m > 0 && record.n > 0 && record.k > 0) {
    const std::int64_t batch = std::max<std::int64_t>(1, record.batch);
    const std::int64_t h = fit_.region.h, w = fit_.region.w;
    const double e = element_bytes(record.precision);
    const double mb = ceil_div(record.m, h), nb = ceil_div(record.n, w);
    const double k = static_cast<double>(record.k);
    const auto b = static_cast<double>(batch);
    // SUMMA; spare positions (per_position_ < 1) slow every node's share proportionally.
    const double summa_compute = b * 2.0 * mb * nb * k / (peak * per_position_);
    const double a_bytes = w > 1 ? b * mb * k * e : 0;
    const double b_bytes = h > 1 ? b * k * nb * e : 0;
    const double summa_link = a_bytes * row_s_per_byte_ + b_bytes * col_s_per_byte_;
    const double summa_latency = (w > 1 ? row_latency_s_ : 0) + (h > 1 ? col_latency_s_ : 0);
    const double summa = std::max(summa_compute, summa_link) + summa_latency;
    const double per_gemm = 2.0 * static_cast<double>(record.m) * static_cast<double>(record.n) * k;
    const double parallel_compute = std::ceil(b / nodes_) * per_gemm / peak;
    if (batch > 1 && parallel_compute <= summa) {
      c.compute_s = parallel_compute;
    } else {
      c.compute_s = summa_compute;
      c.link_s = summa_link;
      c.latency_s = summa_latency;
      c.link_bytes = (a_bytes + b_bytes) * static_cast<double>(fit_.region.area());
      c.link_level = std::max(w > 1 ? row_level_ : -1, h > 1 ? col_level_ : -1);
    }
  }
  // Off-mesh traffic: the spilled share, or what exceeds SRAM if the kernel alone does not fit.
  c.fits = record.bytes <= fit_.capacity_bytes;
  const double off_mesh_bytes =
      std::max(record.bytes * fit_.spill_fraction, record.bytes - fit_.capacity_bytes);
  if (off_mesh_bytes > 0 && fit_.dram_bytes_per_s > 0)
    c.dram_s = off_mesh_bytes / fit_.dram_bytes_per_s;
  c.time_s = c.compute_s;
  c.bound = "compute";
  if (c.sram_s > c.time_s) c.time_s = c.sram_s, c.bound = "sram";
  if (c.link_s > c.time_s) c.time_s = c.link_s, c.bound = "link";
  if (c.dram_s > c.time_s) c.time_s = c.dram_s, c.bound = "dram";
  c.time_s += c.latency_s;
  return c;
}

}  // namespace dojo::accel
