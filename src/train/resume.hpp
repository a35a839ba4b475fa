#pragma once
// What a checkpoint must satisfy before a run continues from it (--resume) or starts
// from its weights (--init-from). Each check throws an error naming the file and what
// does not fit, with what to do.
#include <string>
#include <vector>

#include "model/videomae.hpp"
#include "train/checkpoint.hpp"
#include "train/config.hpp"

namespace dojo::train {

// The checkpoint holds this model's arenas and a state this run can continue: a step in
// [0, train.steps], AdamW steps in [0, step], a loader cursor that is not negative.
void check_checkpoint_fits(const Checkpoint& ckpt, const model::VideoMAE& model,
                           const TrainConfig& config);
// The run's config equals the checkpoint's, except for keys in `allowed` (the
// --allow-config-change list). Throws InvalidArgument listing every other changed key.
void check_config_unchanged(const std::string& checkpoint_yaml, const std::string& run_yaml,
                            const std::string& checkpoint_path,
                            const std::vector<std::string>& allowed);
// Both configs read the same training data (data.shards and data.videos).
bool same_data(const std::string& checkpoint_yaml, const std::string& run_yaml);
// The checkpoint's parameters fit this model: their count, and every field of the model
// config but the name and the precision (and, for --init-from, mask_ratio and target_eps:
// fine-tuning may mask differently). The error lists each field that differs.
enum class WeightsUse { kResume, kInitFrom };
void check_weights_fit(const Checkpoint& ckpt, const model::VideoMAE& model, WeightsUse use);

}  // namespace dojo::train
