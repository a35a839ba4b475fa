#include "train/run_model.hpp"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"

namespace dojo::train {
namespace fs = std::filesystem;

TrainConfig train_config_of(const Checkpoint& ckpt) {
  // load_train_config reads a file; hand it the stored text through a private temp file.
  static std::atomic<int> counter{0};
  const fs::path tmp =
      fs::temp_directory_path() / fmt::format("dojo-ckpt-config-{}-{}.yaml", ::getpid(), counter++);
  {
    std::ofstream out(tmp);
    out << ckpt.meta.config_yaml;
    DOJO_CHECK(out.good(), IoError, "{}: cannot write a temporary copy of {}'s config",
               tmp.string(), ckpt.path);
  }
  try {
    // Files the config names are checked where it is used (model_config_of), not here.
    TrainConfig cfg = load_train_config(tmp.string(), {}, /*check_files=*/false);
    fs::remove(tmp);
    return cfg;
  } catch (const Error& e) {
    fs::remove(tmp);
    throw FormatError(
        fmt::format("checkpoint {}: its stored config does not parse: {}", ckpt.path, e.what()));
  }
}

model::ModelConfig model_config_of(const Checkpoint& ckpt, const TrainConfig& cfg) {
  std::string where = cfg.model;
  const fs::path given(cfg.model);
  const bool builtin = cfg.model == "tiny" || cfg.model == "bench" || cfg.model == "small";
  // A run folder keeps the model config it trained: <run>/model.yaml next to checkpoints/.
  const fs::path run_model_yaml =
      fs::absolute(ckpt.path).parent_path().parent_path() / "model.yaml";
  if (fs::exists(run_model_yaml)) {
    where = run_model_yaml.string();
  } else if (!builtin && given.is_relative() && !fs::exists(given)) {
    // Folders above the checkpoint: <run>/checkpoints/step-N.h5 -> <run>/checkpoints, <run>, ...
    for (fs::path dir = fs::absolute(ckpt.path).parent_path(); !dir.empty();
         dir = dir.parent_path()) {
      if (fs::exists(dir / given)) {
        where = (dir / given).string();
        break;
      }
      if (dir == dir.parent_path()) break;
    }
  }
  model::ModelConfig mc;
  try {
    mc = model::load_model_config(where);
  } catch (const Error& e) {
    throw IoError(fmt::format(
        "checkpoint {}: its model config '{}' cannot be loaded from here (looked in the "
        "current folder and the folders above the checkpoint): {}",
        ckpt.path, cfg.model, e.what()));
  }
  mc.precision = accel::parse_precision(cfg.precision);
  DOJO_CHECK(ckpt.meta.model.empty() || mc.name == ckpt.meta.model, FormatError,
             "checkpoint {} was trained with model '{}', but '{}' is model '{}'", ckpt.path,
             ckpt.meta.model, where, mc.name);
  const std::size_t expected = model::build_param_table(mc).total;
  DOJO_CHECK(ckpt.params.size() == expected, FormatError,
             "checkpoint {} has {} parameters, model '{}' ({}) has {}", ckpt.path,
             ckpt.params.size(), mc.name, where, expected);
  return mc;
}

LoadedModel load_model(const std::string& path, std::int64_t batch, int threads) {
  LoadedModel m;
  m.checkpoint = read_checkpoint(path);
  m.config = train_config_of(m.checkpoint);
  m.model_config = model_config_of(m.checkpoint, m.config);
  m.device = std::make_unique<accel::HostDevice>(
      accel::HostDeviceOptions{.threads = threads > 0 ? threads : m.config.train.threads,
                               .dry_run = false,
                               .precision = m.model_config.precision});
  m.model = std::make_unique<model::VideoMAE>(m.model_config, *m.device, batch);
  std::copy(m.checkpoint.params.begin(), m.checkpoint.params.end(), m.model->params().begin());
  return m;
}

std::unique_ptr<model::VideoMAE> random_model(const LoadedModel& like, std::uint64_t seed) {
  auto m = std::make_unique<model::VideoMAE>(like.model_config, *like.device, like.model->batch());
  m->init(seed);
  return m;
}

}  // namespace dojo::train
