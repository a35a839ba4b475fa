#pragma once
// EpochSampler: which global clip index rank r reads at (epoch, position).
//
// DistributedSampler semantics (PyTorch): each epoch has a permutation of the N global
// clip indices, drawn from (seed, epoch) alone, so every rank computes the same one
// without talking. The permutation is padded by wrapping around to P = ceil(N / W) * W
// entries and rank r takes entries r, r + W, r + 2W, ...: every rank gets exactly
// P / W = ceil(N / W) clips per epoch, the slices are disjoint except for the (at most
// W - 1) wrapped entries, and together they cover all N clips.
//
// The permutation is a Fisher-Yates shuffle driven by splitmix64 with an explicit
// bounded draw, so it is the same on every platform and standard library.
#include <cstdint>
#include <vector>

namespace dojo::data {

class EpochSampler {
 public:
  EpochSampler(std::int64_t clips, int rank, int world_size, std::uint64_t seed, bool shuffle);

  std::int64_t clips_per_epoch() const { return per_rank_; }  // per rank
  // Global clip index for this rank at `position` (0 <= position < clips_per_epoch()).
  std::int64_t clip_at(std::int64_t epoch, std::int64_t position);
  // The full permutation of an epoch (all ranks).
  std::vector<std::int64_t> permutation(std::int64_t epoch) const;

 private:
  std::int64_t clips_;
  int rank_;
  int world_size_;
  std::uint64_t seed_;
  bool shuffle_;
  std::int64_t per_rank_;
  std::int64_t cached_epoch_ = -1;
  std::vector<std::int64_t> order_;
};

}  // namespace dojo::data
