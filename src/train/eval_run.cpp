#include "train/eval_run.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "train/run_model.hpp"

namespace dojo::train {

void check_clip_shape(const data::ClipShape& s, const model::ModelConfig& mc,
                      const std::string& what) {
  DOJO_CHECK(s.frames == mc.frames && s.height == mc.height && s.width == mc.width &&
                 s.channels == mc.channels,
             InvalidArgument,
             "{} holds clips of {}x{}x{}x{} (T x H x W x C), model '{}' needs {}x{}x{}x{}: ingest "
             "with --frames {} --size {}x{}",
             what, s.frames, s.height, s.width, s.channels, mc.name, mc.frames, mc.height, mc.width,
             mc.channels, mc.frames, mc.width, mc.height);
}

nlohmann::json eval_json(const EvalResult& result, std::int64_t step) {
  nlohmann::json j = to_json(result);
  j["step"] = step;
  return j;
}

nlohmann::json eval_metrics_row(const EvalResult& result, std::int64_t step) {
  nlohmann::json row = to_json(result);
  row.erase("per_source");
  row["eval_loss"] = row["loss"];
  row.erase("loss");
  row["kind"] = "eval";
  row["step"] = step;
  return row;
}

EvalRun evaluate_run(const EvalOptions& options) {
  std::string path = options.checkpoint;
  if (path.empty()) {
    DOJO_CHECK(!options.run_dir.empty(), InvalidArgument,
               "dojo eval: pass --run-dir (newest valid checkpoint) or --checkpoint");
    const auto newest = load_latest_checkpoint(options.run_dir);
    DOJO_CHECK(newest.has_value(), IoError, "{}: no usable checkpoint to evaluate",
               options.run_dir);
    path = newest->path;
  }
  // The data decides the batch; load the config first through a batch-1 model.
  LoadedModel m = load_model(path, 1);
  const std::string data = options.data.empty() ? m.config.data.eval_shards : options.data;
  DOJO_CHECK(!data.empty(), InvalidArgument,
             "dojo eval: no held-out data (pass --data, or set data.eval_shards in the run's "
             "config)");
  const EvalSet set =
      load_eval_set(data, options.clips > 0 ? options.clips : m.config.eval.clips, m.model_config);
  const std::int64_t batch = std::clamp<std::int64_t>(set.count, 1, 8);
  model::VideoMAE model(m.model_config, *m.device, batch);
  std::copy(m.checkpoint.params.begin(), m.checkpoint.params.end(), model.params().begin());
  return {.result = evaluate(model, set, m.config.train.seed),
          .checkpoint = std::filesystem::absolute(m.checkpoint.path).string(),
          .step = m.checkpoint.meta.step,
          .data = data};
}

nlohmann::json to_json(const EvalRun& run) {
  nlohmann::json j = to_json(run.result);
  j["checkpoint"] = run.checkpoint;
  j["step"] = run.step;
  j["data"] = run.data;
  return j;
}

std::string format_eval_run(const EvalRun& run) {
  return fmt::format("checkpoint {} (step {}), held-out shards {}\n", run.checkpoint, run.step,
                     run.data) +
         format_report(run.result);
}

}  // namespace dojo::train
