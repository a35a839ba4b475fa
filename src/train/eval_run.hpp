#pragma once
// Evaluation of a run: `dojo eval` on a checkpoint (from any folder), eval.json and the
// metrics.jsonl eval row. The numbers themselves: eval.hpp; the clips: eval_set.hpp.
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "data/clip_shape.hpp"
#include "model/config.hpp"
#include "train/eval.hpp"

namespace dojo::train {

// The data's clips are the model's clip shape; else InvalidArgument saying how to ingest.
void check_clip_shape(const data::ClipShape& shape, const model::ModelConfig& mc,
                      const std::string& what);

// eval.json: to_json(result) and the step it was measured at.
nlohmann::json eval_json(const EvalResult& result, std::int64_t step);
// The metrics.jsonl row: {"kind": "eval", "step", "eval_loss"} and to_json's other keys
// but "per_source" ("loss" is the training curve's key there, so the eval's is "eval_loss").
nlohmann::json eval_metrics_row(const EvalResult& result, std::int64_t step);

struct EvalOptions {
  std::string run_dir;     // used to find the newest checkpoint when `checkpoint` is empty
  std::string data;        // shards to evaluate on (default: the run's data.eval_shards)
  std::string checkpoint;  // default: the run's newest valid checkpoint
  std::int64_t clips = 0;  // 0: the run's eval.clips
};
// `dojo eval`: loads the checkpoint (its config and model come with it: run_model.hpp)
// and evaluates on held-out clips spread over every source.
struct EvalRun {
  EvalResult result;
  std::string checkpoint;  // the file evaluated (a run folder resolved to its checkpoint)
  std::int64_t step = 0;   // its training step
  std::string data;        // the held-out shards
};
EvalRun evaluate_run(const EvalOptions& options);
// to_json(result) with "checkpoint", "step" and "data": what `dojo eval --json` prints.
nlohmann::json to_json(const EvalRun& run);
// "checkpoint FILE (step N), held-out shards DATA" and format_report(result).
std::string format_eval_run(const EvalRun& run);

}  // namespace dojo::train
