#pragma once
// The one gradient bucket planner. GradSync all-reduces these buckets as backward
// finishes them, and the mesh simulation charges the same buckets, so the two never
// disagree on how many collectives a step makes or how large they are.
//
// Layers are given in forward order as element ranges that tile [0, total). Buckets are
// made in reverse layer order (backward produces the last layer's gradients first): a
// bucket takes whole layers until it holds at least `bucket_bytes`, then the next one
// starts. A layer larger than `bucket_bytes` is a bucket of its own; it is never split.
#include <cstddef>
#include <utility>
#include <vector>

namespace dojo {

// The default bucket size, in bytes (25 MiB, as DDP's default).
inline constexpr std::size_t kDefaultBucketBytes = std::size_t{25} << 20;

struct GradBucket {
  std::size_t offset = 0;                       // first element in the arena
  std::size_t count = 0;                        // elements
  std::size_t first_layer = 0, last_layer = 0;  // layers [first, last] in forward order
};

// Element range [begin, end) of one layer's gradients, layers in forward order.
using LayerRange = std::pair<std::size_t, std::size_t>;

// Buckets for `layers` (which must tile [0, total) in order), in reverse layer order.
// Throws InvalidArgument when the layers do not tile the arena.
std::vector<GradBucket> plan_buckets(const std::vector<LayerRange>& layers, std::size_t total,
                                     std::size_t bucket_bytes, std::size_t elem_bytes = 4);

}  // namespace dojo
