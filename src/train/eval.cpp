#include "train/eval.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "model/tubelet.hpp"
#include "train/masks.hpp"

namespace dojo::train {
namespace {

double sq_diff(std::span<const float> a, std::span<const float> b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    s += d * d;
  }
  return s;
}

}  // namespace

EvalResult evaluate(model::VideoMAE& model, std::span<const float> clips, std::int64_t count,
                    std::uint64_t seed, std::vector<Reconstruction>* recon, std::int64_t keep) {
  const auto& c = model.config();
  const std::int64_t B = model.batch();
  const std::size_t clip_elems = static_cast<std::size_t>(c.clip_elems());
  DOJO_CHECK(count > 0, InvalidArgument, "evaluate: no held-out clips");
  DOJO_CHECK(clips.size() == clip_elems * static_cast<std::size_t>(count), InvalidArgument,
             "evaluate: {} floats for {} clips of {} elements", clips.size(), count, clip_elems);
  const std::int64_t per = c.patch_dim(), gh = c.grid_h(), gw = c.grid_w();
  double model_sq = 0, mean_sq = 0, copy_sq = 0, loss_sum = 0, masked_elems = 0;
  std::vector<float> batch(clip_elems * static_cast<std::size_t>(B));
  std::vector<std::uint64_t> seeds(static_cast<std::size_t>(B));
  if (recon != nullptr) recon->clear();

  for (std::int64_t first = 0; first < count; first += B) {
    for (std::int64_t j = 0; j < B; ++j) {
      const std::int64_t clip = std::min(first + j, count - 1);  // pad with the last clip
      std::copy_n(clips.begin() + static_cast<std::ptrdiff_t>(clip * clip_elems), clip_elems,
                  batch.begin() + static_cast<std::ptrdiff_t>(j * clip_elems));
      seeds[static_cast<std::size_t>(j)] = mix_seed(seed, 0xE7A1, static_cast<std::uint64_t>(clip));
    }
    const auto mask = masks_for(c, seeds);
    const std::vector<float> out = model.reconstruct(batch, mask);
    const double batch_loss = model.forward_loss(batch, mask);
    const std::int64_t real = std::min(B, count - first);
    loss_sum += batch_loss * static_cast<double>(real);

    for (std::int64_t j = 0; j < real; ++j) {
      std::span<const float> in(batch.data() + j * clip_elems, clip_elems);
      std::span<const float> rec(out.data() + j * clip_elems, clip_elems);
      const auto tin = model::clip_to_tubelets(c, in), trec = model::clip_to_tubelets(c, rec);
      const auto* is_masked = mask.is_masked.data() + j * mask.tokens;
      // Mean of the visible tubelets.
      std::vector<double> mean(static_cast<std::size_t>(per), 0.0);
      std::int64_t visible = 0;
      for (std::int64_t k = 0; k < mask.tokens; ++k) {
        if (is_masked[k]) continue;
        ++visible;
        for (std::int64_t e = 0; e < per; ++e) mean[e] += tin[k * per + e];
      }
      std::vector<float> mean_f(static_cast<std::size_t>(per));
      for (std::int64_t e = 0; e < per; ++e) mean_f[e] = static_cast<float>(mean[e] / visible);

      for (std::int64_t k = 0; k < mask.tokens; ++k) {
        if (!is_masked[k]) continue;
        std::span<const float> truth(tin.data() + k * per, per);
        model_sq += sq_diff(std::span<const float>(trec.data() + k * per, per), truth);
        mean_sq += sq_diff(mean_f, truth);
        // Nearest visible tubelet: same position nearest in time, else same time slot
        // nearest in space.
        const std::int64_t kt = k / (gh * gw), ky = (k / gw) % gh, kx = k % gw;
        std::int64_t best = -1, best_d = std::numeric_limits<std::int64_t>::max();
        for (std::int64_t v = 0; v < mask.tokens; ++v) {
          if (is_masked[v]) continue;
          const std::int64_t vt = v / (gh * gw), vy = (v / gw) % gh, vx = v % gw;
          std::int64_t d;
          if (vy == ky && vx == kx) {
            d = std::abs(vt - kt);  // same position: distance in time first
          } else if (vt == kt) {
            d = 1'000'000 + (vy - ky) * (vy - ky) + (vx - kx) * (vx - kx);
          } else {
            continue;
          }
          if (d < best_d) best_d = d, best = v;
        }
        DOJO_ASSERT(best >= 0, "no visible tubelet for masked token {}", k);
        copy_sq += sq_diff(std::span<const float>(tin.data() + best * per, per), truth);
        masked_elems += static_cast<double>(per);
      }
      if (recon != nullptr && first + j < keep) {
        recon->push_back({std::vector<float>(rec.begin(), rec.end()),
                          std::vector<std::uint8_t>(is_masked, is_masked + mask.tokens)});
      }
    }
  }
  EvalResult r;
  r.clips = count;
  r.masked_mse = model_sq / masked_elems;
  r.baseline_mean_mse = mean_sq / masked_elems;
  r.baseline_copy_mse = copy_sq / masked_elems;
  r.psnr = 10.0 * std::log10(1.0 / std::max(r.masked_mse, 1e-12));
  r.loss = loss_sum / static_cast<double>(count);
  return r;
}

}  // namespace dojo::train
