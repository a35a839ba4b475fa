#pragma once
// The fixed inputs of the PyTorch reference: tiny config, batch 2, init seed 7, clips from
// seed 11, tube mask from seed 13.
#include <vector>

#include "model/config.hpp"
#include "model/mask.hpp"
#include "core/random.hpp"

namespace dojo::model::testing {

inline constexpr std::int64_t kReferenceBatch = 2;
inline constexpr std::uint64_t kReferenceInitSeed = 7;

inline std::vector<float> reference_clips(const ModelConfig& c) {
  CounterRng rng(11);
  std::vector<float> clips(std::size_t(kReferenceBatch * c.clip_elems()));
  for (auto& x : clips) x = float(rng.uniform());
  return clips;
}

inline TubeMask reference_mask(const ModelConfig& c) {
  return make_tube_mask(c, kReferenceBatch, 13);
}

}  // namespace dojo::model::testing
