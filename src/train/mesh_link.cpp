#include "train/mesh_link.hpp"

#include "accel/mesh_cost_model.hpp"
#include "accel/partition.hpp"
#include "accel/placement.hpp"
#include "accel/presets.hpp"
#include "accel/topology.hpp"
#include "core/log.hpp"

namespace dojo::train {

MeshLink::MeshLink(const std::string& preset, const model::VideoMAE& model, int rank, int ranks)
    : ranks_(ranks) {
  accel::MeshSpec spec = accel::resolve_preset(preset);
  const accel::Topology topo(spec);
  const accel::Partition partition(topo, ranks);
  // fp32 master weights, gradients and two AdamW moments, plus the activation arena.
  const double param_bytes = 4.0 * static_cast<double>(model.table().total);
  accel::ReplicaFootprint footprint{param_bytes, param_bytes, 2 * param_bytes,
                                    static_cast<double>(model.activation_bytes())};
  const accel::SramFit fit = accel::place_replica(spec, partition.block(rank), footprint);
  const auto replicas = accel::partition_replicas(partition, {fit.region.w, fit.region.h});
  if (rank == 0) {
    log::info("mesh '{}': {} ranks, each a {}x{}-node block; a replica takes {}x{} nodes ({})",
              preset, ranks, partition.block(0).w, partition.block(0).h, fit.region.w, fit.region.h,
              fit.fits ? "fits in SRAM"
                       : fmt::format("spills {:.1f} MB off-mesh", fit.spill_bytes / 1e6));
  }
  mesh_ = std::make_unique<accel::MeshCostModel>(std::move(spec), replicas,
                                                 static_cast<std::size_t>(rank),
                                                 accel::MeshCostOptions{.footprint = footprint});
}

MeshLink::~MeshLink() = default;

accel::CostSink& MeshLink::sink() {
  return *mesh_;
}

void MeshLink::begin_step() {
  bucket_ = 0;
  mesh_->begin_step();
}

void MeshLink::gradient_bucket_ready(std::size_t bytes) {
  const std::string name = fmt::format("grad_bucket.{}", bucket_++);
  mesh_->on_collective({.name = name,
                        .kind = accel::CollectiveKind::kAllReduce,
                        .bytes = static_cast<double>(bytes),
                        .ranks = ranks_,
                        .async = true});
}

double MeshLink::end_step() {
  return mesh_->end_step().step_s;
}

void MeshLink::write_trace(const std::string& path) const {
  mesh_->write_chrome_trace(path);
}

}  // namespace dojo::train
