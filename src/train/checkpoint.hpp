#pragma once
// Checkpoints: one HDF5 file per saved step, never half-written.
//
//   /params, /adam_m, /adam_v   float32 (P)   the three arenas, as flat as in memory
//   /config                     string        the effective YAML the run was started with
//   attributes on /: format = "dojo-checkpoint", version, step (steps completed),
//     adam_steps, seed, loader_epoch, loader_position, config_hash, model,
//     params_xxh64, adam_m_xxh64, adam_v_xxh64
//
// save_checkpoint writes `<dir>/step-NNNNNN.h5.partial`, fsyncs it, renames it into place,
// fsyncs the directory, then moves the `latest` pointer the same way and prunes old
// checkpoints. A failure at any point (disk full, unwritable folder) throws IoError and
// leaves every earlier checkpoint and the old `latest` untouched.
// read_checkpoint verifies format, version, shapes and the three checksums, so a
// truncated or corrupted file is rejected with a FormatError that names it.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace dojo::train {

inline constexpr std::int64_t kCheckpointVersion = 1;

struct CheckpointMeta {
  std::int64_t step = 0;  // training steps completed
  std::int64_t adam_steps = 0;
  std::uint64_t seed = 0;
  std::int64_t loader_epoch = 0;
  std::int64_t loader_position = 0;
  std::string config_hash;
  std::string model;
  std::string config_yaml;
};

struct Checkpoint {
  CheckpointMeta meta;
  std::vector<float> params, adam_m, adam_v;
  std::uint64_t params_xxh64 = 0;
  std::string path;
};

// Writes a checkpoint file at `path` atomically (see above).
void write_checkpoint(const std::string& path, const CheckpointMeta& meta,
                      std::span<const float> params, std::span<const float> adam_m,
                      std::span<const float> adam_v);
// Reads and verifies; throws IoError/FormatError naming the file.
Checkpoint read_checkpoint(const std::string& path);
// True when `path` is an HDF5 file with format "dojo-checkpoint" (no verification).
bool is_checkpoint(const std::string& path);

// <run_dir>/checkpoints/step-NNNNNN.h5; updates `latest`; keeps the newest `keep` files.
std::string save_checkpoint(const std::string& run_dir, const CheckpointMeta& meta,
                            std::span<const float> params, std::span<const float> adam_m,
                            std::span<const float> adam_v, std::int64_t keep);
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

}  // namespace dojo::train
