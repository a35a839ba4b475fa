#include "train/resume.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace dojo::train {

void check_weights_fit(const Checkpoint& ckpt, const model::VideoMAE& model, WeightsUse use) {
  // Same architecture: every field but those that do not shape or read the weights
  // differently. The name and the precision may always change; starting from the weights
  // (fine-tuning) may also mask another share of the clip and normalise the target with
  // another epsilon.
  model::ModelConfig stored = ckpt.model_config, mine = model.config();
  stored.name = mine.name;
  stored.precision = mine.precision;
  if (use == WeightsUse::kInitFrom) {
    stored.mask_ratio = mine.mask_ratio;
    stored.target_eps = mine.target_eps;
  }
  std::string differs;
  bool only_masking = true;  // every difference is one --init-from accepts
  for (const auto& change : config_changes(model::to_yaml(stored), model::to_yaml(mine))) {
    differs += fmt::format("\n  {}: {} in the checkpoint, {} here", change.key, change.from,
                           change.to);
    only_masking = only_masking && (change.key == "mask_ratio" || change.key == "target_eps");
  }
  DOJO_CHECK(differs.empty(), FormatError,
             "checkpoint {} holds model '{}', which is not the architecture of model '{}' this "
             "run trains:{}{}",
             ckpt.path, ckpt.model_config.name, mine.name, differs,
             use == WeightsUse::kResume && only_masking
                 ? "\n(--init-from starts from its weights with another mask_ratio or "
                   "target_eps)"
                 : "");
  DOJO_CHECK(ckpt.params.size() == model.table().total, FormatError,
             "checkpoint {} has {} parameters, model '{}' has {}: it was trained with another "
             "model config",
             ckpt.path, ckpt.params.size(), model.config().name, model.table().total);
}

void check_checkpoint_fits(const Checkpoint& ckpt, const model::VideoMAE& model,
                           const TrainConfig& config) {
  check_weights_fit(ckpt, model, WeightsUse::kResume);
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
