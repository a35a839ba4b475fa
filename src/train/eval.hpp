#pragma once
// Evaluation on held-out clips, in pixel space ([0, 1] floats), on masked tubelets only:
//   masked_mse         the model's reconstruction
//   baseline_mean_mse  every masked tubelet predicted as the mean of the clip's visible
//                      tubelets (element-wise over the tubelet)
//   baseline_copy_mse  every masked tubelet predicted as a copy of the nearest visible
//                      tubelet in time at the same position; with tube masking no
//                      tubelet at a masked position is ever visible, so the copy comes
//                      from the nearest visible position (squared grid distance) in the
//                      same time slot
//   psnr               10 log10(1 / masked_mse)
// Masks come from (seed, clip index), so every evaluation of a run sees the same masks.
#include <cstdint>
#include <span>
#include <vector>

#include "model/videomae.hpp"

namespace dojo::train {

struct EvalResult {
  double masked_mse = 0;
  double psnr = 0;
  double baseline_mean_mse = 0;
  double baseline_copy_mse = 0;
  double loss = 0;  // the training loss (normalised targets), mean over clips
  std::int64_t clips = 0;
};

// `clips`: count clips of (T, H, W, C) floats. Runs in batches of model.batch() (the last
// batch is padded by repeating clips, which are not counted). If `recon` is non-null it
// receives the reconstructions and masks of the first `keep` clips.
struct Reconstruction {
  std::vector<float> pixels;            // (T, H, W, C)
  std::vector<std::uint8_t> is_masked;  // (tokens)
};
EvalResult evaluate(model::VideoMAE& model, std::span<const float> clips, std::int64_t count,
                    std::uint64_t seed, std::vector<Reconstruction>* recon = nullptr,
                    std::int64_t keep = 0);

}  // namespace dojo::train
