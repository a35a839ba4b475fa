#pragma once
// Evaluation of a run: the held-out clips it is measured on, `dojo eval` over a run
// folder, and eval.json.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "data/clip_shape.hpp"
#include "model/config.hpp"
#include "train/eval.hpp"

namespace dojo::train {

// Held-out clips as floats in [0, 1]: (count, T, H, W, C).
struct EvalSet {
  std::vector<float> pixels;
  std::int64_t count = 0;
};
// The data's clips are the model's clip shape; else InvalidArgument saying how to ingest.
void check_clip_shape(const data::ClipShape& shape, const model::ModelConfig& mc,
                      const std::string& what);
// Up to `count` clips of the shards at `path`, checked against the model's clip shape.
EvalSet load_eval_set(const std::string& path, std::int64_t count, const model::ModelConfig& mc);

// eval.json: the result and the step it was measured at.
nlohmann::json eval_json(const EvalResult& result, std::int64_t step);

struct EvalOptions {
  std::string run_dir;
  std::string data;        // shards to evaluate on (default: the run's data.eval_shards)
  std::string checkpoint;  // default: the run's newest valid checkpoint
  std::int64_t clips = 0;  // 0: the run's eval.clips
};
// `dojo eval`: loads the run's config and checkpoint and evaluates on held-out clips.
EvalResult evaluate_run(const EvalOptions& options);

}  // namespace dojo::train
