#pragma once
// The tubelet layout, written once for the model and everything that reads its outputs
// (eval, reconstructions, export checks).
//
// Words. A clip is (T, H, W, C) floats. It is cut into tubelets of tubelet_frames x
// patch x patch pixels of every channel. A *slot* is one group of tubelet_frames frames
// (T' = T / tubelet_frames of them), a *row* and *column* index the patch grid
// (H' = H / patch, W' = W / patch). Token k of a clip is
//     k = (slot * H' + row) * W' + col,
// and element e of a tubelet is
//     e = ((dt * patch + dy) * patch + dx) * C + c      (dt < tubelet_frames, dy, dx < patch).
// Patchify is the permutation (B, T', tp, H', p, W', p, C) -> (B, T', H', W', tp, p, p, C);
// unpatchify is its inverse. The model runs it through Device::permute with the same
// dims and axes (clip_dims / kClipToTubelets), the host functions below through a plain
// loop.
//
// Statistics. The training target of a tubelet x (P = tubelet elements) is
//     (x - mean) / scale,   mean = sum(x) / P,
//     scale = sqrt(sum((x - mean)^2) / (P - 1)) + eps,
// the unbiased standard deviation plus eps (as Device::row_normalize computes it).
#include <array>
#include <cstdint>
#include <span>

#include "model/config.hpp"

namespace dojo::model {

struct TubeletLayout {
  explicit TubeletLayout(const ModelConfig& config);

  std::int64_t slots, rows, cols;  // T', H', W'
  std::int64_t tubelet_frames, patch, channels;
  std::int64_t frames, height, width;

  std::int64_t tokens() const { return slots * rows * cols; }
  std::int64_t elems() const { return tubelet_frames * patch * patch * channels; }
  std::int64_t clip_elems() const { return frames * height * width * channels; }
  std::int64_t token(std::int64_t slot, std::int64_t row, std::int64_t col) const {
    return (slot * rows + row) * cols + col;
  }
  std::int64_t slot_of(std::int64_t token) const { return token / (rows * cols); }
  std::int64_t row_of(std::int64_t token) const { return token / cols % rows; }
  std::int64_t col_of(std::int64_t token) const { return token % cols; }

  // Patchify as a permutation: clip axes (B, T', tp, H', p, W', p, C) and the order that
  // gives (B, T', H', W', tp, p, p, C). Unpatchify: tubelet_dims and kTubeletsToClip.
  std::array<std::int64_t, 8> clip_dims(std::int64_t batch) const;
  std::array<std::int64_t, 8> tubelet_dims(std::int64_t batch) const;
  static constexpr std::array<int, 8> kClipToTubelets = {0, 1, 3, 5, 2, 4, 6, 7};
  static constexpr std::array<int, 8> kTubeletsToClip = {0, 1, 4, 2, 5, 3, 6, 7};
};

// clips (B, T, H, W, C) -> tubelets (B, N, P); overwrites `out` (same size as `clips`).
void patchify(const TubeletLayout& layout, std::span<const float> clips, std::span<float> out);
// tubelets (B, N, P) -> clips (B, T, H, W, C); overwrites `out`.
void unpatchify(const TubeletLayout& layout, std::span<const float> tubelets, std::span<float> out);

struct TubeletStats {
  double mean = 0;
  double scale = 1;  // unbiased std + eps
};
TubeletStats tubelet_stats(std::span<const float> tubelet, double eps);

}  // namespace dojo::model
