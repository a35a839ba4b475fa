#include "model/mask.hpp"

#include <algorithm>
#include <numeric>

#include "core/error.hpp"
#include "core/random.hpp"

namespace dojo::model {

TubeMask make_tube_mask(const ModelConfig& config, std::int64_t batch, std::uint64_t seed) {
  DOJO_CHECK(batch >= 1, InvalidArgument, "make_tube_mask: batch must be positive, got {}", batch);
  const std::int64_t spatial = config.spatial_tokens();
  const std::int64_t keep = config.visible_spatial();
  TubeMask m;
  m.batch = batch;
  m.tokens = config.tokens();
  m.visible = config.visible_tokens();
  m.masked = config.masked_tokens();
  m.visible_index.reserve(std::size_t(batch * m.visible));
  m.masked_index.reserve(std::size_t(batch * m.masked));
  m.is_masked.assign(std::size_t(batch * m.tokens), 1);
  CounterRng rng(seed);
  std::vector<std::int64_t> order(static_cast<std::size_t>(spatial));
  std::vector<std::uint8_t> kept(static_cast<std::size_t>(spatial));
  for (std::int64_t b = 0; b < batch; ++b) {
    std::iota(order.begin(), order.end(), 0);
    rng.shuffle(std::span(order));
    std::fill(kept.begin(), kept.end(), 0);
    for (std::int64_t i = 0; i < keep; ++i) kept[std::size_t(order[std::size_t(i)])] = 1;
    for (std::int64_t t = 0; t < m.tokens; ++t) {
      if (kept[std::size_t(t % spatial)]) {
        m.visible_index.push_back(t);
        m.is_masked[std::size_t(b * m.tokens + t)] = 0;
      } else {
        m.masked_index.push_back(t);
      }
    }
  }
  return m;
}

}  // namespace dojo::model
