#pragma once
// Tube masking (VideoMAE): every sample keeps the same number of spatial positions, and a
// kept position is visible in every time slot, so a masked tube never leaks through time.
#include <cstdint>
#include <vector>

#include "model/config.hpp"

namespace dojo::model {

struct TubeMask {
  std::int64_t batch = 0;
  std::int64_t tokens = 0;                  // per sample
  std::int64_t visible = 0;                 // per sample, the same for every sample
  std::int64_t masked = 0;                  // per sample
  std::vector<std::int64_t> visible_index;  // (batch, visible) token indices, ascending
  std::vector<std::int64_t> masked_index;   // (batch, masked) token indices, ascending
  std::vector<std::uint8_t> is_masked;      // (batch, tokens) 1 where masked
};

// Deterministic from `seed` (own Fisher-Yates over a 64-bit Mersenne Twister, so the same
// seed gives the same mask with any standard library).
TubeMask make_tube_mask(const ModelConfig& config, std::int64_t batch, std::uint64_t seed);

}  // namespace dojo::model
