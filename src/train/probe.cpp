#include "train/probe.hpp"

#include <cmath>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "train/probe_solvers.hpp"

namespace dojo::train {
namespace {

// Rows of `x` (n, d) whose label is finite, those labels and the rows' sources.
void finite_rows(const std::vector<double>& x, std::int64_t d, const std::vector<float>& labels,
                 const std::vector<std::int64_t>& source, std::size_t columns, std::size_t column,
                 std::vector<double>& rows, std::vector<double>& y, std::vector<std::int64_t>& group) {
  const std::size_t n = labels.size() / columns;
  for (std::size_t i = 0; i < n; ++i) {
    const float v = labels[i * columns + column];
    if (!std::isfinite(v)) continue;
    y.push_back(v);
    group.push_back(source.empty() ? 0 : source[i]);
    rows.insert(rows.end(), x.begin() + static_cast<std::ptrdiff_t>(i * std::size_t(d)),
                x.begin() + static_cast<std::ptrdiff_t>((i + 1) * std::size_t(d)));
  }
}

}  // namespace

bool LabelScore::scored() const {
  return std::isfinite(pretrained) && std::isfinite(random_init) && std::isfinite(pixels);
}

ProbeResult probe_features(const Features& train, const Features& test,
                           const std::vector<std::string>& names,
                           const std::vector<float>& train_labels,
                           const std::vector<float>& test_labels, std::uint64_t seed) {
  const std::size_t columns = names.size();
  DOJO_CHECK(columns > 0, InvalidArgument, "probe: the data has no labels");
  DOJO_CHECK(train_labels.size() == columns * std::size_t(train.clips) &&
                 test_labels.size() == columns * std::size_t(test.clips),
             InvalidArgument, "probe: {} / {} label values for {} / {} clips of {} columns",
             train_labels.size(), test_labels.size(), train.clips, test.clips, columns);
  ProbeResult r;
  r.embedding_dim = train.sets.at("pretrained").first;
  r.pixel_dim = train.sets.at("pixels").first;
  for (std::size_t c = 0; c < columns; ++c) {
    LabelScore score;
    for (const char* set : {"pretrained", "random_init", "pixels"}) {
      const auto& [d, xtr] = train.sets.at(set);
      const auto& xte = test.sets.at(set).second;
      std::vector<double> tr, ytr, te, yte;
      std::vector<std::int64_t> gtr, gte;
      finite_rows(xtr, d, train_labels, train.source, columns, c, tr, ytr, gtr);
      finite_rows(xte, d, test_labels, test.source, columns, c, te, yte, gte);
      DOJO_CHECK(ytr.size() >= 4 && !yte.empty(), InvalidArgument,
                 "probe: label '{}' has {} training and {} test clips with values (need 4 and 1)",
                 names[c], ytr.size(), yte.size());
      const ProbeKind kind = is_binary(ytr) ? ProbeKind::kLogistic : ProbeKind::kRidge;
      const ProbeFit fit = fit_probe(kind, tr, ytr, gtr, te, yte, d, seed);
      score.metric = kind == ProbeKind::kLogistic ? "accuracy" : "r2";
      (std::string(set) == "pretrained"    ? score.pretrained
       : std::string(set) == "random_init" ? score.random_init
                                           : score.pixels) = fit.test_score;
      score.train_clips = static_cast<std::int64_t>(ytr.size());
      score.test_clips = static_cast<std::int64_t>(yte.size());
    }
    r.labels[names[c]] = score;
  }
  return r;
}

nlohmann::json to_json(const ProbeResult& r) {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); };
  nlohmann::json labels = nlohmann::json::object();
  for (const auto& [name, s] : r.labels) {
    labels[name] = {{"metric", s.metric},
                    {"pretrained", num(s.pretrained)},
                    {"random_init", num(s.random_init)},
                    {"pixels", num(s.pixels)},
                    {"train_clips", s.train_clips},
                    {"test_clips", s.test_clips},
                    {"scored", s.scored()}};
  }
  return {{"labels", labels},
          {"embedding_dim", r.embedding_dim},
          {"pixel_dim", r.pixel_dim},
          {"layer", r.layer},
          {"pool_grid", r.pool_grid}};
}

std::string format_probe(const ProbeResult& r) {
  std::string out = fmt::format(
      "linear probes on frozen features (test score; embeddings {} values read {}{}, pixels {} "
      "values)\n"
      "{:<16} {:<9} {:>10} {:>11} {:>8}\n",
      r.embedding_dim,
      r.layer == model::VideoMAE::kFinalLayer ? std::string("after the final LayerNorm")
                                              : fmt::format("after {} encoder blocks", r.layer),
      r.pool_grid > 1 ? fmt::format(", averaged per cell of a {0}x{0} grid", r.pool_grid) : "",
      r.pixel_dim, "label", "metric", "pretrained", "random_init", "pixels");
  int beats_random = 0, beats_pixels = 0, scored = 0;
  std::vector<std::string> unscored;
  for (const auto& [name, s] : r.labels) {
    out += fmt::format("{:<16} {:<9} {:>10.4f} {:>11.4f} {:>8.4f}\n", name, s.metric, s.pretrained,
                       s.random_init, s.pixels);
    if (!s.scored()) {
      unscored.push_back(name);
      continue;
    }
    ++scored;
    beats_random += s.pretrained > s.random_init ? 1 : 0;
    beats_pixels += s.pretrained > s.pixels ? 1 : 0;
  }
  out += fmt::format(
      "pretrained beats random init on {} of {} scored labels, raw pixels on {} of {}\n",
      beats_random, scored, beats_pixels, scored);
  if (!unscored.empty()) {
    out += fmt::format("not scored (the test clips' values are all equal): {}\n",
                       fmt::join(unscored, ", "));
  }
  return out;
}

}  // namespace dojo::train
