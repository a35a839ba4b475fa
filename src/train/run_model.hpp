#pragma once
// A trained model from its checkpoint alone, for eval, embed, probe and export: the run's
// effective configuration (stored in the checkpoint) and the model it names, with the
// checkpoint's parameters loaded.
//
// The model config is the one the checkpoint stores (checkpoint.hpp: /model_config), so
// this works from any folder; the precision is the run's (train config `precision`).
#include <memory>
#include <string>

#include "accel/host_device.hpp"
#include "model/videomae.hpp"
#include "train/checkpoint.hpp"
#include "train/config.hpp"

namespace dojo::train {

// The run's train config as stored in the checkpoint.
TrainConfig train_config_of(const Checkpoint& checkpoint);
// The model config the checkpoint was trained with, the run's precision; throws
// FormatError when the parameter count does not fit it.
model::ModelConfig model_config_of(const Checkpoint& checkpoint, const TrainConfig& config);

// A host device and a model of `batch` clips with a checkpoint's weights.
struct LoadedModel {
  Checkpoint checkpoint;
  TrainConfig config;
  model::ModelConfig model_config;
  std::unique_ptr<accel::HostDevice> device;
  std::unique_ptr<model::VideoMAE> model;
};
// `threads` 0: the run's train.threads.
LoadedModel load_model(const std::string& checkpoint_path, std::int64_t batch, int threads = 0);
// The same model shape on the same device (one HostDevice per process) with fresh
// weights from `seed`: the random-init encoder of a probe.
std::unique_ptr<model::VideoMAE> random_model(const LoadedModel& like, std::uint64_t seed);

}  // namespace dojo::train
