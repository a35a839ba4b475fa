// `dojo inspect PATH [--verify] [--json]`: summary of a shard or an ingest folder
// (data/inspect.hpp), or of a training checkpoint (train/checkpoint.hpp). Exits non-zero,
// naming shard and clip, when verification fails; a checkpoint is always verified.
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/command.hpp"
#include "core/error.hpp"
#include "data/inspect.hpp"
#include "train/checkpoint.hpp"

#include <nlohmann/json.hpp>

namespace {

struct Options {
  std::string path;
  bool verify = false;
  bool json = false;
};

nlohmann::json model_config_json(const dojo::model::ModelConfig& m) {
  return {{"name", m.name},
          {"frames", m.frames},
          {"height", m.height},
          {"width", m.width},
          {"channels", m.channels},
          {"tubelet_frames", m.tubelet_frames},
          {"patch", m.patch},
          {"mask_ratio", m.mask_ratio},
          {"encoder_dim", m.encoder_dim},
          {"encoder_depth", m.encoder_depth},
          {"encoder_heads", m.encoder_heads},
          {"decoder_dim", m.decoder_dim},
          {"decoder_depth", m.decoder_depth},
          {"decoder_heads", m.decoder_heads},
          {"mlp_ratio", m.mlp_ratio},
          {"precision", dojo::accel::to_string(m.precision)}};
}

// Reads (and so verifies: the whole-file digest, format, version, checksums) a checkpoint
// and prints it.
int inspect_checkpoint(const Options& opts) {
  const auto c = dojo::train::find_checkpoint(opts.path);
  const std::string params_hash = fmt::format("{:016x}", c.params_xxh64);
  if (opts.json) {
    std::cout << nlohmann::json{{"path", c.path},
                                {"step", c.meta.step},
                                {"config_hash", c.meta.config_hash},
                                {"params_xxh64", params_hash},
                                {"model", c.meta.model},
                                {"parameters", c.params.size()},
                                {"adam_steps", c.meta.adam_steps},
                                {"loader_epoch", c.meta.loader_epoch},
                                {"loader_position", c.meta.loader_position},
                                {"seed", c.meta.seed},
                                {"model_config", model_config_json(c.model_config)}}
                     .dump()
              << "\n";
  } else {
    std::cout << fmt::format(
        "checkpoint   {}\nstep         {}\nmodel        {} ({} parameters)\nconfig hash  {}\n"
        "params xxh64 {}\nadam steps   {}\nloader       epoch {}, position {}\nclips        {} "
        "frames of {}x{}x{}\ndigest       ok\n",
        c.path, c.meta.step, c.meta.model, c.params.size(), c.meta.config_hash, params_hash,
        c.meta.adam_steps, c.meta.loader_epoch, c.meta.loader_position, c.model_config.frames,
        c.model_config.width, c.model_config.height, c.model_config.channels);
  }
  return 0;
}

// A checkpoint file, or what find_checkpoint takes for one: a run folder (it has
// checkpoints/), its checkpoints/ folder, or the `latest` pointer in it.
bool names_a_checkpoint(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path p = fs::path(path).lexically_normal();
  const fs::path name = p.filename().empty() ? p.parent_path().filename() : p.filename();
  std::error_code ec;
  if (fs::is_directory(p, ec)) {
    return fs::is_directory(p / "checkpoints", ec) || name == "checkpoints";
  }
  return name == "latest" || dojo::train::is_checkpoint(path);
}

dojo::cli::Runner setup(CLI::App& app) {
  auto opts = std::make_shared<Options>();
  app.add_option("path", opts->path, "a shard (.h5), an ingest folder, or a checkpoint (a file, `latest` or a run folder)")
      ->required();
  app.add_flag("--verify", opts->verify, "check every clip's checksum");
  app.add_flag("--json", opts->json, "print the report as JSON");
  return [opts](dojo::cli::Context&) {
    if (names_a_checkpoint(opts->path)) return inspect_checkpoint(*opts);
    const auto report = dojo::data::inspect(opts->path, opts->verify);
    std::cout << (opts->json ? report.to_json() + "\n" : report.to_text()) << std::flush;
    const auto problems = report.problems();
    if (!problems.empty()) {
      std::string all;
      for (const auto& p : problems) all += "\n  " + p;
      throw dojo::FormatError(
          fmt::format("inspect {}: {} problem(s):{}", opts->path, problems.size(), all));
    }
    return 0;
  };
}

DOJO_COMMAND(inspect, "", "inspect",
             "summarize (and verify) shards, an ingest folder or a checkpoint", kLocal, setup);

}  // namespace
