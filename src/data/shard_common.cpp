#include <xxhash.h>

#include "data/shard.hpp"

namespace dojo::data {

std::uint64_t clip_checksum(std::span<const std::uint8_t> clip) {
  return XXH64(clip.data(), clip.size(), 0);
}

}  // namespace dojo::data
