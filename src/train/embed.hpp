#pragma once
// Frozen features of clips for probes and for users: a model's embeddings
// (VideoMAE::embed: the encoder on every token, mean over tokens) and downsampled raw
// pixels, and `dojo embed`'s file.
//
// Embeddings file (HDF5):
//   /embeddings  float32 (N, D)   one row per clip
//   /clip        int64   (N)      the clip's global index in the shards it came from
//   /source      int64   (N)      index into /sources
//   /sources     uint8 blob       JSON list of the source videos (h5::write_blob)
//   attributes on /: format = "dojo-embeddings", version, checkpoint, step, model, layer
//   (-1: after the final LayerNorm; k: after k encoder blocks; absent in older files: -1),
//   pool_grid (G: D = G*G*encoder_dim, one mean per cell of a G x G partition of the token
//   positions; absent in older files: 1)
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/videomae.hpp"

namespace dojo::train {

inline constexpr const char* kEmbeddingsFormat = "dojo-embeddings";
inline constexpr std::int64_t kEmbeddingsVersion = 1;

// Clips of a shard source, read in batches (checksums verified).
class ClipBatches {
 public:
  // `path`: an ingest folder, a shard, or shards separated by commas; checked against the
  // model's clip shape.
  ClipBatches(const std::string& path, const model::ModelConfig& config);
  ~ClipBatches();
  std::int64_t size() const;
  const std::string& source(std::int64_t i) const;  // clip i's source video
  // Clips [first, first + count) as floats in [0, 1], (count, T, H, W, C).
  std::vector<float> read(std::int64_t first, std::int64_t count) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// (N, pool_grid^2 * encoder_dim): model.embed over every clip at `layer` (VideoMAE::embed),
// in batches of model.batch() (the last padded by repeating a clip).
std::vector<float> embed_all(model::VideoMAE& model, const ClipBatches& clips,
                             std::int64_t layer = model::VideoMAE::kFinalLayer,
                             std::int64_t pool_grid = 1);
// Values per embedding: pool_grid^2 * encoder_dim.
std::int64_t embedding_dim(const model::ModelConfig& config, std::int64_t pool_grid);
// (N, slots * grid * grid * C): each clip's mean pixel value per time slot of
// tubelet_frames frames, per cell of a grid x grid partition of the frame, per channel.
std::vector<float> pixel_features(const ClipBatches& clips, const model::ModelConfig& config,
                                  std::int64_t grid);
std::int64_t pixel_feature_dim(const model::ModelConfig& config, std::int64_t grid);

struct EmbedOptions {
  std::string checkpoint, data, out;
  std::int64_t layer = model::VideoMAE::kFinalLayer;
  std::int64_t pool_grid = 1;
};
struct Embeddings {
  std::vector<float> values;  // (N, D)
  std::int64_t clips = 0, dim = 0;
  std::vector<std::int64_t> clip, source;
  std::vector<std::string> sources;
  std::string checkpoint, model;
  std::int64_t step = 0;
  std::int64_t layer = model::VideoMAE::kFinalLayer;  // where the tokens were read
  std::int64_t pool_grid = 1;                         // how they were averaged
};
// `dojo embed`: writes the file above; returns what it wrote.
Embeddings embed_run(const EmbedOptions& options);
void write_embeddings(const std::string& path, const Embeddings& e);
Embeddings read_embeddings(const std::string& path);

}  // namespace dojo::train
