#pragma once
// One clip cut into tubelets and back, and a tubelet's statistics, in the layout of
// accel/tubelet_layout.hpp (ModelConfig::layout()).
#include <cstdint>
#include <span>
#include <vector>

#include "model/config.hpp"

namespace dojo::model {

// One clip (T, H, W, C) -> its tubelets (tokens, patch_dim), and back.
std::vector<float> clip_to_tubelets(const ModelConfig& c, std::span<const float> clip);
std::vector<float> tubelets_to_clip(const ModelConfig& c, std::span<const float> tubelets);

// A tubelet's statistics as the training target uses them (Device::row_normalize):
// target = (x - mean) / scale, mean = sum(x) / P, scale = sqrt(sum((x - mean)^2) / (P - 1))
// + eps (the unbiased standard deviation plus target_eps).
struct TubeletStats {
  double mean = 0;
  double scale = 1;
};
TubeletStats tubelet_stats(std::span<const float> tubelet, double eps);

}  // namespace dojo::model
