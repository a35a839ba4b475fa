#pragma once
// The training configuration: one YAML file plus `--set key=value` overrides, parsed
// once into TrainConfig. Every key is validated up front; an unknown key or a bad value
// is an InvalidArgument that names the key, the value and what was expected.
#include <cstdint>
#include <string>
#include <vector>

namespace dojo::train {

struct TrainConfig {
  std::string model = "tiny";  // model config name (tiny|bench|small) or a YAML path
  std::string precision = "fp32";

  struct Data {
    std::string shards;               // folder written by `dojo ingest` (manifest.json)
    std::vector<std::string> videos;  // streaming mode: video files or folders
    std::string eval_shards;          // held-out clips for eval and samples
    int workers = 2;
    int prefetch = 4;
    bool augment = true;
  } data;

  struct Train {
    std::int64_t steps = 100;
    std::int64_t global_batch = 8;
    std::int64_t micro_batch = 0;  // per-rank micro-batch; 0 = no accumulation
    double lr = 1.5e-3;
    double min_lr = 1e-5;
    std::int64_t warmup_steps = 10;
    double weight_decay = 0.05;
    double beta1 = 0.9;
    double beta2 = 0.95;
    double grad_clip = 1.0;  // 0 disables clipping
    std::int64_t checkpoint_every = 50;
    std::int64_t keep_checkpoints = 3;
    std::int64_t log_every = 1;
    std::int64_t eval_every = 0;  // 0: only at the end
    std::uint64_t seed = 0;
    int threads = 1;  // compute threads per rank
  } train;

  struct Comm {
    std::string backend = "mpi";  // mpi | gloo
    std::string algorithm = "auto";
    double bucket_mb = 0;  // 0: auto (core/buckets.hpp, auto_bucket_bytes)
    double timeout_s = 300;
  } comm;

  struct Mesh {
    std::string preset = "tile";
  } mesh;

  struct Eval {
    std::int64_t clips = 32;
    std::int64_t samples = 4;
  } eval;
};

// Reads `path` (may be empty: defaults only), applies "key=value" overrides in order.
// `check_files`: also check the files keys name (validate_train_config); off for a run
// folder's own config.yaml, read from anywhere.
TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& overrides,
                              bool check_files = true);
// Cross-key checks and the files keys name (model config, mesh preset); load_train_config
// calls it. Throws InvalidArgument naming the key.
void validate_train_config(const TrainConfig& config);
// The effective configuration as YAML (every key, with its value).
std::string to_yaml(const TrainConfig& config);
// One setting that differs between two effective configs (to_yaml texts).
struct ConfigChange {
  std::string key;          // dotted, e.g. "train.lr"
  std::string from, to;     // values as written ("(unset)" when absent on one side)
};
// Every setting that differs, in key order.
std::vector<ConfigChange> config_changes(const std::string& from_yaml, const std::string& to_yaml);
// xxh64 of to_yaml(config) as 16 hex digits: ranks and checkpoints compare it.
std::string config_hash(const TrainConfig& config);

}  // namespace dojo::train
