#include "serve/job_spec.hpp"

#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <regex>

#include <fmt/format.h>

#include "accel/presets.hpp"
#include "core/error.hpp"
#include "model/config.hpp"
#include "train/config.hpp"
#include "train/quote.hpp"

namespace dojo::serve {
namespace fs = std::filesystem;
namespace {

constexpr std::size_t kMaxConfigBytes = 64 * 1024;

// A config error as a 400 that names the key ("config key 'train.steps': ...").
ApiError config_error(const std::exception& e, const std::string& scratch_file) {
  std::string message = e.what();
  for (auto pos = message.find(scratch_file); pos != std::string::npos;
       pos = message.find(scratch_file)) {
    message.replace(pos, scratch_file.size(), "config");
  }
  std::smatch m;
  static const std::regex kKey("config key '([^']+)'");
  static const std::regex kSet("--set '([^'=]+)");
  std::string field = "config";
  if (std::regex_search(message, m, kKey)) {
    field = m[1];
  } else if (std::regex_search(message, m, kSet)) {
    field = "set." + m[1].str();
  }
  return ApiError(400, field, message);
}

// The value of a `set` entry as it would be written after --set key=.
std::string set_value(const std::string& key, const nlohmann::json& v) {
  if (v.is_string()) {
    const auto s = v.get<std::string>();
    if (s.size() > 256 || s.find_first_of("\n\r\0", 0, 3) != std::string::npos)
      throw ApiError(400, "set." + key, fmt::format("'set.{}': a one-line value is expected", key));
    return nlohmann::json(s).dump();  // quoted: YAML reads a JSON string as a string
  }
  if (v.is_number() || v.is_boolean()) return v.dump();
  throw ApiError(400, "set." + key,
                 fmt::format("'set.{}' must be a string, number or boolean, got {}", key,
                             v.type_name()));
}

// The model key: a built-in name, or one of the project's model-*.yaml configs.
std::string resolve_model(const Service& service, const std::string& model) {
  if (model == "tiny" || model == "bench" || model == "small") return model;
  const auto name = fs::path(model).filename().string();
  const auto candidate = fs::path(service.options().configs_dir) / name;
  if (name.rfind("model-", 0) == 0 && fs::path(model).extension() == ".yaml" &&
      fs::is_regular_file(candidate)) {
    return candidate.string();
  }
  throw ApiError(400, "model",
                 fmt::format("config key 'model': '{}' is not one of tiny, bench, small or the "
                             "service's configs/model-*.yaml",
                             model));
}

void check_mesh_preset(const std::string& preset) {
  const auto names = accel::builtin_preset_names();
  if (preset == "host" || std::find(names.begin(), names.end(), preset) != names.end()) return;
  throw ApiError(400, "mesh.preset",
                 fmt::format("config key 'mesh.preset': '{}' is not a built-in preset or 'host'",
                             preset));
}

std::string ingested_shards(Service& service, const Caller& caller, std::int64_t id,
                            const std::string& field, nlohmann::json& clip) {
  const auto d = service.owned_dataset(caller, std::to_string(id));
  const auto shards = fs::path(service.dataset_dir(d.id)) / "shards";
  std::ifstream in(shards / "manifest.json");
  const auto manifest = in ? nlohmann::json::parse(in, nullptr, false) : nlohmann::json();
  if (!manifest.is_object())
    throw ApiError(409, field, fmt::format("dataset {} has not been ingested yet", id));
  clip = manifest.value("clip", nlohmann::json::object());
  return shards.string();
}

// Quotes are pure functions of these keys; the mesh simulation takes ~0.1 s, so repeat
// submissions reuse them.
nlohmann::json cached_quote(const train::TrainConfig& cfg, const model::ModelConfig& model,
                            std::int64_t ranks) {
  static std::mutex mutex;
  static std::map<std::string, nlohmann::json> cache;
  const auto key = fmt::format("{}|{}|{}|{}|{}|{}|{}", cfg.model, cfg.train.global_batch,
                               cfg.train.steps, ranks, cfg.precision, cfg.comm.bucket_mb,
                               cfg.mesh.preset);
  {
    std::lock_guard lock(mutex);
    if (const auto it = cache.find(key); it != cache.end()) return it->second;
  }
  auto quote = train::quote_job(cfg, model, static_cast<int>(ranks)).to_json();
  std::lock_guard lock(mutex);
  if (cache.size() > 256) cache.clear();
  cache[key] = quote;
  return quote;
}

}  // namespace

TrainJobSpec parse_train_job(Service& service, const Caller& caller, const nlohmann::json& body,
                             const std::string& scratch) {
  JsonFields fields(body);
  TrainJobSpec spec;
  const auto kind = fields.optional_string("kind", 16).value_or("train");
  if (kind != "train")
    throw ApiError(400, "kind",
                   fmt::format("'kind' = '{}': POST /v1/jobs runs 'train' jobs (ingest: POST "
                               "/v1/datasets/{{id}}/ingest)",
                               kind));
  const auto preset = fields.optional_string("preset", 16);
  const auto config = fields.optional_string("config", kMaxConfigBytes);
  const auto* set = fields.object("set");
  spec.dataset_id = fields.integer("dataset", 1, std::numeric_limits<std::int64_t>::max());
  spec.eval_dataset_id =
      fields.optional_integer("eval_dataset", 1, std::numeric_limits<std::int64_t>::max())
          .value_or(0);
  const auto user = service.store().user_by_id(caller.user_id);
  spec.ranks = fields.optional_integer("ranks", 1, 1024).value_or(1);
  const auto threads = fields.optional_integer("threads", 1, 64);
  spec.dry_run = fields.boolean("dry_run", false);
  fields.finish();
  if (preset.has_value() == config.has_value())
    throw ApiError(400, preset ? "config" : "preset",
                   "give exactly one of 'preset' (tiny, demo, bench) or 'config' (YAML text)");

  const auto submitted = (fs::path(scratch) / "submitted.yaml").string();
  if (preset) {
    if (*preset != "tiny" && *preset != "demo" && *preset != "bench")
      throw ApiError(400, "preset",
                     fmt::format("'preset' = '{}': expected tiny, demo or bench", *preset));
    fs::copy_file(fs::path(service.options().configs_dir) / (*preset + ".yaml"), submitted);
  } else {
    std::ofstream(submitted) << *config;
  }
  std::vector<std::string> overrides;
  if (set != nullptr) {
    for (const auto& [key, value] : set->items()) {
      if (key.empty() || key.size() > 64 ||
          key.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_.") != std::string::npos)
        throw ApiError(400, "set", fmt::format("'set': '{}' is not a config key", key));
      if (key.rfind("data.", 0) == 0 && key != "data.workers" && key != "data.prefetch" &&
          key != "data.augment")
        throw ApiError(400, "set." + key,
                       fmt::format("'set.{}': the service sets the data paths (use 'dataset' and "
                                   "'eval_dataset')",
                                   key));
      overrides.push_back(key + "=" + set_value(key, value));
    }
  }
  if (threads) overrides.push_back(fmt::format("train.threads={}", *threads));

  train::TrainConfig cfg;
  try {
    // The model and preset files are checked below, once resolved into the service's
    // configs folder (not against the server's working folder).
    cfg = train::load_train_config(submitted, overrides, /*check_files=*/false);
  } catch (const Error& e) {
    throw config_error(e, submitted);
  }
  if (!cfg.data.videos.empty())
    throw ApiError(400, "data.videos",
                   "config key 'data.videos': the service trains on datasets; use 'dataset'");
  cfg.model = resolve_model(service, cfg.model);
  check_mesh_preset(cfg.mesh.preset);
  try {
    train::validate_train_config(cfg);
  } catch (const Error& e) {
    throw config_error(e, submitted);
  }
  nlohmann::json clip;
  cfg.data.shards = ingested_shards(service, caller, spec.dataset_id, "dataset", clip);
  cfg.data.eval_shards.clear();
  if (spec.eval_dataset_id != 0) {
    nlohmann::json eval_clip;
    cfg.data.eval_shards =
        ingested_shards(service, caller, spec.eval_dataset_id, "eval_dataset", eval_clip);
  }
  model::ModelConfig mc;
  try {
    mc = model::load_model_config(cfg.model);
  } catch (const Error& e) {
    throw ApiError(400, "model", e.what());
  }
  if (clip.value("T", 0) != mc.frames || clip.value("H", 0) != mc.height ||
      clip.value("W", 0) != mc.width || clip.value("C", 0) != mc.channels) {
    throw ApiError(400, "dataset",
                   fmt::format("dataset {} holds clips of {} frames, {}x{}, {} channels; model "
                               "'{}' needs {} frames, {}x{}, {} channels (ingest with frames={}, "
                               "size={}x{})",
                               spec.dataset_id, clip.value("T", 0), clip.value("W", 0),
                               clip.value("H", 0), clip.value("C", 0), mc.name, mc.frames,
                               mc.width, mc.height, mc.channels, mc.frames, mc.width, mc.height));
  }
  if (cfg.train.global_batch % spec.ranks != 0)
    throw ApiError(400, "ranks",
                   fmt::format("'ranks' = {}: train.global_batch = {} must divide evenly over "
                               "the ranks",
                               spec.ranks, cfg.train.global_batch));
  if (spec.ranks > user->max_ranks)
    throw ApiError(403, "max_ranks",
                   fmt::format("quota 'max_ranks' = {}: the job asks for {} ranks",
                               user->max_ranks, spec.ranks));
  if (service.options().executor == "local" && spec.ranks > service.options().slots)
    throw ApiError(403, "slots",
                   fmt::format("'ranks' = {}: this server runs at most {} ranks (--slots)",
                               spec.ranks, service.options().slots));
  spec.threads = cfg.train.threads;
  spec.steps = cfg.train.steps;
  spec.config_yaml = train::to_yaml(cfg);
  try {
    spec.quote = cached_quote(cfg, mc, spec.ranks);
  } catch (const Error& e) {
    throw ApiError(400, "config", fmt::format("the job cannot be quoted: {}", e.what()));
  }
  return spec;
}

}  // namespace dojo::serve
