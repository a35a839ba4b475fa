#include "train/eval.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "train/masks.hpp"
#include "train/report.hpp"

namespace dojo::train {
namespace {

namespace fs = std::filesystem;
using model::ModelConfig;
using model::TubeletStats;

// The visible tubelet in `token`'s time slot nearest on the patch grid.
std::int64_t nearest_visible(const ModelConfig& c, std::span<const std::uint8_t> is_masked,
                             std::int64_t token) {
  const accel::TubeletDims g = c.layout();
  const std::int64_t slot = g.token_slot(token), row = g.token_row(token),
                     col = g.token_col(token);
  std::int64_t best = -1, best_d = std::numeric_limits<std::int64_t>::max();
  for (std::int64_t y = 0; y < c.grid_h(); ++y) {
    for (std::int64_t x = 0; x < c.grid_w(); ++x) {
      const std::int64_t v = g.token_index(slot, y, x);
      if (is_masked[static_cast<std::size_t>(v)]) continue;
      const std::int64_t d = (y - row) * (y - row) + (x - col) * (x - col);
      if (d < best_d) best_d = d, best = v;
    }
  }
  DOJO_ASSERT(best >= 0, "no visible tubelet in the time slot of hidden token {}", token);
  return best;
}

double pixel(double normalised, const TubeletStats& s) {
  return std::clamp(normalised * s.scale + s.mean, 0.0, 1.0);
}

double psnr(double mse) {
  return 10.0 * std::log10(1.0 / std::max(mse, 1e-12));
}

// One hidden tubelet's view of the world: its truth, the model's prediction and the
// nearest visible tubelet, each with the statistics the methods may use.
struct Hidden {
  std::span<const float> truth, pred, copy;
  TubeletStats oracle, visible;
};

template <typename Fn>
void for_each_hidden(const ModelConfig& c, std::span<const float> tubelets,
                     std::span<const std::uint8_t> is_masked,
                     std::span<const std::int64_t> masked_index, std::span<const float> predictions,
                     Fn&& fn) {
  const auto p = static_cast<std::size_t>(c.patch_dim());
  const double eps = c.target_eps;
  DOJO_CHECK(predictions.size() == masked_index.size() * p &&
                 is_masked.size() == static_cast<std::size_t>(c.tokens()),
             InvalidArgument,
             "eval: {} predictions and {} mask flags for {} hidden tubelets of {} elements "
             "among {} tokens",
             predictions.size(), is_masked.size(), masked_index.size(), p, c.tokens());
  for (std::size_t i = 0; i < masked_index.size(); ++i) {
    const std::int64_t k = masked_index[i];
    const std::int64_t v = nearest_visible(c, is_masked, k);
    Hidden h;
    h.truth = tubelets.subspan(static_cast<std::size_t>(k) * p, p);
    h.pred = predictions.subspan(i * p, p);
    h.copy = tubelets.subspan(static_cast<std::size_t>(v) * p, p);
    h.oracle = model::tubelet_stats(h.truth, eps);
    h.visible = model::tubelet_stats(h.copy, eps);
    fn(k, h);
  }
}

}  // namespace

void EvalSums::add(const EvalSums& o) {
  elems += o.elems;
  clips += o.clips;
  loss += o.loss, zero_loss += o.zero_loss, copy_loss += o.copy_loss;
  model_oracle += o.model_oracle, zero_oracle += o.zero_oracle, copy_oracle += o.copy_oracle;
  model_visible += o.model_visible, zero_visible += o.zero_visible, copy_visible += o.copy_visible;
}

EvalMetrics metrics(const EvalSums& s) {
  EvalMetrics m;
  m.clips = s.clips;
  const double n = std::max(s.elems, 1.0);
  m.loss = s.loss / n;
  m.baseline_zero_loss = s.zero_loss / n;
  m.baseline_copy_loss = s.copy_loss / n;
  m.mse_oracle_stats = s.model_oracle / n;
  m.baseline_oracle_mean_mse = s.zero_oracle / n;
  m.baseline_copy_mse_oracle_stats = s.copy_oracle / n;
  m.mse_visible_stats = s.model_visible / n;
  m.baseline_zero_mse_visible_stats = s.zero_visible / n;
  m.baseline_copy_mse_visible_stats = s.copy_visible / n;
  return m;
}

void score_clip(const ModelConfig& c, std::span<const float> clip,
                std::span<const std::uint8_t> is_masked, std::span<const std::int64_t> masked_index,
                std::span<const float> predictions, EvalSums& sums) {
  const auto tubelets = model::clip_to_tubelets(c, clip);
  for_each_hidden(c, tubelets, is_masked, masked_index, predictions,
                  [&](std::int64_t, const Hidden& h) {
                    for (std::size_t e = 0; e < h.truth.size(); ++e) {
                      const double x = h.truth[e];
                      const double target = (x - h.oracle.mean) / h.oracle.scale;
                      const double copy_n = (h.copy[e] - h.visible.mean) / h.visible.scale;
                      const double pred = h.pred[e];
                      auto sq = [](double d) { return d * d; };
                      sums.loss += sq(pred - target);
                      sums.zero_loss += sq(target);
                      sums.copy_loss += sq(copy_n - target);
                      sums.model_oracle += sq(pixel(pred, h.oracle) - x);
                      sums.zero_oracle += sq(pixel(0.0, h.oracle) - x);
                      sums.copy_oracle += sq(pixel(copy_n, h.oracle) - x);
                      sums.model_visible += sq(pixel(pred, h.visible) - x);
                      sums.zero_visible += sq(pixel(0.0, h.visible) - x);
                      sums.copy_visible += sq(pixel(copy_n, h.visible) - x);
                    }
                    sums.elems += static_cast<double>(h.truth.size());
                  });
  ++sums.clips;
}

const char* stats_name(StatsSource s) {
  return s == StatsSource::kOracle ? "oracle-stats" : "visible-stats";
}

std::vector<float> reconstruct_clip(const ModelConfig& c, std::span<const float> clip,
                                    std::span<const std::uint8_t> is_masked,
                                    std::span<const std::int64_t> masked_index,
                                    std::span<const float> predictions, StatsSource stats) {
  auto tubelets = model::clip_to_tubelets(c, clip);
  const auto truth = tubelets;
  const auto p = static_cast<std::size_t>(c.patch_dim());
  for_each_hidden(c, truth, is_masked, masked_index, predictions,
                  [&](std::int64_t k, const Hidden& h) {
                    const TubeletStats& s = stats == StatsSource::kOracle ? h.oracle : h.visible;
                    float* out = tubelets.data() + static_cast<std::size_t>(k) * p;
                    for (std::size_t e = 0; e < p; ++e) {
                      out[e] = static_cast<float>(pixel(h.pred[e], s));
                    }
                  });
  return model::tubelets_to_clip(c, tubelets);
}

EvalResult evaluate(model::VideoMAE& model, const EvalSet& set, std::uint64_t seed,
                    std::vector<Reconstruction>* recon, std::int64_t keep) {
  const auto& c = model.config();
  const std::int64_t B = model.batch();
  const auto clip_elems = static_cast<std::size_t>(c.clip_elems());
  DOJO_CHECK(set.count > 0, InvalidArgument, "evaluate: no held-out clips");
  DOJO_CHECK(set.pixels.size() == clip_elems * static_cast<std::size_t>(set.count) &&
                 set.source.size() == static_cast<std::size_t>(set.count),
             InvalidArgument, "evaluate: {} floats and {} source names for {} clips of {} elements",
             set.pixels.size(), set.source.size(), set.count, clip_elems);
  std::vector<float> batch(clip_elems * static_cast<std::size_t>(B));
  std::vector<std::uint64_t> seeds(static_cast<std::size_t>(B));
  EvalSums all;
  std::map<std::string, EvalSums> by_source;
  if (recon != nullptr) recon->clear();
  const std::int64_t nm = c.masked_tokens(), n = c.tokens();
  const auto p = static_cast<std::size_t>(c.patch_dim());

  for (std::int64_t first = 0; first < set.count; first += B) {
    for (std::int64_t j = 0; j < B; ++j) {
      const std::int64_t clip = std::min(first + j, set.count - 1);  // pad with the last clip
      std::copy_n(
          set.clip(clip).begin(), clip_elems,
          batch.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(j) * clip_elems));
      seeds[static_cast<std::size_t>(j)] = mix_seed(seed, 0xE7A1, static_cast<std::uint64_t>(clip));
    }
    const auto mask = masks_for(c, seeds);
    model.forward_loss(batch, mask);
    const auto pred = model.predictions();
    const std::int64_t real = std::min(B, set.count - first);
    for (std::int64_t j = 0; j < real; ++j) {
      const auto clip = set.clip(first + j);
      const std::span<const std::uint8_t> is_masked(mask.is_masked.data() + j * n,
                                                    static_cast<std::size_t>(n));
      const std::span<const std::int64_t> hidden(mask.masked_index.data() + j * nm,
                                                 static_cast<std::size_t>(nm));
      const auto preds =
          pred.subspan(static_cast<std::size_t>(j * nm) * p, static_cast<std::size_t>(nm) * p);
      EvalSums one;
      score_clip(c, clip, is_masked, hidden, preds, one);
      all.add(one);
      by_source[set.source[static_cast<std::size_t>(first + j)]].add(one);
      if (recon != nullptr && first + j < keep) {
        recon->push_back(
            {reconstruct_clip(c, clip, is_masked, hidden, preds, StatsSource::kOracle),
             reconstruct_clip(c, clip, is_masked, hidden, preds, StatsSource::kVisible),
             std::vector<std::uint8_t>(is_masked.begin(), is_masked.end())});
      }
    }
  }
  EvalResult r;
  r.all = metrics(all);
  for (const auto& [name, sums] : by_source) r.per_source[name] = metrics(sums);
  return r;
}

nlohmann::json metrics_json(const EvalMetrics& m) {
  return {{"clips", m.clips},
          {"loss", m.loss},
          {"baseline_zero_loss", m.baseline_zero_loss},
          {"baseline_copy_loss", m.baseline_copy_loss},
          {"mse_oracle_stats", m.mse_oracle_stats},
          {"psnr_oracle_stats", psnr(m.mse_oracle_stats)},
          {"baseline_oracle_mean_mse", m.baseline_oracle_mean_mse},
          {"baseline_oracle_mean_psnr", psnr(m.baseline_oracle_mean_mse)},
          {"baseline_copy_mse_oracle_stats", m.baseline_copy_mse_oracle_stats},
          {"baseline_copy_psnr_oracle_stats", psnr(m.baseline_copy_mse_oracle_stats)},
          {"mse_visible_stats", m.mse_visible_stats},
          {"psnr_visible_stats", psnr(m.mse_visible_stats)},
          {"baseline_zero_mse_visible_stats", m.baseline_zero_mse_visible_stats},
          {"baseline_zero_psnr_visible_stats", psnr(m.baseline_zero_mse_visible_stats)},
          {"baseline_copy_mse_visible_stats", m.baseline_copy_mse_visible_stats},
          {"baseline_copy_psnr_visible_stats", psnr(m.baseline_copy_mse_visible_stats)}};
}

nlohmann::json to_json(const EvalResult& r) {
  nlohmann::json j = metrics_json(r.all);
  j["sources"] = r.per_source.size();
  nlohmann::json per = nlohmann::json::object();
  for (const auto& [name, m] : r.per_source) per[name] = metrics_json(m);
  j["per_source"] = per;
  return j;
}

namespace {

// "model 0.8123   predict zeros 0.9990   copy nearest visible 1.2345 -> the model beats
// both (0.81 x the better baseline)"
std::string table(const char* title, const char* what, double model_v, const char* a_name, double a,
                  const char* b_name, double b) {
  const double best = std::min(a, b);
  const bool wins = model_v < a && model_v < b;
  return fmt::format(
      "{}\n  {}\n  model {:.6f}   {} {:.6f}   {} {:.6f}\n  -> the model {} ({:.3f} x the better "
      "baseline)\n",
      title, what, model_v, a_name, a, b_name, b,
      wins ? "beats both baselines" : "does NOT beat both baselines", model_v / best);
}

}  // namespace

std::string format_report(const EvalResult& r) {
  const EvalMetrics& m = r.all;
  std::string out = fmt::format("held-out clips {} from {} source video(s); hidden tubelets only\n",
                                m.clips, r.per_source.size());
  out += table("normalised masked loss (the training objective)",
               "target: each hidden tubelet normalised with its own mean and std", m.loss,
               "predict zeros", m.baseline_zero_loss, "copy nearest visible", m.baseline_copy_loss);
  out += table("pixel MSE, oracle stats",
               "every method de-normalised with the hidden tubelet's TRUE mean and std "
               "(information no method has at test time)",
               m.mse_oracle_stats, "own true mean", m.baseline_oracle_mean_mse,
               "copy nearest visible", m.baseline_copy_mse_oracle_stats);
  out += table("pixel MSE, visible stats",
               "every method de-normalised with the nearest visible tubelet's mean and std "
               "(what a real reconstruction can use)",
               m.mse_visible_stats, "nearest visible mean", m.baseline_zero_mse_visible_stats,
               "copy nearest visible", m.baseline_copy_mse_visible_stats);
  if (r.per_source.size() > 1) {
    out += "per source: loss / zero / copy (normalised)\n";
    for (const auto& [name, s] : r.per_source) {
      out += fmt::format("  {:.4f} / {:.4f} / {:.4f}  {} clips  {}\n", s.loss, s.baseline_zero_loss,
                         s.baseline_copy_loss, s.clips, name);
    }
  }
  return out;
}

void write_reconstructions(const std::string& dir, const std::string& stem, const EvalSet& set,
                           const std::vector<Reconstruction>& recon, const model::ModelConfig& c) {
  if (recon.empty()) return;
  for (const StatsSource s : {StatsSource::kOracle, StatsSource::kVisible}) {
    std::vector<SampleClip> samples;
    for (std::size_t i = 0; i < recon.size(); ++i) {
      const auto& pixels =
          s == StatsSource::kOracle ? recon[i].oracle_stats : recon[i].visible_stats;
      samples.push_back({set.clip(static_cast<std::int64_t>(i)), pixels, recon[i].is_masked});
    }
    const std::string caption = s == StatsSource::kOracle
                                    ? "reconstruction (hidden tubelets' true stats)"
                                    : "reconstruction (nearest visible stats)";
    write_sample_grid((fs::path(dir) / fmt::format("{}-{}.png", stem, stats_name(s))).string(),
                      samples, c, 4, caption);
  }
}

}  // namespace dojo::train
