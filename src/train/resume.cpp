#include "train/resume.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace dojo::train {

void check_weights_fit(const Checkpoint& ckpt, const model::VideoMAE& model) {
  DOJO_CHECK(ckpt.params.size() == model.table().total, FormatError,
             "checkpoint {} has {} parameters, model '{}' has {}: it was trained with another "
             "model config",
             ckpt.path, ckpt.params.size(), model.config().name, model.table().total);
}

void check_checkpoint_fits(const Checkpoint& ckpt, const model::VideoMAE& model,
                           const TrainConfig& config) {
  check_weights_fit(ckpt, model);
  const auto& m = ckpt.meta;
  DOJO_CHECK(m.step >= 0 && m.step <= config.train.steps, FormatError,
             "checkpoint {}: step {} is outside this run's [0, train.steps = {}]", ckpt.path,
             m.step, config.train.steps);
  DOJO_CHECK(m.adam_steps >= 0 && m.adam_steps <= m.step, FormatError,
             "checkpoint {}: {} AdamW steps after {} training steps is impossible", ckpt.path,
             m.adam_steps, m.step);
  DOJO_CHECK(m.loader_epoch >= 0 && m.loader_position >= 0, FormatError,
             "checkpoint {}: loader cursor (epoch {}, position {}) is negative", ckpt.path,
             m.loader_epoch, m.loader_position);
}

void check_config_unchanged(const std::string& checkpoint_yaml, const std::string& run_yaml,
                            const std::string& checkpoint_path,
                            const std::vector<std::string>& allowed) {
  std::string refused;
  for (const auto& change : config_changes(checkpoint_yaml, run_yaml)) {
    if (std::find(allowed.begin(), allowed.end(), change.key) != allowed.end()) continue;
    refused += fmt::format("\n  {}: {} in the checkpoint, {} now", change.key, change.from,
                           change.to);
  }
  DOJO_CHECK(refused.empty(), InvalidArgument,
             "resuming {} with a different config:{}\nresume with the config it was written "
             "with, or name each key you mean to change with --allow-config-change KEY",
             checkpoint_path, refused);
}

bool same_data(const std::string& checkpoint_yaml, const std::string& run_yaml) {
  for (const auto& change : config_changes(checkpoint_yaml, run_yaml)) {
    if (change.key == "data.shards" || change.key == "data.videos") return false;
  }
  return true;
}

}  // namespace dojo::train
