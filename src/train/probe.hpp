#pragma once
// `dojo probe`: how much of the synthetic ground truth a frozen encoder's embeddings carry,
// against two references of the same kind.
//
// For every label column of the shards' /labels (data/clip_source.hpp), three feature sets
// are fitted on the --train clips and scored on the --test clips (probe_solvers.hpp):
//   pretrained   this checkpoint's embeddings (embed.hpp)
//   random_init  the embeddings of the same model shape with fresh weights (VideoMAE::init)
//   pixels       downsampled raw pixels (embed.hpp pixel_features, grid x grid per slot)
// A 0/1 label (every value 0 or 1, both present in the train set) gets logistic
// regression and accuracy; any other gets ridge regression and R^2. Clips whose label is
// NaN (a source without ground truth) are left out of that label.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/videomae.hpp"

namespace dojo::train {

struct ProbeOptions {
  std::string checkpoint, train, test;
  std::int64_t pixel_grid = 4;
  std::uint64_t seed = 0;  // random-init weights and validation split
  // Where both encoders' tokens are read (VideoMAE::embed): the same layer for pretrained
  // and random_init.
  std::int64_t layer = model::VideoMAE::kFinalLayer;
  // How both encoders' tokens are averaged (VideoMAE::embed): 1, over all of them; G, per
  // cell of a G x G partition of the token positions.
  std::int64_t pool_grid = 1;
};

struct LabelScore {
  std::string metric;  // "r2" or "accuracy"
  double pretrained = 0, random_init = 0, pixels = 0;
  std::int64_t train_clips = 0, test_clips = 0;
  // False when a score is NaN (the test clips' values of the label are all equal, so R^2
  // is undefined): the label is shown but not counted in the tally of format_probe.
  bool scored() const;
};

struct ProbeResult {
  std::map<std::string, LabelScore> labels;
  std::int64_t embedding_dim = 0, pixel_dim = 0;
  std::int64_t layer = model::VideoMAE::kFinalLayer;
  std::int64_t pool_grid = 1;
};

// The feature sets of one split: name -> (N, d) row-major.
struct Features {
  std::int64_t clips = 0;
  std::vector<std::int64_t> source;  // (clips) each clip's source video (empty: one source)
  std::map<std::string, std::pair<std::int64_t, std::vector<double>>> sets;
};
// Fits every label (columns of `train_labels` / `test_labels`, (N, L) row-major) on every
// feature set; the sets must be named pretrained, random_init and pixels.
ProbeResult probe_features(const Features& train, const Features& test,
                           const std::vector<std::string>& label_names,
                           const std::vector<float>& train_labels,
                           const std::vector<float>& test_labels, std::uint64_t seed);

ProbeResult probe_run(const ProbeOptions& options);
// {"labels": {NAME: {"metric", "pretrained", "random_init", "pixels", "train_clips",
// "test_clips", "scored"}}, "embedding_dim", "pixel_dim", "layer", "pool_grid"} (a NaN score
// -- a constant test label -- is null, and that label's "scored" is false).
nlohmann::json to_json(const ProbeResult& result);
std::string format_probe(const ProbeResult& result);

}  // namespace dojo::train
