#pragma once
// One training step (forward + backward + AdamW) on a dry-run device: no math, no
// allocation of model state; every kernel's record goes to `sink`. Used by the mesh
// simulator to cost a step and by `dojo bench model` to count flops.
#include <cstdint>

#include "accel/cost_sink.hpp"
#include "model/config.hpp"

namespace dojo::model {

void profile_training_step(const ModelConfig& config, std::int64_t batch,
                           accel::Precision precision, accel::CostSink& sink);

}  // namespace dojo::model
