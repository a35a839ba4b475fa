#pragma once
// The trainer's view of the simulated mesh: this rank's block of the preset's node grid
// (accel::Partition), a replica placed in it to fit its parameters, gradients, AdamW
// moments and activations in SRAM, and one replica per rank taking part in the gradient
// all-reduce. The model's Device reports every kernel to sink(); the trainer reports each
// gradient bucket as backward makes it ready, as an all-reduce overlapping what follows.
#include <memory>
#include <string>

#include "accel/cost_sink.hpp"
#include "model/videomae.hpp"

namespace dojo::accel {
class MeshCostModel;
struct MeshSpec;
}

namespace dojo::train {

class MeshLink {
 public:
  MeshLink(const std::string& preset, const model::VideoMAE& model, int rank, int ranks);
  // The same on a spec already in hand (a calibration just measured).
  MeshLink(const accel::MeshSpec& spec, const model::VideoMAE& model, int rank, int ranks);
  ~MeshLink();

  accel::CostSink& sink();
  void begin_step();
  void gradient_bucket_ready(std::size_t bytes);
  // Before the optimizer: the step waits for all gradient buckets.
  void gradients_needed();
  // Ends the step; returns its simulated time in seconds.
  double end_step();
  // Chrome trace of the last simulated step.
  void write_trace(const std::string& path) const;

 private:
  std::unique_ptr<accel::MeshCostModel> mesh_;
  int ranks_;
  std::int64_t bucket_ = 0;
};

}  // namespace dojo::train
