#include "train/masks.hpp"

namespace dojo::train {
model::TubeMask masks_for(const model::ModelConfig& config, std::span<const std::uint64_t> seeds) {
  model::TubeMask out;
  out.batch = static_cast<std::int64_t>(seeds.size());
  for (std::uint64_t seed : seeds) {
    const auto one = model::make_tube_mask(config, 1, seed);
    out.tokens = one.tokens;
    out.visible = one.visible;
    out.masked = one.masked;
    out.visible_index.insert(out.visible_index.end(), one.visible_index.begin(),
                             one.visible_index.end());
    out.masked_index.insert(out.masked_index.end(), one.masked_index.begin(),
                            one.masked_index.end());
    out.is_masked.insert(out.is_masked.end(), one.is_masked.begin(), one.is_masked.end());
  }
  return out;
}

}  // namespace dojo::train
