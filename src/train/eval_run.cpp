#include "train/eval_run.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "accel/host_device.hpp"
#include "core/error.hpp"
#include "data/loader.hpp"
#include "model/videomae.hpp"
#include "train/checkpoint.hpp"
#include "train/config.hpp"

namespace dojo::train {
namespace fs = std::filesystem;
void check_clip_shape(const data::ClipShape& s, const model::ModelConfig& mc, const std::string& what) {
  DOJO_CHECK(s.frames == mc.frames && s.height == mc.height && s.width == mc.width &&
                 s.channels == mc.channels,
             InvalidArgument,
             "{} holds clips of {}x{}x{}x{} (T x H x W x C), model '{}' needs {}x{}x{}x{}: ingest "
             "with --frames {} --size {}x{}",
             what, s.frames, s.height, s.width, s.channels, mc.name, mc.frames, mc.height, mc.width,
             mc.channels, mc.frames, mc.width, mc.height);
}

EvalSet load_eval_set(const std::string& path, std::int64_t count, const model::ModelConfig& mc) {
  data::LoaderOptions options;
  options.source = path;
  options.batch = 1;
  options.shuffle = false;
  options.workers = 1;
  options.prefetch = 1;
  data::Loader loader(options);
  check_clip_shape(loader.shape(), mc, path);
  EvalSet out;
  out.count = std::min(count, loader.total_clips());
  for (std::int64_t i = 0; i < out.count; ++i) {
    for (auto v : loader.read_clip(i)) out.pixels.push_back(static_cast<float>(v) / 255.0f);
  }
  return out;
}


nlohmann::json eval_json(const EvalResult& e, std::int64_t step) {
  return {{"masked_mse", e.masked_mse},
          {"psnr", e.psnr},
          {"baseline_mean_mse", e.baseline_mean_mse},
          {"baseline_copy_mse", e.baseline_copy_mse},
          {"loss", e.loss},
          {"clips", e.clips},
          {"step", step}};
}

EvalResult evaluate_run(const EvalOptions& options) {
  const fs::path config_path = fs::path(options.run_dir) / "config.yaml";
  DOJO_CHECK(fs::exists(config_path), IoError, "{}: not a dojo run directory (no config.yaml)",
             options.run_dir);
  // The run folder is self-contained: its model.yaml, not the path the config named.
  const TrainConfig cfg = load_train_config(config_path.string(), {}, /*check_files=*/false);
  const fs::path model_yaml = fs::path(options.run_dir) / "model.yaml";
  model::ModelConfig mc =
      model::load_model_config(fs::exists(model_yaml) ? model_yaml.string() : cfg.model);
  mc.precision = accel::parse_precision(cfg.precision);
  std::optional<Checkpoint> ckpt;
  if (!options.checkpoint.empty()) {
    ckpt = read_checkpoint(options.checkpoint);
  } else {
    ckpt = load_latest_checkpoint(options.run_dir);
  }
  DOJO_CHECK(ckpt.has_value(), IoError, "{}: no usable checkpoint to evaluate", options.run_dir);
  const std::string data = options.data.empty() ? cfg.data.eval_shards : options.data;
  DOJO_CHECK(
      !data.empty(), InvalidArgument,
      "dojo eval: no held-out data (pass --data, or set data.eval_shards in the run's config)");
  const EvalSet set = load_eval_set(data, options.clips > 0 ? options.clips : cfg.eval.clips, mc);
  const std::int64_t count = set.count;
  accel::HostDevice device(
      {.threads = cfg.train.threads, .dry_run = false, .precision = mc.precision});
  const std::int64_t batch = std::max<std::int64_t>(1, std::min<std::int64_t>(8, count));
  model::VideoMAE model(mc, device, batch);
  DOJO_CHECK(ckpt->params.size() == model.params().size(), FormatError,
             "checkpoint {} has {} parameters, model '{}' has {}", ckpt->path, ckpt->params.size(),
             mc.name, model.params().size());
  std::copy(ckpt->params.begin(), ckpt->params.end(), model.params().begin());
  return evaluate(model, set.pixels, count, cfg.train.seed);
}

}  // namespace dojo::train
