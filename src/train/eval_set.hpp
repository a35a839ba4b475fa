#pragma once
// Held-out clips for eval and probes, drawn evenly across every source video.
//
// A data set of several videos is not a bag of clips: its first N clips usually come
// from one video. pick_evenly gives every source the same share (a source with fewer
// clips than its share gives all it has, and the rest is shared by the others), and
// within a source takes clips spread evenly over its length. The picks are listed round
// by round (the first clip of every source, then the second, ...), so any prefix of the
// list -- the reconstruction samples -- also spans the sources.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "model/config.hpp"

namespace dojo::train {

// source_of_clip (N): a source id per clip (any integers). Returns min(count, N) distinct
// clip indices, in the round order described above.
std::vector<std::int64_t> pick_evenly(const std::vector<std::int64_t>& source_of_clip,
                                      std::int64_t count);

struct EvalSet {
  std::vector<float> pixels;        // (count, T, H, W, C) in [0, 1]
  std::vector<std::string> source;  // (count) source video of each clip
  std::vector<std::int64_t> index;  // (count) global clip index in the shards
  std::int64_t count = 0;
  std::int64_t clip_elems = 0;
  std::span<const float> clip(std::int64_t i) const {
    return std::span<const float>(pixels).subspan(static_cast<std::size_t>(i * clip_elems),
                                                  static_cast<std::size_t>(clip_elems));
  }
};

// `count` clips (0: all) of the shards at `path` (an ingest folder, a shard, or shards
// separated by commas), picked by pick_evenly over their /source, checksums verified,
// checked against the model's clip shape.
EvalSet load_eval_set(const std::string& path, std::int64_t count, const model::ModelConfig& mc);

}  // namespace dojo::train
