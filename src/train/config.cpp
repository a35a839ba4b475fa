#include "train/config.hpp"

#include <xxhash.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <sstream>

#include "accel/presets.hpp"
#include "core/error.hpp"
#include "core/yaml.hpp"
#include "model/config.hpp"

namespace dojo::train {
namespace {

// Checks across keys (min_lr <= lr, micro_batch <= global_batch); defined below.
void check_consistent(const TrainConfig& config);

// The largest global batch any configuration can use (clips per optimizer step).
constexpr std::int64_t kMaxGlobalBatch = std::int64_t{1} << 16;

// One configuration key: how to read it into TrainConfig and how to write it back.
struct Field {
  std::function<void(TrainConfig&, const YAML::Node&, const std::string& key)> read;
  std::function<YAML::Node(const TrainConfig&)> write;
};

template <typename T>
T scalar(const YAML::Node& node, const std::string& key, const char* expected) {
  return yaml_scalar<T>(node, key, expected);
}

// Field makers. `get` returns a reference to the member inside a config.
template <typename Get>
Field int_field(Get get, std::int64_t min, std::int64_t max = INT64_MAX) {
  return {[=](TrainConfig& c, const YAML::Node& n, const std::string& key) {
            const auto v = scalar<std::int64_t>(n, key, "an integer");
            DOJO_CHECK(v >= min && v <= max, InvalidArgument,
                       "config key '{}': {} is out of range [{}, {}]", key, v, min, max);
            get(c) = static_cast<std::remove_reference_t<decltype(get(c))>>(v);
          },
          [=](const TrainConfig& c) { return YAML::Node(get(const_cast<TrainConfig&>(c))); }};
}

template <typename Get>
Field real_field(Get get, double min, double max, bool min_exclusive = false,
                 bool max_exclusive = false) {
  return {[=](TrainConfig& c, const YAML::Node& n, const std::string& key) {
            const auto v = scalar<double>(n, key, "a number");
            const bool ok = std::isfinite(v) && (min_exclusive ? v > min : v >= min) &&
                            (max_exclusive ? v < max : v <= max);
            DOJO_CHECK(ok, InvalidArgument, "config key '{}': {} is out of range {}{}, {}{}", key,
                       v, min_exclusive ? "(" : "[", min, max, max_exclusive ? ")" : "]");
            get(c) = v;
          },
          [=](const TrainConfig& c) { return YAML::Node(get(const_cast<TrainConfig&>(c))); }};
}

// A gradient bucket size in MB, or `auto` (stored as 0).
template <typename Get>
Field bucket_field(Get get) {
  const Field number = real_field(get, 0, 4096, true);
  return {[=](TrainConfig& c, const YAML::Node& n, const std::string& key) {
            if (n.IsScalar() && n.Scalar() == "auto") {
              get(c) = 0;
              return;
            }
            number.read(c, n, key);
          },
          [=](const TrainConfig& c) {
            const double mb = get(const_cast<TrainConfig&>(c));
            return mb > 0 ? YAML::Node(mb) : YAML::Node("auto");
          }};
}

template <typename Get>
Field bool_field(Get get) {
  return {[=](TrainConfig& c, const YAML::Node& n, const std::string& key) {
            get(c) = scalar<bool>(n, key, "true or false");
          },
          [=](const TrainConfig& c) { return YAML::Node(get(const_cast<TrainConfig&>(c))); }};
}

template <typename Get>
Field string_field(Get get, std::vector<std::string> allowed = {}) {
  return {[=](TrainConfig& c, const YAML::Node& n, const std::string& key) {
            auto v = n.IsNull() ? std::string() : scalar<std::string>(n, key, "a string");
            if (!allowed.empty()) {
              bool ok = false;
              std::string list;
              for (const auto& a : allowed) {
                ok = ok || a == v;
                list += (list.empty() ? "" : ", ") + a;
              }
              DOJO_CHECK(ok, InvalidArgument, "config key '{}': '{}' is not one of: {}", key, v,
                         list);
            }
            get(c) = v;
          },
          [=](const TrainConfig& c) { return YAML::Node(get(const_cast<TrainConfig&>(c))); }};
}

template <typename Get>
Field string_list_field(Get get) {
  return {[=](TrainConfig& c, const YAML::Node& n, const std::string& key) {
            std::vector<std::string> out;
            if (n.IsScalar()) {
              out.push_back(n.Scalar());
            } else if (n.IsSequence()) {
              for (const auto& item : n) out.push_back(scalar<std::string>(item, key, "a path"));
            } else if (!n.IsNull()) {
              throw InvalidArgument(fmt::format(
                  "config key '{}': expected a list of paths, got {}", key, describe_yaml(n)));
            }
            get(c) = out;
          },
          [=](const TrainConfig& c) {
            YAML::Node n(YAML::NodeType::Sequence);
            for (const auto& s : get(const_cast<TrainConfig&>(c))) n.push_back(s);
            return n;
          }};
}

#define DOJO_MEMBER(path)        \
  [](TrainConfig & c) -> auto& { \
    return c.path;               \
  }

const std::map<std::string, Field>& schema() {
  static const std::map<std::string, Field> fields = {
      {"model", string_field(DOJO_MEMBER(model))},
      {"precision", string_field(DOJO_MEMBER(precision), {"fp32", "bf16"})},
      {"data.shards", string_field(DOJO_MEMBER(data.shards))},
      {"data.videos", string_list_field(DOJO_MEMBER(data.videos))},
      {"data.eval_shards", string_field(DOJO_MEMBER(data.eval_shards))},
      {"data.workers", int_field(DOJO_MEMBER(data.workers), 1, 64)},
      {"data.prefetch", int_field(DOJO_MEMBER(data.prefetch), 1, 1024)},
      {"data.augment", bool_field(DOJO_MEMBER(data.augment))},
      {"train.steps", int_field(DOJO_MEMBER(train.steps), 1, std::int64_t{1} << 40)},
      {"train.global_batch", int_field(DOJO_MEMBER(train.global_batch), 1, kMaxGlobalBatch)},
      {"train.micro_batch", int_field(DOJO_MEMBER(train.micro_batch), 0, kMaxGlobalBatch)},
      {"train.lr", real_field(DOJO_MEMBER(train.lr), 0, 10, true)},
      {"train.min_lr", real_field(DOJO_MEMBER(train.min_lr), 0, 10)},
      {"train.warmup_steps", int_field(DOJO_MEMBER(train.warmup_steps), 0, std::int64_t{1} << 40)},
      {"train.weight_decay", real_field(DOJO_MEMBER(train.weight_decay), 0, 10)},
      {"train.beta1", real_field(DOJO_MEMBER(train.beta1), 0, 1, false, true)},
      {"train.beta2", real_field(DOJO_MEMBER(train.beta2), 0, 1, false, true)},
      {"train.grad_clip", real_field(DOJO_MEMBER(train.grad_clip), 0, 1e9)},
      {"train.checkpoint_every", int_field(DOJO_MEMBER(train.checkpoint_every), 0, std::int64_t{1} << 40)},
      {"train.keep_checkpoints", int_field(DOJO_MEMBER(train.keep_checkpoints), 1, 1000000)},
      {"train.log_every", int_field(DOJO_MEMBER(train.log_every), 1, std::int64_t{1} << 40)},
      {"train.eval_every", int_field(DOJO_MEMBER(train.eval_every), 0, std::int64_t{1} << 40)},
      {"train.seed", int_field(DOJO_MEMBER(train.seed), 0)},
      {"train.threads", int_field(DOJO_MEMBER(train.threads), 1, 256)},
      {"comm.backend", string_field(DOJO_MEMBER(comm.backend), {"mpi", "gloo"})},
      {"comm.algorithm", string_field(DOJO_MEMBER(comm.algorithm),
                                      {"auto", "ring", "recursive_doubling", "mpi", "gloo", "shm", "hierarchical"})},
      {"comm.bucket_mb", bucket_field(DOJO_MEMBER(comm.bucket_mb))},
      {"comm.timeout_s", real_field(DOJO_MEMBER(comm.timeout_s), 0.001, 86400)},
      {"mesh.preset", string_field(DOJO_MEMBER(mesh.preset))},
      {"eval.clips", int_field(DOJO_MEMBER(eval.clips), 0, 1000000)},
      {"eval.samples", int_field(DOJO_MEMBER(eval.samples), 0, 64)},
  };
  return fields;
}

#undef DOJO_MEMBER

std::string known_keys() {
  std::string out;
  for (const auto& [key, field] : schema()) out += (out.empty() ? "" : ", ") + key;
  return out;
}

void apply(TrainConfig& config, const std::string& key, const YAML::Node& value,
           const std::string& origin) {
  auto it = schema().find(key);
  DOJO_CHECK(it != schema().end(), InvalidArgument, "{}: unknown config key '{}' (known: {})",
             origin, key, known_keys());
  it->second.read(config, value, key);
}

// Walks nested maps, applying each leaf under its dotted key.
void apply_tree(TrainConfig& config, const YAML::Node& node, const std::string& prefix,
                const std::string& origin) {
  DOJO_CHECK(node.IsMap(), InvalidArgument, "{}: config key '{}': expected a mapping of keys, got {}",
             origin, prefix.empty() ? std::string("(top level)") : prefix.substr(0, prefix.size() - 1),
             node.IsSequence() ? "a list" : describe_yaml(node));
  for (const auto& item : node) {
    const std::string key = prefix + scalar<std::string>(item.first, prefix + "(a key)", "a key name");
    if (item.second.IsMap()) {
      apply_tree(config, item.second, key + ".", origin);
    } else {
      apply(config, key, item.second, origin);
    }
  }
}

}  // namespace

TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& overrides,
                              bool check_files) {
  TrainConfig config;
  if (!path.empty()) {
    const YAML::Node root = load_yaml_file(path, "config");
    if (!root.IsNull()) {
      DOJO_CHECK(root.IsMap(), FormatError, "config {}: expected a mapping of keys at the top",
                 path);
      apply_tree(config, root, "", "config " + path);
    }
    // A model file named in a config file is looked up next to that file first, so a config
    // works from any folder; else as written (from the working folder, as before).
    const std::filesystem::path model(config.model);
    const auto ext = model.extension().string();
    if ((ext == ".yaml" || ext == ".yml") && model.is_relative()) {
      const auto beside = (std::filesystem::path(path).parent_path() / model).lexically_normal();
      std::error_code ec;
      if (std::filesystem::is_regular_file(beside, ec)) config.model = beside.string();
    }
  }
  for (const auto& item : overrides) {
    const auto eq = item.find('=');
    DOJO_CHECK(eq != std::string::npos && eq > 0, InvalidArgument, "--set '{}': expected key=value",
               item);
    YAML::Node value;
    try {
      value = load_yaml_text(item.substr(eq + 1), fmt::format("--set '{}'", item));
    } catch (const FormatError& e) {
      throw InvalidArgument(e.what());
    }
    apply(config, item.substr(0, eq), value, "--set");
  }
  check_consistent(config);
  if (check_files) validate_train_config(config);
  return config;
}

void validate_train_config(const TrainConfig& config) {
  check_consistent(config);
  // The model and the mesh preset are files or names: check them now, not at step 1.
  try {
    (void)model::load_model_config(config.model);
  } catch (const Error& e) {
    throw InvalidArgument(fmt::format("config key 'model': {}", e.what()));
  }
  try {
    (void)accel::resolve_preset(config.mesh.preset);
  } catch (const Error& e) {
    throw InvalidArgument(fmt::format("config key 'mesh.preset': {}", e.what()));
  }
}

namespace {
void check_consistent(const TrainConfig& config) {
  DOJO_CHECK(config.train.min_lr <= config.train.lr, InvalidArgument,
             "config key 'train.min_lr': {} is above train.lr = {}", config.train.min_lr,
             config.train.lr);
  DOJO_CHECK(config.train.micro_batch <= config.train.global_batch, InvalidArgument,
             "config key 'train.micro_batch': {} is above train.global_batch = {}",
             config.train.micro_batch, config.train.global_batch);
}
}  // namespace

std::string to_yaml(const TrainConfig& config) {
  YAML::Node root;
  for (const auto& [key, field] : schema()) {
    const auto dot = key.find('.');  // keys are "name" or "section.name"
    if (dot == std::string::npos) {
      root[key] = field.write(config);
    } else {
      root[key.substr(0, dot)][key.substr(dot + 1)] = field.write(config);
    }
  }
  YAML::Emitter out;
  out << root;
  return std::string(out.c_str()) + "\n";
}

namespace {

void flatten(const YAML::Node& node, const std::string& prefix,
             std::map<std::string, std::string>& out) {
  if (node.IsMap()) {
    for (const auto& item : node) {
      flatten(item.second, prefix + item.first.Scalar() + ".", out);
    }
    return;
  }
  YAML::Emitter text;
  text << YAML::Flow << node;
  out[prefix.substr(0, prefix.size() - 1)] = text.c_str();
}

std::map<std::string, std::string> flatten_text(const std::string& yaml, const char* what) {
  std::map<std::string, std::string> out;
  flatten(load_yaml_text(yaml, what), "", out);
  return out;
}

}  // namespace

std::vector<ConfigChange> config_changes(const std::string& from_yaml, const std::string& to_yaml) {
  const auto from = flatten_text(from_yaml, "config (before)");
  const auto to = flatten_text(to_yaml, "config (after)");
  std::vector<ConfigChange> out;
  for (const auto& [key, value] : from) {
    const auto it = to.find(key);
    const std::string other = it == to.end() ? "(unset)" : it->second;
    if (other != value) out.push_back({key, value, other});
  }
  for (const auto& [key, value] : to) {
    if (!from.contains(key)) out.push_back({key, "(unset)", value});
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.key < b.key; });
  return out;
}

std::string config_hash(const TrainConfig& config) {
  const std::string text = to_yaml(config);
  return fmt::format("{:016x}", XXH64(text.data(), text.size(), 0));
}

}  // namespace dojo::train
