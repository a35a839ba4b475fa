#include "data/sampler.hpp"

#include <numeric>
#include <utility>

#include "core/error.hpp"
#include "core/random.hpp"

namespace dojo::data {

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
  CounterRng(mix_seed(seed_, static_cast<std::uint64_t>(epoch))).shuffle(std::span(order));
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
