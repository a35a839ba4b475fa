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
  model::ModelConfig mc = ckpt.model_config;  // stored whole in the checkpoint
  mc.precision = accel::parse_precision(cfg.precision);
  const std::size_t expected = model::build_param_table(mc).total;
  DOJO_CHECK(ckpt.params.size() == expected, FormatError,
             "checkpoint {} has {} parameters, its model '{}' has {}", ckpt.path,
             ckpt.params.size(), mc.name, expected);
  return mc;
}

LoadedModel load_model(const std::string& path, std::int64_t batch, int threads) {
  LoadedModel m;
  m.checkpoint = find_checkpoint(path);
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
