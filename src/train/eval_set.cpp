#include "train/eval_set.hpp"

#include <algorithm>
#include <map>

#include "core/error.hpp"
#include "data/clip_source.hpp"
#include "train/eval_run.hpp"

namespace dojo::train {

std::vector<std::int64_t> pick_evenly(const std::vector<std::int64_t>& source_of_clip,
                                      std::int64_t count) {
  // Clips of each source in index order, sources in order of first appearance.
  std::vector<std::vector<std::int64_t>> groups;
  std::map<std::int64_t, std::size_t> group_of;
  for (std::size_t i = 0; i < source_of_clip.size(); ++i) {
    auto [it, fresh] = group_of.try_emplace(source_of_clip[i], groups.size());
    if (fresh) groups.emplace_back();
    groups[it->second].push_back(static_cast<std::int64_t>(i));
  }
  const std::int64_t total = static_cast<std::int64_t>(source_of_clip.size());
  count = std::clamp<std::int64_t>(count, 0, total);
  // Shares: one clip per source per round until `count` are allotted.
  std::vector<std::int64_t> share(groups.size(), 0);
  for (std::int64_t given = 0; given < count;) {
    for (std::size_t g = 0; g < groups.size() && given < count; ++g) {
      if (share[g] < static_cast<std::int64_t>(groups[g].size())) ++share[g], ++given;
    }
  }
  // Within a source, the middle of each of share[g] equal stretches.
  std::vector<std::int64_t> out;
  out.reserve(static_cast<std::size_t>(count));
  const std::int64_t rounds = share.empty() ? 0 : *std::max_element(share.begin(), share.end());
  for (std::int64_t r = 0; r < rounds; ++r) {
    for (std::size_t g = 0; g < groups.size(); ++g) {
      if (r >= share[g]) continue;
      const auto n = static_cast<std::int64_t>(groups[g].size());
      const std::int64_t at = (2 * r + 1) * n / (2 * share[g]);
      out.push_back(groups[g][static_cast<std::size_t>(at)]);
    }
  }
  return out;
}

EvalSet load_eval_set(const std::string& path, std::int64_t count, const model::ModelConfig& mc) {
  data::ShardSet shards(path);
  check_clip_shape(shards.shape(), mc, path);
  DOJO_CHECK(shards.size() > 0, InvalidArgument, "{}: no clips to evaluate on", path);
  // Source ids by name: shards written by different ranks number their sources apart.
  std::map<std::string, std::int64_t> id_of;
  std::vector<std::int64_t> source_of(static_cast<std::size_t>(shards.size()));
  std::vector<std::string> name_of(source_of.size());
  for (std::int64_t i = 0; i < shards.size(); ++i) {
    const auto [reader, local] = shards.locate(i);
    name_of[static_cast<std::size_t>(i)] = reader->source(local);
    source_of[static_cast<std::size_t>(i)] =
        id_of.try_emplace(name_of[static_cast<std::size_t>(i)], id_of.size()).first->second;
  }
  EvalSet set;
  set.index = pick_evenly(source_of, count > 0 ? count : shards.size());
  set.count = static_cast<std::int64_t>(set.index.size());
  set.clip_elems = mc.clip_elems();
  set.pixels.reserve(static_cast<std::size_t>(set.count * set.clip_elems));
  for (const std::int64_t i : set.index) {
    const auto [reader, local] = shards.locate(i);
    for (const std::uint8_t v : reader->read_clip(local, /*verify=*/true)) {
      set.pixels.push_back(static_cast<float>(v) / 255.0f);
    }
    set.source.push_back(name_of[static_cast<std::size_t>(i)]);
  }
  return set;
}

}  // namespace dojo::train
