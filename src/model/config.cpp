#include "model/config.hpp"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <map>

#include "core/error.hpp"

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

ModelConfig load_yaml(const std::filesystem::path& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path.string());
  } catch (const YAML::BadFile&) {
    throw IoError(fmt::format("model config {}: cannot read the file", path.string()));
  } catch (const YAML::Exception& e) {
    throw FormatError(fmt::format("model config {}: not valid YAML: {}", path.string(), e.what()));
  }
  DOJO_CHECK(root.IsMap(), FormatError, "model config {}: expected a mapping of keys to values",
             path.string());
  ModelConfig c;
  c.name = path.stem().string();
  using Setter = std::function<void(const YAML::Node&)>;
  auto i64 = [](std::int64_t& f) {
    return Setter([&f](const YAML::Node& n) { f = n.as<std::int64_t>(); });
  };
  auto f64 = [](double& f) { return Setter([&f](const YAML::Node& n) { f = n.as<double>(); }); };
  auto f32 = [](float& f) { return Setter([&f](const YAML::Node& n) { f = n.as<float>(); }); };
  const std::map<std::string, Setter> setters = {
      {"name", [&c](const YAML::Node& n) { c.name = n.as<std::string>(); }},
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
       [&c](const YAML::Node& n) { c.precision = accel::parse_precision(n.as<std::string>()); }},
  };
  for (const auto& kv : root) {
    const auto key = kv.first.as<std::string>();
    const auto it = setters.find(key);
    DOJO_CHECK(it != setters.end(), InvalidArgument, "model config {}: unknown key '{}'",
               path.string(), key);
    try {
      it->second(kv.second);
    } catch (const YAML::Exception&) {
      throw InvalidArgument(fmt::format("model config {}: key '{}' has a bad value '{}'",
                                        path.string(), key, YAML::Dump(kv.second)));
    } catch (const InvalidArgument& e) {
      throw InvalidArgument(
          fmt::format("model config {}: key '{}': {}", path.string(), key, e.what()));
    }
  }
  return c;
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

}  // namespace dojo::model
