#pragma once
// The one home of the tubelet layout, used by the model (patchify, reconstruct) and by
// evaluation (baselines, statistics).
//
// A clip (T, H, W, C) is cut into tokens of tubelet_frames x patch x patch pixels of every
// channel. Token k = (t', y', x') in a (T', H', W') grid, k = (t' H' + y') W' + x', and
// inside a token the elements are ordered (tp, py, px, c). As an 8-D permute over a batch:
//   clip      (B, T', tp, H', p, W', p, C)   --kClipToTubelets-->
//   tubelets  (B, T', H', W', tp, p, p, C)   --kTubeletsToClip-->  clip
#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "model/config.hpp"

namespace dojo::model {

inline constexpr std::array<int, 8> kClipToTubelets = {0, 1, 3, 5, 2, 4, 6, 7};
inline constexpr std::array<int, 8> kTubeletsToClip = {0, 1, 4, 2, 5, 3, 6, 7};

// The 8-D shape of a batch of clips, split for kClipToTubelets.
inline std::array<std::int64_t, 8> clip_dims(const ModelConfig& c, std::int64_t batch) {
  return {batch, c.grid_t(), c.tubelet_frames, c.grid_h(), c.patch, c.grid_w(), c.patch,
          c.channels};
}
// The 8-D shape of a batch of tubelets, for kTubeletsToClip.
inline std::array<std::int64_t, 8> tubelet_dims(const ModelConfig& c, std::int64_t batch) {
  return {batch, c.grid_t(), c.grid_h(), c.grid_w(), c.tubelet_frames, c.patch, c.patch,
          c.channels};
}

// Token index of grid cell (t', y', x').
inline std::int64_t token_index(const ModelConfig& c, std::int64_t t, std::int64_t y,
                                std::int64_t x) {
  return (t * c.grid_h() + y) * c.grid_w() + x;
}

// One clip (T, H, W, C) -> its tubelets (tokens, patch_dim), and back.
std::vector<float> clip_to_tubelets(const ModelConfig& c, std::span<const float> clip);
std::vector<float> tubelets_to_clip(const ModelConfig& c, std::span<const float> tubelets);

}  // namespace dojo::model
