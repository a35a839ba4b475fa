#pragma once
// Evaluation on held-out clips, on masked tubelets only, comparing like with like.
//
// Words. A *hidden* tubelet is a masked one (the model never sees it). Its *true
// statistics* are its own mean and scale (tubelet.hpp: unbiased std + eps); they are
// information the model does not have. The *nearest visible* tubelet of a hidden one is
// the visible tubelet in the same time slot nearest on the patch grid (squared distance;
// ties to the lower token index) -- with tube masking the same position is hidden in
// every slot, so it is never in the same place. Its statistics are information every
// method may use.
//
// Numbers, each a mean over every element of every hidden tubelet of every clip:
//   In the objective's space (the target is the hidden tubelet normalised with its true
//   statistics, exactly the training loss):
//     loss                   the model's normalised prediction
//     baseline_zero_loss     predicting 0 (about 1 - 1/P: the target has unit variance)
//     baseline_copy_loss     the nearest visible tubelet, normalised with its own statistics
//   In pixel space ([0, 1], every prediction clamped to [0, 1]), two variants; within a
//   variant every method is turned into pixels with the same statistics:
//     *_oracle_stats         de-normalised with the hidden tubelet's true statistics:
//                            mse_oracle_stats (the model), baseline_oracle_mean_mse (the
//                            zero prediction, i.e. each tubelet predicted as its own true
//                            mean), baseline_copy_mse_oracle_stats
//     *_visible_stats        de-normalised with the nearest visible tubelet's statistics:
//                            mse_visible_stats (the model), baseline_zero_mse_visible_stats
//                            (the nearest visible tubelet's mean), baseline_copy_mse_visible_stats
//                            (the nearest visible tubelet itself)
//   psnr_* = 10 log10(1 / mse) for each mse above.
// Masks come from (seed, clip index in the eval set), so every evaluation of a run sees
// the same masks.
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/tubelet.hpp"
#include "model/videomae.hpp"
#include "train/eval_set.hpp"

namespace dojo::train {

// Squared-error sums over hidden elements; metrics() turns them into means.
struct EvalSums {
  double elems = 0;  // hidden elements scored
  std::int64_t clips = 0;
  double loss = 0, zero_loss = 0, copy_loss = 0;
  double model_oracle = 0, zero_oracle = 0, copy_oracle = 0;
  double model_visible = 0, zero_visible = 0, copy_visible = 0;
  void add(const EvalSums& other);
};

struct EvalMetrics {
  std::int64_t clips = 0;
  double loss = 0, baseline_zero_loss = 0, baseline_copy_loss = 0;
  double mse_oracle_stats = 0, baseline_oracle_mean_mse = 0, baseline_copy_mse_oracle_stats = 0;
  double mse_visible_stats = 0, baseline_zero_mse_visible_stats = 0,
         baseline_copy_mse_visible_stats = 0;
};
EvalMetrics metrics(const EvalSums& sums);

// Scores one clip. clip (T, H, W, C) in [0, 1]; is_masked (N); masked_index (Nm) the
// hidden tokens in the order of `predictions` (Nm, P), the model's normalised outputs.
// Adds to `sums`.
void score_clip(const model::ModelConfig& config, std::span<const float> clip,
                std::span<const std::uint8_t> is_masked, std::span<const std::int64_t> masked_index,
                std::span<const float> predictions, EvalSums& sums);

// Which statistics turn a normalised prediction back into pixels.
enum class StatsSource { kOracle, kVisible };
const char* stats_name(StatsSource s);  // "oracle-stats" / "visible-stats"
// The clip with every hidden tubelet replaced by its prediction de-normalised with
// `stats` (clamped to [0, 1]); visible tubelets copied. (T, H, W, C).
std::vector<float> reconstruct_clip(const model::ModelConfig& config, std::span<const float> clip,
                                    std::span<const std::uint8_t> is_masked,
                                    std::span<const std::int64_t> masked_index,
                                    std::span<const float> predictions, StatsSource stats);

struct EvalResult {
  EvalMetrics all;
  std::map<std::string, EvalMetrics> per_source;  // by source video
};

struct Reconstruction {
  std::vector<float> oracle_stats;      // (T, H, W, C)
  std::vector<float> visible_stats;     // (T, H, W, C)
  std::vector<std::uint8_t> is_masked;  // (tokens)
};

// Runs the model on every clip of `set` in batches of model.batch() (the last batch is
// padded by repeating a clip, which is not counted). If `recon` is non-null it receives
// the reconstructions of the first `keep` clips.
EvalResult evaluate(model::VideoMAE& model, const EvalSet& set, std::uint64_t seed,
                    std::vector<Reconstruction>* recon = nullptr, std::int64_t keep = 0);

// {"clips", "sources", every number above, "per_source": {SOURCE: {...}}}: the content of
// `dojo eval --json` and eval.json. metrics_json: one EvalMetrics (the flat keys).
nlohmann::json to_json(const EvalResult& result);
nlohmann::json metrics_json(const EvalMetrics& m);
// The printed verdict: three tables (normalised loss; pixels with oracle stats; pixels
// with visible stats), each saying what was compared, and one line per table.
std::string format_report(const EvalResult& result);

// Writes <dir>/<stem>-oracle-stats.png and <dir>/<stem>-visible-stats.png (input | masked
// | reconstruction, the last captioned with its statistics).
void write_reconstructions(const std::string& dir, const std::string& stem, const EvalSet& set,
                           const std::vector<Reconstruction>& recon,
                           const model::ModelConfig& config);

}  // namespace dojo::train
