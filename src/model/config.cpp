#include "model/config.hpp"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <map>

#include "core/error.hpp"
#include "core/yaml.hpp"

namespace dojo::model {

std::int64_t ModelConfig::masked_spatial() const {
  return std::int64_t(std::floor(mask_ratio * double(spatial_tokens()) + 1e-9));
}
std::int64_t ModelConfig::encoder_hidden() const {
  return std::int64_t(std::llround(mlp_ratio * double(encoder_dim)));
}
std::int64_t ModelConfig::decoder_hidden() const {
  return std::int64_t(std::llround(mlp_ratio * double(decoder_dim)));
}

void ModelConfig::validate() const {
  auto positive = [&](std::int64_t v, const char* field) {
    DOJO_CHECK(v > 0, InvalidArgument, "model config '{}': {} must be positive, got {}", name,
               field, v);
  };
  positive(frames, "frames");
  positive(height, "height");
  positive(width, "width");
  positive(channels, "channels");
  positive(tubelet_frames, "tubelet_frames");
  positive(patch, "patch");
  positive(encoder_dim, "encoder_dim");
  positive(encoder_depth, "encoder_depth");
  positive(encoder_heads, "encoder_heads");
  positive(decoder_dim, "decoder_dim");
  positive(decoder_depth, "decoder_depth");
  positive(decoder_heads, "decoder_heads");
  // Upper bounds: what can work on any machine, so that derived sizes never overflow.
  auto at_most = [&](std::int64_t v, std::int64_t max, const char* field) {
    DOJO_CHECK(v <= max, InvalidArgument, "model config '{}': {} = {} is above the limit {}", name,
               field, v, max);
  };
  at_most(frames, 4096, "frames");
  at_most(height, 8192, "height");
  at_most(width, 8192, "width");
  at_most(channels, 4, "channels");
  at_most(tubelet_frames, frames, "tubelet_frames");
  at_most(patch, std::min(height, width), "patch");
  at_most(encoder_dim, 16384, "encoder_dim");
  at_most(decoder_dim, 16384, "decoder_dim");
  at_most(encoder_depth, 256, "encoder_depth");
  at_most(decoder_depth, 256, "decoder_depth");
  at_most(encoder_heads, encoder_dim, "encoder_heads");
  at_most(decoder_heads, decoder_dim, "decoder_heads");
  DOJO_CHECK(mlp_ratio <= 64, InvalidArgument, "model config '{}': mlp_ratio {} is above 64", name,
             mlp_ratio);
  DOJO_CHECK(static_cast<double>(frames) * height * width * channels <= double(1 << 30),
             InvalidArgument,
             "model config '{}': a clip of {}x{}x{}x{} has more than 2^30 values; use fewer "
             "frames or a smaller size",
             name, frames, height, width, channels);
  DOJO_CHECK(frames % tubelet_frames == 0, InvalidArgument,
             "model config '{}': frames {} is not a multiple of tubelet_frames {}", name, frames,
             tubelet_frames);
  DOJO_CHECK(height % patch == 0 && width % patch == 0, InvalidArgument,
             "model config '{}': height {} and width {} must be multiples of patch {}", name,
             height, width, patch);
  DOJO_CHECK(encoder_dim % encoder_heads == 0, InvalidArgument,
             "model config '{}': encoder_dim {} is not divisible by encoder_heads {}", name,
             encoder_dim, encoder_heads);
  DOJO_CHECK(decoder_dim % decoder_heads == 0, InvalidArgument,
             "model config '{}': decoder_dim {} is not divisible by decoder_heads {}", name,
             decoder_dim, decoder_heads);
  DOJO_CHECK(mlp_ratio > 0 && encoder_hidden() > 0 && decoder_hidden() > 0, InvalidArgument,
             "model config '{}': mlp_ratio must be positive, got {}", name, mlp_ratio);
  DOJO_CHECK(ln_eps > 0 && target_eps > 0, InvalidArgument,
             "model config '{}': ln_eps and target_eps must be positive, got {} and {}", name,
             ln_eps, target_eps);
  DOJO_CHECK(mask_ratio > 0 && mask_ratio < 1 && masked_spatial() >= 1 && visible_spatial() >= 1,
             InvalidArgument,
             "model config '{}': mask_ratio {} must leave at least one masked and one visible "
             "position of {}",
             name, mask_ratio, spatial_tokens());
}

ModelConfig builtin_model_config(std::string_view name) {
  ModelConfig c;  // bench
  c.name = std::string(name);
  if (name == "bench") return c;
  if (name == "tiny") {
    c.frames = 4;
    c.height = 16;
    c.width = 16;
    c.tubelet_frames = 2;
    c.patch = 4;
    c.mask_ratio = 0.75;
    c.encoder_dim = 32;
    c.encoder_depth = 2;
    c.encoder_heads = 2;
    c.decoder_dim = 16;
    c.decoder_depth = 1;
    c.decoder_heads = 2;
    return c;
  }
  if (name == "small") {
    c.encoder_dim = 384;
    c.encoder_depth = 12;
    c.encoder_heads = 6;
    c.decoder_dim = 192;
    c.decoder_depth = 4;
    c.decoder_heads = 3;
    return c;
  }
  throw InvalidArgument(fmt::format(
      "model config '{}' is neither a built-in (tiny, bench, small) nor a .yaml file", name));
}

namespace {

ModelConfig from_node(const YAML::Node& root, const std::string& origin, std::string default_name) {
  DOJO_CHECK(root.IsMap(), FormatError, "model config {}: expected a mapping of keys to values",
             origin);
  ModelConfig c;
  c.name = std::move(default_name);
  using Setter = std::function<void(const YAML::Node&)>;
  std::string key;  // the key being read, for errors
  auto i64 = [&key](std::int64_t& f) {
    return Setter([&f, &key](const YAML::Node& n) { f = yaml_scalar<std::int64_t>(n, key, "an integer"); });
  };
  auto f64 = [&key](double& f) {
    return Setter([&f, &key](const YAML::Node& n) { f = yaml_scalar<double>(n, key, "a number"); });
  };
  auto f32 = [&key](float& f) {
    return Setter([&f, &key](const YAML::Node& n) { f = yaml_scalar<float>(n, key, "a number"); });
  };
  const std::map<std::string, Setter> setters = {
      {"name", [&](const YAML::Node& n) { c.name = yaml_scalar<std::string>(n, key, "a string"); }},
      {"frames", i64(c.frames)},
      {"height", i64(c.height)},
      {"width", i64(c.width)},
      {"channels", i64(c.channels)},
      {"tubelet_frames", i64(c.tubelet_frames)},
      {"patch", i64(c.patch)},
      {"mask_ratio", f64(c.mask_ratio)},
      {"encoder_dim", i64(c.encoder_dim)},
      {"encoder_depth", i64(c.encoder_depth)},
      {"encoder_heads", i64(c.encoder_heads)},
      {"decoder_dim", i64(c.decoder_dim)},
      {"decoder_depth", i64(c.decoder_depth)},
      {"decoder_heads", i64(c.decoder_heads)},
      {"mlp_ratio", f64(c.mlp_ratio)},
      {"ln_eps", f32(c.ln_eps)},
      {"target_eps", f32(c.target_eps)},
      {"precision",
       [&](const YAML::Node& n) {
         c.precision = accel::parse_precision(yaml_scalar<std::string>(n, key, "fp32 or bf16"));
       }},
  };
  for (const auto& kv : root) {
    key = yaml_scalar<std::string>(kv.first, "(a key)", "a key name");
    const auto it = setters.find(key);
    DOJO_CHECK(it != setters.end(), InvalidArgument, "model config {}: unknown key '{}'", origin,
               key);
    try {
      it->second(kv.second);
    } catch (const InvalidArgument& e) {
      throw InvalidArgument(fmt::format("model config {}: key '{}': {}", origin, key, e.what()));
    }
  }
  return c;
}

ModelConfig load_yaml(const std::filesystem::path& path) {
  return from_node(load_yaml_file(path.string(), "model config"), path.string(),
                   path.stem().string());
}

}  // namespace

ModelConfig load_model_config(std::string_view name_or_path) {
  const std::filesystem::path path(name_or_path);
  const auto ext = path.extension().string();
  ModelConfig c =
      (ext == ".yaml" || ext == ".yml") ? load_yaml(path) : builtin_model_config(name_or_path);
  c.validate();
  return c;
}

ModelConfig model_config_from_yaml(const std::string& text, const std::string& origin) {
  ModelConfig c = from_node(load_yaml_text(text, "model config " + origin), origin, "model");
  c.validate();
  return c;
}

std::string to_yaml(const ModelConfig& c) {
  YAML::Emitter out;
  out.SetDoublePrecision(17);
  out.SetFloatPrecision(9);
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << c.name;
  const std::pair<const char*, std::int64_t> ints[] = {
      {"frames", c.frames},           {"height", c.height},
      {"width", c.width},             {"channels", c.channels},
      {"tubelet_frames", c.tubelet_frames}, {"patch", c.patch},
      {"encoder_dim", c.encoder_dim}, {"encoder_depth", c.encoder_depth},
      {"encoder_heads", c.encoder_heads}, {"decoder_dim", c.decoder_dim},
      {"decoder_depth", c.decoder_depth}, {"decoder_heads", c.decoder_heads}};
  for (const auto& [key, value] : ints) out << YAML::Key << key << YAML::Value << value;
  out << YAML::Key << "mask_ratio" << YAML::Value << c.mask_ratio;
  out << YAML::Key << "mlp_ratio" << YAML::Value << c.mlp_ratio;
  out << YAML::Key << "ln_eps" << YAML::Value << c.ln_eps;
  out << YAML::Key << "target_eps" << YAML::Value << c.target_eps;
  out << YAML::Key << "precision" << YAML::Value << accel::to_string(c.precision);
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

double estimate_activation_bytes(const ModelConfig& c, std::int64_t batch) {
  const double b = static_cast<double>(batch), n = static_cast<double>(c.tokens());
  const double nv = static_cast<double>(c.visible_tokens());
  const double encoder = static_cast<double>(c.encoder_depth) *
                         (nv * (4.0 * c.encoder_dim + c.encoder_hidden()) +
                          static_cast<double>(c.encoder_heads) * nv * nv);
  const double decoder = static_cast<double>(c.decoder_depth) *
                         (n * (4.0 * c.decoder_dim + c.decoder_hidden()) +
                          static_cast<double>(c.decoder_heads) * n * n);
  return 4.0 * b * (n * static_cast<double>(c.patch_dim()) + encoder + decoder);
}

}  // namespace dojo::model
