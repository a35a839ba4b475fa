#include "accel/mesh_cost_model.hpp"

#include <cmath>
#include <fstream>
#include <map>

#include "accel/mesh_io.hpp"
#include "core/error.hpp"

namespace dojo::accel {

UnitSet tiled_replicas(const Rect& area, GridDims shape, std::int64_t replicas) {
  DOJO_CHECK(replicas >= 1, InvalidArgument, "replicas must be >= 1, got {}", replicas);
  const Rect region{area.x, area.y, shape.x, shape.y};
  const std::int64_t max_ux = area.w / region.w;
  const std::int64_t max_uy = area.h / region.h;
  DOJO_CHECK(max_ux * max_uy >= replicas, InvalidArgument,
             "{} replicas of {}x{} nodes do not fit in a {}x{} area at ({},{}) (at most {})",
             replicas, region.w, region.h, area.w, area.h, area.x, area.y, max_ux * max_uy);
  // The squarest full grid if there is one, else the squarest partial one.
  std::int64_t best_ux = 0;
  bool best_full = false;
  for (std::int64_t ux = 1; ux <= std::min(max_ux, replicas); ++ux) {
    const std::int64_t uy = (replicas + ux - 1) / ux;
    if (uy > max_uy) continue;
    const bool full = ux * uy == replicas;
    const auto skew = [&](std::int64_t a) {
      const std::int64_t b = (replicas + a - 1) / a;
      return std::abs(static_cast<double>(a * region.w - b * region.h));
    };
    if (best_ux == 0 || (full && !best_full) || (full == best_full && skew(ux) < skew(best_ux))) {
      best_ux = ux;
      best_full = full;
    }
  }
  UnitSet set;
  set.shape = {region.w, region.h};
  const std::int64_t ux = best_ux, uy = (replicas + ux - 1) / ux;
  const auto origin = [&](std::int64_t i, std::int64_t j) {
    return Coord{region.x + i * region.w, region.y + j * region.h};
  };
  if (best_full) {
    set.ux = ux;
    set.uy = uy;
    for (std::int64_t j = 0; j < uy; ++j)
      for (std::int64_t i = 0; i < ux; ++i) set.origins.push_back(origin(i, j));
  } else {
    // Rows in snake order so that consecutive regions touch; a line for the ring.
    for (std::int64_t n = 0; n < replicas; ++n) {
      const std::int64_t j = n / ux, i = j % 2 == 0 ? n % ux : ux - 1 - n % ux;
      set.origins.push_back(origin(i, j));
    }
    set.ux = replicas;
    set.uy = 1;
  }
  return set;
}

UnitSet partition_replicas(const Partition& partition, GridDims shape) {
  UnitSet set;
  set.shape = shape;
  for (const auto& block : partition.blocks()) {
    DOJO_CHECK(block.w >= shape.x && block.h >= shape.y, InvalidArgument,
               "replica region {}x{} does not fit in rank block {}x{}", shape.x, shape.y, block.w,
               block.h);
  }
  const std::int64_t ranks = partition.ranks();
  const std::int64_t columns = partition.columns();
  if (ranks % columns == 0) {
    // A regular grid: rank = column * rows + row.
    const std::int64_t rows = ranks / columns;
    set.ux = columns;
    set.uy = rows;
    for (std::int64_t j = 0; j < rows; ++j)
      for (std::int64_t i = 0; i < columns; ++i) {
        const auto& b = partition.block(i * rows + j);
        set.origins.push_back({b.x, b.y});
      }
  } else {
    for (const auto rank : partition.snake_order()) {
      const auto& b = partition.block(rank);
      set.origins.push_back({b.x, b.y});
    }
    set.ux = ranks;
    set.uy = 1;
  }
  return set;
}

HostLayout replica_host_layout(const Topology& topo, const UnitSet& replicas) {
  const std::int64_t ex = topo.unit_extent(Axis::kX, 0), ey = topo.unit_extent(Axis::kY, 0);
  std::map<std::pair<std::int64_t, std::int64_t>, std::int64_t> on_host;
  for (const auto& o : replicas.origins) ++on_host[{o.x / ex, o.y / ey}];
  HostLayout layout;
  layout.hosts = std::max<std::int64_t>(1, static_cast<std::int64_t>(on_host.size()));
  for (const auto& [host, count] : on_host)
    layout.ranks_per_host = std::max(layout.ranks_per_host, count);
  return layout;
}

MeshCostModel::MeshCostModel(MeshSpec spec, const Rect& region, std::int64_t replicas,
                             MeshCostOptions options)
    : MeshCostModel(spec,
                    tiled_replicas({region.x, region.y, Topology(spec).grid_x() - region.x,
                                    Topology(spec).grid_y() - region.y},
                                   {region.w, region.h}, replicas),
                    0, options) {}

MeshCostModel::MeshCostModel(MeshSpec spec, UnitSet replicas, std::size_t self,
                             MeshCostOptions options)
    : spec_(std::move(spec)),
      topo_(std::make_unique<Topology>(spec_)),
      options_(options),
      replicas_(std::move(replicas)) {
  DOJO_CHECK(self < replicas_.origins.size(), InvalidArgument, "replica {} of {} does not exist",
             self, replicas_.origins.size());
  const Coord o = replicas_.origins[self];
  const Rect region{o.x, o.y, replicas_.shape.x, replicas_.shape.y};
  DOJO_CHECK(region.w >= 1 && region.h >= 1 && topo_->contains(o) &&
                 topo_->contains({o.x + region.w - 1, o.y + region.h - 1}),
             InvalidArgument, "replica region {}x{} at ({},{}) is not inside the {}x{} mesh '{}'",
             region.w, region.h, o.x, o.y, topo_->grid_x(), topo_->grid_y(), spec_.name);
  layout_ = replica_host_layout(*topo_, replicas_);
  fit_ = accel::sram_fit(spec_, region, options_.footprint);
  kernels_ = std::make_unique<KernelCostModel>(spec_, *topo_, fit_);
}

MeshCostModel::~MeshCostModel() = default;

void MeshCostModel::begin_step() {
  current_.clear();
}

SimStepResult MeshCostModel::end_step() {
  last_ = current_;
  last_result_ = last_.finish(kernels_->region_peak_flops(Precision::kFp32),
                              kernels_->region_peak_flops(Precision::kBf16));
  current_.clear();
  return last_result_;
}

void MeshCostModel::on_kernel(const KernelRecord& record) {
  const auto cost = kernels_->cost(record);
  if (!cost.fits && fit_.first_unfit_kernel.empty()) {
    fit_.first_unfit_kernel = std::string(record.name);
    fit_.first_unfit_kernel_bytes = record.bytes;
  }
  current_.add_kernel(record, cost);
}

const CollectivePlan& MeshCostModel::collective_plan() {
  if (!plan_) {
    plan_ = plan_allreduce(*topo_, replicas_, options_.algo);
    // A node reads its own chunk and writes the sum at SRAM bandwidth; the incoming chunk
    // streams in from the link.
    plan_->reduce_s_per_byte = 2.0 / spec_.node.sram_bytes_per_s;
  }
  return *plan_;
}

double MeshCostModel::allreduce_s(double bytes) {
  if (spec_.host) return host_allreduce_s(*spec_.host, options_.host_algo, bytes, layout_);
  return collective_plan().allreduce_s(bytes);
}

void MeshCostModel::on_collective(const CollectiveRecord& record) {
  DOJO_CHECK(record.ranks == 1 || record.ranks == replicas_.count(), InvalidArgument,
             "collective '{}' over {} ranks, but the mesh model holds {} replicas", record.name,
             record.ranks, replicas_.count());
  double time = 0;
  std::vector<double> per_level;
  if (record.ranks > 1 && spec_.host) {
    const double share = record.kind == CollectiveKind::kBroadcast ? 0.5 : 1.0;
    time = share * host_allreduce_s(*spec_.host, options_.host_algo, record.bytes, layout_);
    per_level = {share * record.bytes};
  } else if (record.ranks > 1) {
    const auto& plan = collective_plan();
    const double share = record.kind == CollectiveKind::kBroadcast ? 0.5 : 1.0;
    time = share * plan.allreduce_s(record.bytes);
    per_level = plan.bytes_per_level(record.bytes);
    for (auto& b : per_level) b *= share;
  }
  current_.add_collective(record.name, record.bytes, time, record.async, per_level);
}

nlohmann::json MeshCostModel::chrome_trace() const {
  // Node groups: the chips the region overlaps (at most 16 tracks; the rest are identical).
  std::vector<std::string> groups;
  const auto cx = topo_->unit_extent(Axis::kX, 0), cy = topo_->unit_extent(Axis::kY, 0);
  const Rect& r = fit_.region;
  for (std::int64_t y = r.y / cy * cy; y < r.y + r.h && groups.size() < 16; y += cy) {
    for (std::int64_t x = r.x / cx * cx; x < r.x + r.w && groups.size() < 16; x += cx) {
      const std::int64_t w = std::min(x + cx, r.x + r.w) - std::max(x, r.x);
      const std::int64_t h = std::min(y + cy, r.y + r.h) - std::max(y, r.y);
      groups.push_back(
          fmt::format("nodes: {} ({},{}) {}x{}", spec_.levels[0].name, x / cx, y / cy, w, h));
    }
  }
  std::vector<std::string> levels;
  for (std::size_t l = 0; l < spec_.levels.size(); ++l) {
    levels.push_back(l == 0 ? fmt::format("links L0: node-node in {}", spec_.levels[0].name)
                            : fmt::format("links L{}: {} edges in {}", l, spec_.levels[l - 1].name,
                                          spec_.levels[l].name));
  }
  return last_.chrome_trace(groups, levels, report_json());
}

void MeshCostModel::write_chrome_trace(const std::string& path) const {
  std::ofstream out(path);
  DOJO_CHECK(out.good(), IoError, "cannot write trace file '{}'", path);
  out << chrome_trace().dump() << "\n";
  DOJO_CHECK(out.good(), IoError, "failed writing trace file '{}'", path);
}

nlohmann::json MeshCostModel::report_json() const {
  const auto& f = fit_;
  nlohmann::json fit = {
      {"region", {{"x", f.region.x}, {"y", f.region.y}, {"w", f.region.w}, {"h", f.region.h}}},
      {"region_nodes", f.region_nodes},
      {"capacity_bytes", f.capacity_bytes},
      {"required_bytes", f.footprint.total_bytes()},
      {"param_bytes", f.footprint.param_bytes},
      {"grad_bytes", f.footprint.grad_bytes},
      {"optimizer_bytes", f.footprint.optimizer_bytes},
      {"activation_bytes", f.footprint.activation_bytes},
      {"fits", f.fits},
      {"spill_bytes", f.spill_bytes},
      {"dram_bytes_per_s", f.dram_bytes_per_s},
      {"first_unfit_kernel", f.first_unfit_kernel},
      {"first_unfit_kernel_bytes", f.first_unfit_kernel_bytes}};
  const auto& s = last_result_;
  return {{"preset", spec_.name},
          {"replicas", replicas_.count()},
          {"collective", to_string(options_.algo)},
          {"sram_fit", fit},
          {"step",
           {{"step_s", s.step_s},
            {"compute_s", s.compute_s},
            {"comm_s", s.comm_s},
            {"comm_total_s", s.comm_total_s},
            {"utilization", s.utilization},
            {"flops", s.flops},
            {"peak_flops_per_s", s.peak_flops_per_s}}}};
}

std::unique_ptr<MeshCostModel> make_rank_cost_model(const MeshSpec& spec, int rank, int ranks,
                                                    MeshCostOptions options) {
  DOJO_CHECK(ranks >= 1 && rank >= 0 && rank < ranks, InvalidArgument, "rank {} is not in [0, {})",
             rank, ranks);
  const Topology topo(spec);
  const Partition partition(topo, ranks);
  const Rect* smallest = &partition.block(0);
  for (const auto& block : partition.blocks())
    if (block.area() < smallest->area()) smallest = &block;
  const auto fit = place_replica(spec, *smallest, options.footprint);
  auto units = partition_replicas(partition, {fit.region.w, fit.region.h});
  // partition_replicas orders the units as a grid or in snake order: find this rank's.
  const auto& mine = partition.block(rank);
  std::size_t self = units.origins.size();
  for (std::size_t i = 0; i < units.origins.size(); ++i)
    if (units.origins[i] == Coord{mine.x, mine.y}) self = i;
  DOJO_ASSERT(self < units.origins.size(), "rank {} block not among the replica regions", rank);
  return std::make_unique<MeshCostModel>(spec, std::move(units), self, options);
}

}  // namespace dojo::accel
