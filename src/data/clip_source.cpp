#include "data/clip_source.hpp"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include <limits>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.hpp"
#include "data/manifest.hpp"

namespace dojo::data {
namespace fs = std::filesystem;

const std::vector<std::string>& ClipSource::label_names() const {
  static const std::vector<std::string> none;
  return none;
}
std::vector<float> ClipSource::labels(std::int64_t) const {
  return {};
}
void ClipSource::read_many(std::span<const std::int64_t> ids, std::span<std::uint8_t> out) {
  const auto clip_bytes = static_cast<std::size_t>(shape().clip_bytes());
  DOJO_ASSERT(out.size() == ids.size() * clip_bytes, "{} bytes for {} clips", out.size(),
              ids.size());
  for (std::size_t k = 0; k < ids.size(); ++k)
    read(ids[k], out.subspan(k * clip_bytes, clip_bytes));
}

ShardSet::ShardSet(const std::string& source) {
  std::vector<std::string> paths;
  std::vector<std::optional<h5::FileDigest>> digests;
  if (fs::is_directory(source)) {
    const Manifest manifest = read_manifest(source);
    for (const auto& s : manifest.shards) {
      paths.push_back((fs::path(source) / s.path).string());
      digests.emplace_back(s.digest);
    }
  } else {
    std::stringstream list(source);
    std::string item;
    while (std::getline(list, item, ',')) {
      if (item.empty()) continue;
      paths.push_back(item);
      digests.push_back(manifest_digest_for(item));  // when its folder's manifest lists it
    }
  }
  DOJO_CHECK(!paths.empty(), InvalidArgument, "loader source '{}': no shards", source);
  digests.resize(paths.size());
  std::string labels_from;
  for (std::size_t k = 0; k < paths.size(); ++k) {
    const std::string& path = paths[k];
    ShardReader reader(path, digests[k]);
    if (shards_.empty()) {
      shape_ = reader.shape();
    } else {
      DOJO_CHECK(reader.shape() == shape_, FormatError, "{}: clips are {}, {} holds {}", path,
                 to_string(reader.shape()), shards_.front().path(), to_string(shape_));
    }
    if (reader.size() == 0) continue;
    if (!reader.label_names().empty()) {
      if (label_names_.empty()) {
        label_names_ = reader.label_names();
        labels_from = path;
      } else if (reader.label_names() != label_names_ && label_mismatch_.empty()) {
        label_mismatch_ = fmt::format("{}: label columns {} differ from {}'s {}", path,
                                      fmt::join(reader.label_names(), ","), labels_from,
                                      fmt::join(label_names_, ","));
      }
    }
    first_.push_back(total_);
    total_ += reader.size();
    shards_.push_back(std::move(reader));
  }
  DOJO_CHECK(total_ > 0, InvalidArgument, "loader source '{}': the shards hold no clips", source);
}

std::pair<const ShardReader*, std::int64_t> ShardSet::locate(std::int64_t i) const {
  DOJO_CHECK(i >= 0 && i < total_, InvalidArgument, "clip index {} out of range [0, {})", i,
             total_);
  const auto it = std::upper_bound(first_.begin(), first_.end(), i) - 1;
  const auto k = static_cast<std::size_t>(it - first_.begin());
  return {&shards_[k], i - first_[k]};
}

void ShardSet::read(std::int64_t i, std::span<std::uint8_t> out) {
  const auto [shard, local] = locate(i);
  shard->read_clip(local, out, false);
}

std::uint64_t ShardSet::checksum(std::int64_t i) const {
  const auto [shard, local] = locate(i);
  return shard->checksum(local);
}

const std::vector<std::string>& ShardSet::label_names() const {
  DOJO_CHECK(label_mismatch_.empty(), FormatError, "{}", label_mismatch_);
  return label_names_;
}

std::vector<float> ShardSet::labels(std::int64_t i) const {
  const auto& names = label_names();
  const auto [shard, local] = locate(i);
  if (shard->label_names().empty())
    return std::vector<float>(names.size(), std::numeric_limits<float>::quiet_NaN());
  const auto values = shard->labels(local);
  return {values.begin(), values.end()};
}

ClipLabels read_clip_labels(const std::string& source) {
  const ShardSet set(source);
  ClipLabels out;
  out.names = set.label_names();
  out.clips = set.size();
  out.values.reserve(static_cast<std::size_t>(out.clips) * out.names.size());
  for (std::int64_t i = 0; i < out.clips && !out.names.empty(); ++i) {
    const auto row = set.labels(i);
    out.values.insert(out.values.end(), row.begin(), row.end());
  }
  out.sources.reserve(static_cast<std::size_t>(out.clips));
  for (std::int64_t i = 0; i < out.clips; ++i) {
    const auto [shard, local] = set.locate(i);
    out.sources.push_back(shard->source(local));
  }
  return out;
}

std::string ShardSet::describe(std::int64_t i) const {
  const auto [shard, local] = locate(i);
  return fmt::format("shard {} clip {}", shard->path(), local);
}

}  // namespace dojo::data
