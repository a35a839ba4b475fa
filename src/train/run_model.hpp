#pragma once
// A trained model from its checkpoint alone, for eval, embed, probe and export: the run's
// effective configuration (stored in the checkpoint) and the model it names, with the
// checkpoint's parameters loaded.
//
// Where the model config comes from, first found: the run folder's model.yaml (the
// checkpoint's folder's parent, as `dojo train` writes it); else the stored train config's
// `model`, a built-in name (tiny, bench, small) or the path of a model YAML as given to
// `dojo train`, looked up against the current folder and then each folder above the
// checkpoint. The loaded config must carry the checkpoint's model name and parameter
// count, else this throws. (When checkpoints store the whole model config, model_config_of
// reads it first.)
#include <memory>
#include <string>

#include "accel/host_device.hpp"
#include "model/videomae.hpp"
#include "train/checkpoint.hpp"
#include "train/config.hpp"

namespace dojo::train {

// The run's train config as stored in the checkpoint.
TrainConfig train_config_of(const Checkpoint& checkpoint);
// The model config the checkpoint was trained with (see above), precision included.
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
