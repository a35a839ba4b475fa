// `dojo probe` on shards: features from a checkpoint, labels from the shards' /labels.
#include "core/error.hpp"
#include "data/clip_source.hpp"
#include "train/embed.hpp"
#include "train/probe.hpp"
#include "train/run_model.hpp"

namespace dojo::train {
namespace {

std::vector<double> to_double(const std::vector<float>& v) {
  return {v.begin(), v.end()};
}

Features features_of(model::VideoMAE& pretrained, model::VideoMAE& random, const ClipBatches& clips,
                     const model::ModelConfig& mc, const ProbeOptions& o) {
  Features f;
  f.clips = clips.size();
  const std::int64_t dim = embedding_dim(mc, o.pool_grid), grid = o.pixel_grid;
  f.sets["pretrained"] = {dim, to_double(embed_all(pretrained, clips, o.layer, o.pool_grid))};
  f.sets["random_init"] = {dim, to_double(embed_all(random, clips, o.layer, o.pool_grid))};
  f.sets["pixels"] = {pixel_feature_dim(mc, grid), to_double(pixel_features(clips, mc, grid))};
  return f;
}

}  // namespace

ProbeResult probe_run(const ProbeOptions& o) {
  LoadedModel m = load_model(o.checkpoint, 8);
  auto random = random_model(m, o.seed ^ 0x5EED);
  const ClipBatches train(o.train, m.model_config), test(o.test, m.model_config);
  const data::ClipLabels train_labels = data::read_clip_labels(o.train);
  const data::ClipLabels test_labels = data::read_clip_labels(o.test);
  DOJO_CHECK(!train_labels.names.empty(), InvalidArgument,
             "dojo probe: {} has no /labels (ingest videos made by dojo synth)", o.train);
  DOJO_CHECK(train_labels.names == test_labels.names, InvalidArgument,
             "dojo probe: --train has label columns [{}], --test has [{}]",
             fmt::join(train_labels.names, ", "), fmt::join(test_labels.names, ", "));
  Features ftr = features_of(*m.model, *random, train, m.model_config, o);
  const Features fte = features_of(*m.model, *random, test, m.model_config, o);
  std::map<std::string, std::int64_t> id_of;  // the validation split holds out whole videos
  for (const auto& name : train_labels.sources)
    ftr.source.push_back(id_of.try_emplace(name, std::int64_t(id_of.size())).first->second);
  ProbeResult r = probe_features(ftr, fte, train_labels.names, train_labels.values,
                                 test_labels.values, o.seed);
  r.layer = o.layer;
  r.pool_grid = o.pool_grid;
  return r;
}

}  // namespace dojo::train
