#include <xxhash.h>

#include "data/shard.hpp"
#include "h5/handles.hpp"

namespace dojo::data {

std::recursive_mutex& hdf5_mutex() {
  return h5::mutex();
}

std::uint64_t clip_checksum(std::span<const std::uint8_t> clip) {
  return XXH64(clip.data(), clip.size(), 0);
}

}  // namespace dojo::data
