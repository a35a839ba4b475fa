#include "data/clip_source.hpp"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include <fmt/format.h>

#include "core/error.hpp"
#include "data/manifest.hpp"

namespace dojo::data {
namespace fs = std::filesystem;

ShardSet::ShardSet(const std::string& source) {
  std::vector<std::string> paths;
  if (fs::is_directory(source)) {
    const Manifest manifest = read_manifest(source);
    for (const auto& s : manifest.shards) paths.push_back((fs::path(source) / s.path).string());
  } else {
    std::stringstream list(source);
    std::string item;
    while (std::getline(list, item, ',')) {
      if (!item.empty()) paths.push_back(item);
    }
  }
  DOJO_CHECK(!paths.empty(), InvalidArgument, "loader source '{}': no shards", source);
  for (const auto& path : paths) {
    ShardReader reader(path);
    if (shards_.empty()) {
      shape_ = reader.shape();
    } else {
      DOJO_CHECK(reader.shape() == shape_, FormatError, "{}: clips are {}, {} holds {}", path,
                 to_string(reader.shape()), shards_.front().path(), to_string(shape_));
    }
    if (reader.size() == 0) continue;
    first_.push_back(total_);
    total_ += reader.size();
    shards_.push_back(std::move(reader));
  }
  DOJO_CHECK(total_ > 0, InvalidArgument, "loader source '{}': the shards hold no clips", source);
}

std::pair<const ShardReader*, std::int64_t> ShardSet::locate(std::int64_t i) const {
  DOJO_CHECK(i >= 0 && i < total_, InvalidArgument, "clip index {} out of range [0, {})", i, total_);
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

std::string ShardSet::describe(std::int64_t i) const {
  const auto [shard, local] = locate(i);
  return fmt::format("shard {} clip {}", shard->path(), local);
}

}  // namespace dojo::data
