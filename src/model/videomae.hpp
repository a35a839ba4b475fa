#pragma once
// VideoMAE: the masked video autoencoder (DESIGN.md, model).
//
//   clips (B, T, H, W, C) in [0, 1]
//     -> visible tubelets (B*Nv, P = tp*p*p*C) gathered from the clips -> linear
//        -> + sin-cos position                                             "embed"
//     -> encoder blocks (pre-norm ViT) -> LayerNorm        "encoder.i", "encoder.norm"
//     -> linear to the decoder width, scattered back to all N positions with the mask
//        token at masked ones, + sin-cos position                         "decoder.embed"
//     -> decoder blocks -> masked rows -> LayerNorm -> linear head to pixels
//     -> MSE against each masked tubelet (read from the clips) normalised by its own mean
//        and std, in the same pass
//
// The model owns five arenas: parameters, gradients, AdamW's two moments (one table of
// offsets, model/params.hpp) and activations (with the backward scratch). On a dry-run
// Device nothing is allocated: kernels only report their records (params() is empty).
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "accel/device.hpp"
#include "model/arena.hpp"
#include "model/config.hpp"
#include "model/layers.hpp"
#include "model/mask.hpp"
#include "model/params.hpp"

namespace dojo::model {

class VideoMAE {
 public:
  // Sets the device's GEMM precision to config.precision. `batch` clips per call.
  VideoMAE(const ModelConfig& config, accel::Device& device, std::int64_t batch);
  ~VideoMAE();
  VideoMAE(const VideoMAE&) = delete;
  VideoMAE& operator=(const VideoMAE&) = delete;

  const ModelConfig& config() const { return config_; }
  std::int64_t batch() const { return batch_; }
  accel::Device& device() const { return device_; }

  // Xavier-uniform linear weights, zero biases, unit LayerNorm gains, mask token from a
  // normal(0, 0.02) truncated at two standard deviations; deterministic from `seed`.
  // Also zeroes gradients and AdamW moments.
  void init(std::uint64_t seed);

  std::span<float> params() { return params_.span(); }
  std::span<float> grads() { return grads_.span(); }
  std::span<float> adam_m() { return adam_m_.span(); }
  std::span<float> adam_v() { return adam_v_.span(); }
  const ParamTable& table() const { return table_; }
  const std::vector<TensorInfo>& tensors() const { return table_.tensors; }
  std::span<float> param(std::string_view name);
  std::span<float> grad(std::string_view name);
  // Layer names in forward order; on_layer_grads_done's index refers to this list.
  const std::vector<std::string>& layer_names() const { return table_.layers; }
  // [begin, end) gradient-arena element ranges per layer, forward order, tiling the arena.
  std::vector<std::pair<std::size_t, std::size_t>> layer_grad_ranges() const {
    return table_.layer_ranges();
  }
  void zero_grads();
  // L2 norm of each layer's output activations from the last forward pass, in forward
  // order ("embed", "encoder.i", "encoder.norm", "decoder.embed", "decoder.i",
  // "decoder.norm"), for debugging. Empty on a dry-run device.
  std::vector<std::pair<std::string, double>> activation_norms() const;
  // Bytes of the activation arena (forward activations plus backward scratch).
  std::size_t activation_bytes() const { return acts_arena_.size() * sizeof(float); }

  // Forward + backward on one batch. Accumulates into grads() (zero them between steps);
  // returns the mean loss over masked tubelets. `on_layer_grads_done(i)` is called during
  // backward, in reverse layer order, as soon as layer i's gradients are final.
  float forward_backward(std::span<const float> clips, const TubeMask& mask,
                         const std::function<void(std::size_t)>& on_layer_grads_done = {});
  // Forward only (evaluation); touches no gradient.
  float forward_loss(std::span<const float> clips, const TubeMask& mask);
  // The normalised predictions of the last forward pass: (B * masked, P) rows, row
  // r = j * masked + i predicting sample j's token mask.masked_index[j * masked + i], in
  // the target space of tubelet.hpp ((x - mean) / scale of that tubelet). Valid until the
  // next call; empty on a dry-run device.
  std::span<const float> predictions() const;
  // Embeddings for probes: the encoder on every token of each clip (no masking), averaged
  // over tokens. clips (B, T, H, W, C) -> (B, encoder_dim). `layer` says where the tokens
  // are read: kFinalLayer after the final LayerNorm; k in [0, encoder_depth] after the
  // first k blocks (0: the embedded patches plus position; encoder_depth: the last block,
  // before the LayerNorm). `pool_grid` G > 1 averages each cell of a G x G partition of the
  // token positions (over every time slot) instead: (B, G*G*encoder_dim), cell-major, row by
  // row; G must divide grid_h and grid_w. Touches no gradient and none of the training
  // activations.
  static constexpr std::int64_t kFinalLayer = -1;
  std::vector<float> embed(std::span<const float> clips, std::int64_t layer = kFinalLayer,
                           std::int64_t pool_grid = 1);

 private:
  struct Weights;
  struct Acts;
  void bind_weights();
  void carve_acts(Carver<float>& take);
  void set_mask(const TubeMask& mask);
  // The clips' tubelet layout for the device's tubelet kernels.
  accel::TubeletDims tubelets() const;
  // Returns the loss. When `training`, also runs the head's backward (see videomae.cpp).
  double forward(std::span<const float> clips, const TubeMask& mask, bool training);
  void backward(const std::function<void(std::size_t)>& on_layer_grads_done);

  ModelConfig config_;
  accel::Device& device_;
  std::int64_t batch_;
  ParamTable table_;
  Arena<float> params_, grads_, adam_m_, adam_v_, acts_arena_;
  // bf16 precision: the parameters rounded to bf16 at the start of every forward (the GEMMs'
  // weight operands; see LinearParams::weight_bf16). Empty otherwise.
  Arena<std::uint16_t> params_bf16_;
  std::vector<float> encoder_pos_, decoder_pos_;  // (N, dim) fixed sin-cos tables
  std::unique_ptr<Weights> w_;
  std::unique_ptr<Acts> a_;
  // Row indices for the current mask (into (B*N) rows), and zeros for the mask token.
  std::vector<std::int64_t> visible_rows_, masked_rows_, visible_tokens_, zeros_;
};

// 1-D sin-cos table (VideoMAE's get_sinusoid_encoding_table): (tokens, dim),
// angle = pos / 10000^(2 floor(j/2) / dim), sin at even j, cos at odd j.
std::vector<float> sincos_table(std::int64_t tokens, std::int64_t dim);

}  // namespace dojo::model
