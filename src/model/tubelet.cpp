#include "model/tubelet.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace dojo::model {
namespace {

// Calls f(clip_index, tubelet_index) for every element of one clip.
template <typename F>
void for_each_element(const ModelConfig& c, F&& f) {
  const accel::TubeletDims g = c.layout();
  const std::int64_t per = g.row_elems();
  for (std::int64_t t = 0; t < c.frames; ++t) {
    for (std::int64_t y = 0; y < c.height; ++y) {
      for (std::int64_t x = 0; x < c.width; ++x) {
        const std::int64_t token = g.token_of_pixel(t, y, x);
        const std::int64_t inner = g.offset_in_token(t, y, x);
        const std::int64_t pixel = ((t * c.height + y) * c.width + x) * c.channels;
        for (std::int64_t ch = 0; ch < c.channels; ++ch) {
          f(static_cast<std::size_t>(pixel + ch),
            static_cast<std::size_t>(token * per + inner + ch));
        }
      }
    }
  }
}

}  // namespace

std::vector<float> clip_to_tubelets(const ModelConfig& c, std::span<const float> clip) {
  DOJO_ASSERT(static_cast<std::int64_t>(clip.size()) == c.clip_elems(), "clip of {} floats",
              clip.size());
  std::vector<float> out(clip.size());
  for_each_element(c, [&](std::size_t pixel, std::size_t tubelet) { out[tubelet] = clip[pixel]; });
  return out;
}

std::vector<float> tubelets_to_clip(const ModelConfig& c, std::span<const float> tubelets) {
  DOJO_ASSERT(static_cast<std::int64_t>(tubelets.size()) == c.clip_elems(), "tubelets of {} floats",
              tubelets.size());
  std::vector<float> out(tubelets.size());
  for_each_element(c,
                   [&](std::size_t pixel, std::size_t tubelet) { out[pixel] = tubelets[tubelet]; });
  return out;
}

TubeletStats tubelet_stats(std::span<const float> x, double eps) {
  const auto n = static_cast<double>(x.size());
  double sum = 0;
  for (const float v : x) sum += v;
  const double mean = sum / n;
  double sq = 0;
  for (const float v : x) sq += (v - mean) * (v - mean);
  return {mean, std::sqrt(sq / std::max(n - 1.0, 1.0)) + eps};
}

}  // namespace dojo::model
