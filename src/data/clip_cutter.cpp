#include "data/clip_cutter.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace dojo::data {

std::int64_t clips_in(std::int64_t frames, const ClipShape& shape, std::int64_t stride) {
  if (stride <= 0) stride = shape.frames * shape.frame_step;
  const std::int64_t span = shape.span_frames();
  return frames < span ? 0 : (frames - span) / stride + 1;
}

namespace {

// The checks that must come before the ring and clip buffers are allocated.
const ClipShape& checked(const ClipShape& shape) {
  check_clip_shape(shape, "clip cutter");
  check_clip_memory(shape, shape.span_frames() + shape.frames, "clip cutter");
  return shape;
}

}  // namespace

ClipCutter::ClipCutter(const ClipShape& shape, std::int64_t stride)
    : shape_(checked(shape)),
      stride_(stride > 0 ? stride : shape.frames * shape.frame_step),
      span_(shape.span_frames()),
      ring_(static_cast<std::size_t>(span_ * shape.frame_bytes())),
      clip_(static_cast<std::size_t>(shape.clip_bytes())) {}

std::span<std::uint8_t> ClipCutter::slot() {
  const std::int64_t bytes = shape_.frame_bytes();
  return {ring_.data() + (frames_seen_ % span_) * bytes, static_cast<std::size_t>(bytes)};
}

bool ClipCutter::push() {
  const std::int64_t newest = frames_seen_++;
  const std::int64_t start = newest - (span_ - 1);
  if (start < 0 || start % stride_ != 0) return false;
  const std::int64_t bytes = shape_.frame_bytes();
  for (std::int64_t t = 0; t < shape_.frames; ++t) {
    const std::int64_t frame = start + t * shape_.frame_step;
    const auto* src = ring_.data() + (frame % span_) * bytes;
    std::copy(src, src + bytes, clip_.data() + t * bytes);
  }
  clip_start_ = start;
  return true;
}

}  // namespace dojo::data
