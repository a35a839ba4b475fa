#include "core/buckets.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace dojo {

std::vector<GradBucket> plan_buckets(const std::vector<LayerRange>& layers, std::size_t total,
                                     std::size_t bucket_bytes, std::size_t elem_bytes) {
  DOJO_CHECK(elem_bytes > 0, InvalidArgument, "gradient buckets: element size 0");
  std::size_t expected_begin = 0;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    DOJO_CHECK(layers[i].first == expected_begin && layers[i].second >= layers[i].first,
               InvalidArgument,
               "gradient buckets: layer {} covers [{}, {}), expected it to start at {} "
               "(layers must tile the arena in order)",
               i, layers[i].first, layers[i].second, expected_begin);
    expected_begin = layers[i].second;
  }
  DOJO_CHECK(expected_begin == total, InvalidArgument,
             "gradient buckets: layers cover {} elements, the arena has {}", expected_begin, total);
  const std::size_t bucket_elems = std::max<std::size_t>(1, bucket_bytes / elem_bytes);
  std::vector<GradBucket> buckets;
  for (std::size_t i = layers.size(); i-- > 0;) {
    const auto [begin, end] = layers[i];
    if (buckets.empty() || buckets.back().count >= bucket_elems) {
      buckets.push_back({begin, end - begin, i, i});
    } else {
      auto& b = buckets.back();
      b.count += b.offset - begin;
      b.offset = begin;
      b.first_layer = i;
    }
  }
  return buckets;
}

}  // namespace dojo
