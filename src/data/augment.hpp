#pragma once
// Clip augmentation and uint8 -> float conversion (OpenCV). Every frame of a clip gets
// the same crop, flip and colour change, so motion stays consistent within the clip.
#include <cstdint>
#include <span>

#include "data/clip_shape.hpp"

namespace dojo::data {

struct AugmentOptions {
  double crop_min_scale = 0.8;  // crop side = U(min, 1) * side, at a random place, resized back
  bool flip = true;             // horizontal flip with probability 1/2
  double brightness = 0.1;      // add U(-b, b) (in [0,1] units)
  double contrast = 0.1;        // multiply by 1 + U(-c, c)
};

// out = clip / 255 exactly, (T, H, W, C).
void clip_to_float(std::span<const std::uint8_t> clip, const ClipShape& shape, std::span<float> out);

// Augments `clip` into `out` (values clamped to [0, 1]). The random choices depend only
// on `seed`, so the same seed gives the same output on any thread.
void augment_clip(std::span<const std::uint8_t> clip, const ClipShape& shape,
                  const AugmentOptions& options, std::uint64_t seed, std::span<float> out);

}  // namespace dojo::data
