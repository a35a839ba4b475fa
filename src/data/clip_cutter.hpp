#pragma once
// ClipCutter: turns a stream of sampled frames into clips of a ClipShape.
//
// Words: a clip spans S = (T - 1) * frame_step + 1 consecutive sampled frames and takes
// every frame_step-th of them; clip c starts at sampled frame c * stride. A video of n
// sampled frames therefore gives floor((n - S) / stride) + 1 clips when n >= S, else 0.
// The cutter keeps the last S frames in a ring, so memory is S frames however long the
// video is.
#include <cstdint>
#include <span>
#include <vector>

#include "data/clip_shape.hpp"

namespace dojo::data {

// Number of clips a video of `frames` sampled frames yields.
std::int64_t clips_in(std::int64_t frames, const ClipShape& shape, std::int64_t stride);

class ClipCutter {
 public:
  // `stride` <= 0 means T * frame_step (clips that neither overlap nor leave gaps).
  ClipCutter(const ClipShape& shape, std::int64_t stride);

  // Where to write the next frame ((H, W, C) bytes).
  std::span<std::uint8_t> slot();
  // Accepts the frame written into slot(); true when it completed a clip, which clip()
  // and clip_start() then describe until the next push().
  bool push();
  std::span<const std::uint8_t> clip() const { return clip_; }
  std::int64_t clip_start() const { return clip_start_; }
  std::int64_t frames_seen() const { return frames_seen_; }
  std::int64_t stride() const { return stride_; }

 private:
  ClipShape shape_;
  std::int64_t stride_;
  std::int64_t span_;
  std::vector<std::uint8_t> ring_;  // (S, H, W, C)
  std::vector<std::uint8_t> clip_;  // (T, H, W, C)
  std::int64_t frames_seen_ = 0;
  std::int64_t clip_start_ = -1;
};

}  // namespace dojo::data
