#include "data/sampler.hpp"

#include <numeric>
#include <utility>

#include "core/error.hpp"

namespace dojo::data {
namespace {

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Uniform in [0, bound) without modulo bias (rejection of the short last interval).
std::uint64_t bounded(std::uint64_t& state, std::uint64_t bound) {
  const std::uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  std::uint64_t x = 0;
  do {
    x = splitmix64(state);
  } while (x >= limit);
  return x % bound;
}

}  // namespace

EpochSampler::EpochSampler(std::int64_t clips, int rank, int world_size, std::uint64_t seed,
                           bool shuffle)
    : clips_(clips), rank_(rank), world_size_(world_size), seed_(seed), shuffle_(shuffle) {
  DOJO_CHECK(clips >= 1, InvalidArgument, "sampler: the data set holds no clips");
  DOJO_CHECK(world_size >= 1 && rank >= 0 && rank < world_size, InvalidArgument,
             "sampler: rank {} of world size {}", rank, world_size);
  per_rank_ = (clips + world_size - 1) / world_size;
}

std::vector<std::int64_t> EpochSampler::permutation(std::int64_t epoch) const {
  std::vector<std::int64_t> order(static_cast<std::size_t>(clips_));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  if (!shuffle_) return order;
  std::uint64_t state = seed_ ^ (0xA0761D6478BD642FULL * static_cast<std::uint64_t>(epoch + 1));
  for (std::size_t i = order.size() - 1; i > 0; --i) {
    std::swap(order[i], order[bounded(state, i + 1)]);
  }
  return order;
}

std::int64_t EpochSampler::clip_at(std::int64_t epoch, std::int64_t position) {
  DOJO_ASSERT(position >= 0 && position < per_rank_, "position {} of {}", position, per_rank_);
  if (epoch != cached_epoch_) {
    order_ = permutation(epoch);
    cached_epoch_ = epoch;
  }
  const std::int64_t padded = rank_ + static_cast<std::int64_t>(world_size_) * position;
  return order_[static_cast<std::size_t>(padded % clips_)];
}

}  // namespace dojo::data
