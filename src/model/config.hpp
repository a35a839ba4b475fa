#pragma once
// ModelConfig: the shape of the masked video autoencoder, and where configs come from.
//
// Built-in configs (also written out as configs/model-<name>.yaml):
//   tiny   4 frames 16x16x3, tubelet 2x4x4 -> 32 tokens; encoder 32/2/2, decoder 16/1/2.
//          Unit tests and the PyTorch reference; a step takes milliseconds.
//   bench  16 frames 96x96x3, tubelet 2x16x16 -> 8x6x6 = 288 tokens, 32 visible;
//          encoder 192/6/3, decoder 96/2/3 (DESIGN.md's benchmark model).
//   small  bench's video with a ViT-S-width encoder (384/12/6) and decoder 192/4/3.
#include <cstdint>
#include <string>
#include <string_view>

#include "accel/cost_sink.hpp"
#include "accel/tubelet_layout.hpp"

namespace dojo::model {

struct ModelConfig {
  std::string name = "bench";
  // Clip: (frames, height, width, channels), pixels in [0, 1].
  std::int64_t frames = 16, height = 96, width = 96, channels = 3;
  // Tubelet: tubelet_frames x patch x patch pixels of every channel.
  std::int64_t tubelet_frames = 2, patch = 16;
  double mask_ratio = 0.9;  // fraction of the spatial positions masked in every time slot
  std::int64_t encoder_dim = 192, encoder_depth = 6, encoder_heads = 3;
  std::int64_t decoder_dim = 96, decoder_depth = 2, decoder_heads = 3;
  double mlp_ratio = 4.0;
  float ln_eps = 1e-6f;      // LayerNorm
  float target_eps = 1e-6f;  // per-tubelet target normalisation: (x - mean) / (std + eps)
  accel::Precision precision = accel::Precision::kFp32;

  // The tubelet layout of `batch` clips of this shape (accel/tubelet_layout.hpp).
  accel::TubeletDims layout(std::int64_t batch = 1) const {
    return {batch, frames, height, width, channels, tubelet_frames, patch};
  }
  // Derived sizes.
  std::int64_t grid_t() const { return layout().grid_t(); }
  std::int64_t grid_h() const { return layout().grid_h(); }
  std::int64_t grid_w() const { return layout().grid_w(); }
  std::int64_t spatial_tokens() const { return grid_h() * grid_w(); }
  std::int64_t tokens() const { return layout().tokens(); }
  std::int64_t patch_dim() const { return layout().row_elems(); }
  std::int64_t clip_elems() const { return frames * height * width * channels; }
  // Tube masking masks floor(ratio * spatial) positions in every time slot (as VideoMAE).
  std::int64_t masked_spatial() const;
  std::int64_t visible_spatial() const { return spatial_tokens() - masked_spatial(); }
  std::int64_t visible_tokens() const { return grid_t() * visible_spatial(); }
  std::int64_t masked_tokens() const { return grid_t() * masked_spatial(); }
  std::int64_t encoder_hidden() const;
  std::int64_t decoder_hidden() const;

  // Throws InvalidArgument naming the first field that is out of its domain.
  void validate() const;
};

// `tiny`, `bench`, `small`, or a path to a YAML file whose keys are ModelConfig's field
// names (any subset; the rest keep bench's values). An unknown key or a bad value throws
// InvalidArgument naming it and the file; an unreadable file throws IoError.
ModelConfig load_model_config(std::string_view name_or_path);
ModelConfig builtin_model_config(std::string_view name);  // throws for unknown names
// The same from YAML text (e.g. stored in a checkpoint); `origin` names it in errors.
ModelConfig model_config_from_yaml(const std::string& text, const std::string& origin);
// Every field as YAML, readable by load_model_config / model_config_from_yaml.
std::string to_yaml(const ModelConfig& config);

// A lower bound on the activation bytes of one forward + backward over `batch` clips (in
// double, so an absurd batch or clip cannot overflow): the tubelets, and per block the
// residual stream, the MLP hidden layer and the attention scores.
double estimate_activation_bytes(const ModelConfig& config, std::int64_t batch);

}  // namespace dojo::model
