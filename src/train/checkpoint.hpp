#pragma once
// Checkpoints: one HDF5 file per saved step, never half-written, checked before parsed.
//
//   step-NNNNNN.h5
//     bytes 0-511   a header (an HDF5 user block): "dojo-checkpoint-digest 1", then the
//                   size and xxh64 of every byte after it
//     /params/<name>, /adam_m/<name>, /adam_v/<name>   float32, each tensor under its name
//                                   and shape (model/params.hpp: the PyTorch reference's names)
//     /config        uint8 blob    the effective train config (YAML) the run was started with
//     /model_config  uint8 blob    the whole model config (YAML): the file is self-contained
//     attributes on /: format = "dojo-checkpoint", version, step (steps completed),
//       adam_steps, seed, loader_epoch, loader_position, config_hash, model,
//       params_xxh64, adam_m_xxh64, adam_v_xxh64 (of the flat arenas, padding included)
//
// HDF5 cannot be trusted to parse a damaged file, so read_checkpoint checks the digest
// (the header's) before HDF5 opens the file: a flipped byte anywhere (an attribute edited by hand
// included) or a truncation is a FormatError naming the file, never a crash. Every
// attribute is then range-checked.
//
// save_checkpoint writes the file atomically (temporary name, fsync,
// rename, fsync the folder), then moves the `latest` pointer the same way and prunes old
// checkpoints. A failure at any point (disk full, unwritable folder) throws IoError and
// leaves every earlier checkpoint and the old `latest` untouched.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "model/config.hpp"

namespace dojo::train {

inline constexpr std::int64_t kCheckpointVersion = 2;

struct CheckpointMeta {
  std::int64_t step = 0;  // training steps completed
  std::int64_t adam_steps = 0;
  std::uint64_t seed = 0;
  std::int64_t loader_epoch = 0;
  std::int64_t loader_position = 0;
  std::string config_hash;
  std::string model;        // the model config's name
  std::string config_yaml;  // the effective train config
};

struct Checkpoint {
  CheckpointMeta meta;
  model::ModelConfig model_config;  // as stored in the file
  std::vector<float> params, adam_m, adam_v;  // flat arenas in the model's table layout
  std::uint64_t params_xxh64 = 0;
  std::string path;
};

// Writes a checkpoint file (with its digest header) at `path` atomically (see above). The arenas
// are laid out as build_param_table(model_config) says.
void write_checkpoint(const std::string& path, const CheckpointMeta& meta,
                      const model::ModelConfig& model_config, std::span<const float> params,
                      std::span<const float> adam_m, std::span<const float> adam_v);
// Checks the digest, then reads and verifies; throws IoError/FormatError naming the file.
Checkpoint read_checkpoint(const std::string& path);
// True when `path` starts with a checkpoint's digest header (nothing else is read; for
// `dojo inspect` to choose what it is looking at).
bool is_checkpoint(const std::string& path);

// <run_dir>/checkpoints/step-NNNNNN.h5; updates `latest`; prunes (prune_checkpoints).
std::string save_checkpoint(const std::string& run_dir, const CheckpointMeta& meta,
                            const model::ModelConfig& model_config, std::span<const float> params,
                            std::span<const float> adam_m, std::span<const float> adam_v,
                            std::int64_t keep);
// Removes step files of `dir` at or below `newest_step` beyond the newest `keep` of them.
// Files with a higher step (an earlier run this one did not continue) are never removed,
// and neither is the one just written (it is the newest at or below `newest_step`).
void prune_checkpoints(const std::string& dir, std::int64_t newest_step, std::int64_t keep);
// The step of a `step-NNNNNN.h5` path, or -1 for any other name.
std::int64_t checkpoint_step_of(const std::string& path);
// The step-NNNNNN.h5 files in `dir`, highest step first (none when `dir` does not exist).
std::vector<std::string> checkpoint_step_files(const std::string& dir);

// The newest checkpoint that passes its checks: the one `latest` names, else the other
// step files newest first. Each one that fails is reported (log warning) and skipped.
std::optional<Checkpoint> load_latest_checkpoint(const std::string& run_dir);

// What a user may name where a checkpoint is wanted (--checkpoint, --resume, --init-from,
// export): a checkpoint file; the `latest` pointer of a checkpoints/ folder (exactly the file
// it names); a run folder or its checkpoints/ folder (its newest usable checkpoint, as
// load_latest_checkpoint). Throws IoError naming `path` when it holds none.
Checkpoint find_checkpoint(const std::string& path);

}  // namespace dojo::train
