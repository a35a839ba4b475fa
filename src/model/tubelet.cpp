#include "model/tubelet.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace dojo::model {
namespace {

// dst = src with axes permuted (dst axis i is src axis perm[i]); 8 axes.
void permute8(const std::array<std::int64_t, 8>& src_dims, const std::array<int, 8>& perm,
              std::span<const float> src, std::span<float> dst) {
  std::array<std::int64_t, 8> src_stride{}, dims{}, stride{};
  src_stride[7] = 1;
  for (int i = 7; i > 0; --i) src_stride[i - 1] = src_stride[i] * src_dims[i];
  std::int64_t total = 1;
  for (int i = 0; i < 8; ++i) {
    dims[i] = src_dims[perm[i]];
    stride[i] = src_stride[perm[i]];
    total *= dims[i];
  }
  DOJO_CHECK(static_cast<std::int64_t>(src.size()) == total &&
                 static_cast<std::int64_t>(dst.size()) == total,
             InvalidArgument, "tubelet permute: {} and {} floats for a tensor of {}", src.size(),
             dst.size(), total);
  std::array<std::int64_t, 8> idx{};
  for (std::int64_t out = 0; out < total; ++out) {
    std::int64_t in = 0;
    for (int i = 0; i < 8; ++i) in += idx[i] * stride[i];
    dst[static_cast<std::size_t>(out)] = src[static_cast<std::size_t>(in)];
    for (int i = 7; i >= 0; --i) {  // odometer over dst axes
      if (++idx[i] < dims[i]) break;
      idx[i] = 0;
    }
  }
}

std::int64_t batch_of(const TubeletLayout& l, std::size_t elems) {
  const auto per = static_cast<std::size_t>(l.clip_elems());
  DOJO_CHECK(elems % per == 0, InvalidArgument,
             "tubelets: {} floats is not a whole number of {}x{}x{}x{} clips", elems, l.frames,
             l.height, l.width, l.channels);
  return static_cast<std::int64_t>(elems / per);
}

}  // namespace

TubeletLayout::TubeletLayout(const ModelConfig& c)
    : slots(c.grid_t()),
      rows(c.grid_h()),
      cols(c.grid_w()),
      tubelet_frames(c.tubelet_frames),
      patch(c.patch),
      channels(c.channels),
      frames(c.frames),
      height(c.height),
      width(c.width) {}

std::array<std::int64_t, 8> TubeletLayout::clip_dims(std::int64_t batch) const {
  return {batch, slots, tubelet_frames, rows, patch, cols, patch, channels};
}

std::array<std::int64_t, 8> TubeletLayout::tubelet_dims(std::int64_t batch) const {
  return {batch, slots, rows, cols, tubelet_frames, patch, patch, channels};
}

void patchify(const TubeletLayout& layout, std::span<const float> clips, std::span<float> out) {
  permute8(layout.clip_dims(batch_of(layout, clips.size())), TubeletLayout::kClipToTubelets, clips,
           out);
}

void unpatchify(const TubeletLayout& layout, std::span<const float> tubelets,
                std::span<float> out) {
  permute8(layout.tubelet_dims(batch_of(layout, tubelets.size())), TubeletLayout::kTubeletsToClip,
           tubelets, out);
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
