#pragma once
// Per-clip tube masks from counters, so a clip's mask depends only on (seed, step, its
// slot in the global batch): the same on 1 or N ranks and after a resume, with no RNG
// state to save.
#include <cstdint>
#include <span>

#include "core/random.hpp"
#include "model/config.hpp"
#include "model/mask.hpp"

namespace dojo::train {

using dojo::mix_seed;  // core/random.hpp: (seed, step, slot) -> a well-mixed seed

// One batch mask whose sample j is make_tube_mask(config, 1, seeds[j]).
model::TubeMask masks_for(const model::ModelConfig& config, std::span<const std::uint64_t> seeds);

}  // namespace dojo::train
