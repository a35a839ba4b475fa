#include "model/tubelet.hpp"

#include "core/error.hpp"

namespace dojo::model {
namespace {

// Calls f(clip_index, tubelet_index) for every element of one clip.
template <typename F>
void for_each_element(const ModelConfig& c, F&& f) {
  const std::int64_t gh = c.grid_h(), gw = c.grid_w(), p = c.patch, tp = c.tubelet_frames;
  const std::int64_t per = c.patch_dim();
  for (std::int64_t t = 0; t < c.frames; ++t) {
    for (std::int64_t y = 0; y < c.height; ++y) {
      for (std::int64_t x = 0; x < c.width; ++x) {
        const std::int64_t token = ((t / tp) * gh + y / p) * gw + x / p;
        const std::int64_t inner = (((t % tp) * p + y % p) * p + x % p) * c.channels;
        const std::int64_t pixel = ((t * c.height + y) * c.width + x) * c.channels;
        for (std::int64_t ch = 0; ch < c.channels; ++ch) {
          f(static_cast<std::size_t>(pixel + ch), static_cast<std::size_t>(token * per + inner + ch));
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
  DOJO_ASSERT(static_cast<std::int64_t>(tubelets.size()) == c.clip_elems(),
              "tubelets of {} floats", tubelets.size());
  std::vector<float> out(tubelets.size());
  for_each_element(c, [&](std::size_t pixel, std::size_t tubelet) { out[pixel] = tubelets[tubelet]; });
  return out;
}

}  // namespace dojo::model
