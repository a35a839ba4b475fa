#pragma once
// The one home of the tubelet layout (VideoMAE's patchify), used by the Device's tubelet
// kernels, by the model (patchify, embed) and by evaluation (baselines, reconstructions).
//
// Clips are (batch, frames, height, width, channels). A token is tubelet_frames x patch x
// patch pixels of every channel; token k = (t', y', x') of a (T', H', W') grid, with
// k = (t' H' + y') W' + x', and a token's row holds its pixels in (tp, py, px, c) order.
// Rows are numbered over (batch, tokens). As an 8-D permute over a batch:
//   clip (B, T', tp, H', p, W', p, C)  --kClipToTubelets-->  tubelets (B, T', H', W', tp, p, p, C)
#include <array>
#include <cstdint>

namespace dojo::accel {

inline constexpr std::array<int, 8> kClipToTubelets = {0, 1, 3, 5, 2, 4, 6, 7};

struct TubeletDims {
  std::int64_t batch = 0, frames = 0, height = 0, width = 0, channels = 0;
  std::int64_t tubelet_frames = 0, patch = 0;

  std::int64_t grid_t() const { return frames / tubelet_frames; }
  std::int64_t grid_h() const { return height / patch; }
  std::int64_t grid_w() const { return width / patch; }
  std::int64_t tokens() const { return grid_t() * grid_h() * grid_w(); }
  std::int64_t row_elems() const { return tubelet_frames * patch * patch * channels; }

  // Token of grid cell (t', y', x'), and back.
  std::int64_t token_index(std::int64_t t, std::int64_t y, std::int64_t x) const {
    return (t * grid_h() + y) * grid_w() + x;
  }
  std::int64_t token_slot(std::int64_t k) const { return k / (grid_h() * grid_w()); }
  std::int64_t token_row(std::int64_t k) const { return k / grid_w() % grid_h(); }
  std::int64_t token_col(std::int64_t k) const { return k % grid_w(); }
  // Token holding pixel (t, y, x) of a clip, and the pixel's offset inside the token's row
  // (channel 0; the channels follow).
  std::int64_t token_of_pixel(std::int64_t t, std::int64_t y, std::int64_t x) const {
    return token_index(t / tubelet_frames, y / patch, x / patch);
  }
  std::int64_t offset_in_token(std::int64_t t, std::int64_t y, std::int64_t x) const {
    return (((t % tubelet_frames) * patch + y % patch) * patch + x % patch) * channels;
  }

  // The 8-D shape of a batch of clips, split for kClipToTubelets.
  std::array<std::int64_t, 8> clip_dims() const {
    return {batch, grid_t(), tubelet_frames, grid_h(), patch, grid_w(), patch, channels};
  }
};

}  // namespace dojo::accel
