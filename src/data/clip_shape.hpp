#pragma once
// The shape every clip of a shard set shares, and the conventions of its pixels.
//
// A clip is T frames sampled `frame_step` frames apart from one video, each resized to
// H x W (aspect-preserving center crop, then scale) with C channels in RGB order
// (C = 3) or luma only (C = 1). Pixels are uint8, laid out (T, H, W, C).
#include <cstdint>
#include <string>

namespace dojo::data {

struct ClipShape {
  std::int64_t frames = 16;     // T
  std::int64_t height = 96;     // H
  std::int64_t width = 96;      // W
  std::int64_t channels = 3;    // C: 3 (RGB) or 1 (gray)
  std::int64_t frame_step = 1;  // distance in sampled frames between a clip's frames

  std::int64_t frame_bytes() const { return height * width * channels; }
  std::int64_t clip_bytes() const { return frames * frame_bytes(); }
  // Sampled frames one clip spans: (T - 1) * step + 1.
  std::int64_t span_frames() const { return (frames - 1) * frame_step + 1; }
  bool operator==(const ClipShape&) const = default;
};

// Throws InvalidArgument naming the bad field when the shape is unusable.
void check_clip_shape(const ClipShape& shape, const std::string& what);

std::string to_string(const ClipShape& shape);  // "16x96x96x3 step 1"

// Throws InvalidArgument when `frames_held` frames of `shape` (what the caller keeps in
// memory at once) need more than half of this machine's physical memory, naming the flags
// that set the shape (--frames, --size, --channels, --frame-step) and the sizes. Call
// before allocating.
void check_clip_memory(const ClipShape& shape, std::int64_t frames_held, const std::string& what);

}  // namespace dojo::data
