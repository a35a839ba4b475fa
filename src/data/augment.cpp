#include "data/augment.hpp"

#include <algorithm>
#include <cmath>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "core/error.hpp"
#include "core/random.hpp"

namespace dojo::data {
namespace {

double uniform01(std::uint64_t& state) {
  return static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53;
}

}  // namespace

void clip_to_float(std::span<const std::uint8_t> clip, const ClipShape& shape,
                   std::span<float> out) {
  DOJO_ASSERT(std::ssize(clip) == shape.clip_bytes() && clip.size() == out.size(),
              "clip {} bytes, out {} floats", clip.size(), out.size());
  // A division, not a multiplication by 1/255: the result is the correctly rounded v/255.
  std::transform(clip.begin(), clip.end(), out.begin(),
                 [](std::uint8_t v) { return static_cast<float>(v) / 255.0f; });
}

void augment_clip(std::span<const std::uint8_t> clip, const ClipShape& shape,
                  const AugmentOptions& options, std::uint64_t seed, std::span<float> out) {
  DOJO_ASSERT(std::ssize(clip) == shape.clip_bytes() && clip.size() == out.size(),
              "clip {} bytes, out {} floats", clip.size(), out.size());
  DOJO_CHECK(options.crop_min_scale > 0 && options.crop_min_scale <= 1, InvalidArgument,
             "augment: crop_min_scale = {}, expected (0, 1]", options.crop_min_scale);
  const int h = static_cast<int>(shape.height), w = static_cast<int>(shape.width);
  const int type = shape.channels == 1 ? CV_8UC1 : CV_8UC3;
  const int float_type = shape.channels == 1 ? CV_32FC1 : CV_32FC3;

  std::uint64_t state = seed;
  const double scale = options.crop_min_scale + (1 - options.crop_min_scale) * uniform01(state);
  const int crop_w = std::max(1, static_cast<int>(std::lround(w * scale)));
  const int crop_h = std::max(1, static_cast<int>(std::lround(h * scale)));
  const int x0 = static_cast<int>(uniform01(state) * (w - crop_w + 1));
  const int y0 = static_cast<int>(uniform01(state) * (h - crop_h + 1));
  const bool flip = options.flip && uniform01(state) < 0.5;
  const double gain = 1 + options.contrast * (2 * uniform01(state) - 1);
  const double offset = options.brightness * (2 * uniform01(state) - 1);
  const cv::Rect crop(std::min(x0, w - crop_w), std::min(y0, h - crop_h), crop_w, crop_h);

  cv::Mat resized, flipped, adjusted;
  for (std::int64_t t = 0; t < shape.frames; ++t) {
    // A read-only view of the input frame: never written through.
    const cv::Mat frame(h, w, type,
                        const_cast<std::uint8_t*>(clip.data() + t * shape.frame_bytes()));
    cv::Mat target(h, w, float_type, out.data() + t * shape.frame_bytes());
    cv::Mat source = frame;
    if (crop.width != w || crop.height != h) {
      cv::resize(frame(crop), resized, cv::Size(w, h), 0, 0, cv::INTER_LINEAR);
      source = resized;
    }
    if (flip) {
      cv::flip(source, flipped, 1);
      source = flipped;
    }
    // Colour change in uint8 (saturating, so no clamping pass), then to [0, 1] floats.
    source.convertTo(adjusted, type, gain, offset * 255.0);
    adjusted.convertTo(target, float_type, 1.0 / 255.0);
  }
}

}  // namespace dojo::data
