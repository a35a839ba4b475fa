// `dojo eval` on a checkpoint: everything it needs comes from the checkpoint file.
#include "core/error.hpp"
#include "train/eval.hpp"
#include "train/run_model.hpp"

namespace dojo::train {

EvalResult evaluate_run(const EvalOptions& options) {
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
  return evaluate(model, set, m.config.train.seed);
}

}  // namespace dojo::train
