#include "train/mesh_link.hpp"

#include "accel/mesh_cost_model.hpp"
#include "accel/presets.hpp"
#include "core/log.hpp"

namespace dojo::train {

MeshLink::MeshLink(const std::string& preset, const model::VideoMAE& model, int rank, int ranks)
    : MeshLink(accel::resolve_preset(preset), model, rank, ranks) {}

MeshLink::MeshLink(const accel::MeshSpec& spec, const model::VideoMAE& model, int rank, int ranks)
    : ranks_(ranks) {
  // fp32 master weights, gradients and two AdamW moments, plus the activation arena the
  // model really allocated (forward activations and backward scratch).
  const double param_bytes = 4.0 * static_cast<double>(model.table().total);
  accel::MeshCostOptions options;
  options.footprint = {param_bytes, param_bytes, 2 * param_bytes,
                       static_cast<double>(model.activation_bytes())};
  mesh_ = accel::make_rank_cost_model(spec, rank, ranks, options);
  if (rank == 0) {
    const auto& fit = mesh_->sram_fit();
    log::info("mesh '{}': a replica takes {}x{} nodes of each rank's block ({})", spec.name,
              fit.region.w, fit.region.h,
              fit.fits ? "fits in SRAM"
                       : fmt::format("spills {:.1f} MB off-mesh", fit.spill_bytes / 1e6));
  }
}

MeshLink::~MeshLink() = default;

accel::CostSink& MeshLink::sink() { return *mesh_; }

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

void MeshLink::gradients_needed() {
  // The optimizer waits for every bucket: a zero-byte synchronous collective.
  mesh_->on_collective({.name = "grad_wait",
                        .kind = accel::CollectiveKind::kAllReduce,
                        .bytes = 0,
                        .ranks = 1,
                        .async = false});
}

double MeshLink::end_step() { return mesh_->end_step().step_s; }

void MeshLink::write_trace(const std::string& path) const { mesh_->write_chrome_trace(path); }

}  // namespace dojo::train
