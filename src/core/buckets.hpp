#pragma once
// The one gradient bucket planner. GradSync all-reduces these buckets as backward
// finishes them, and the mesh simulation charges the same buckets, so the two never
// disagree on how many collectives a step makes or how large they are.
//
// Layers are given in forward order as element ranges that tile [0, total). Buckets are
// made in reverse layer order (backward produces the last layer's gradients first): a
// bucket takes whole layers until it holds at least `bucket_bytes`, then the next one
// starts. A layer larger than `bucket_bytes` is a bucket of its own; it is never split.
#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

namespace dojo {

// The largest bucket dojo picks by itself, in bytes (25 MiB, as DDP's default).
inline constexpr std::size_t kDefaultBucketBytes = std::size_t{25} << 20;

// The bucket size when the configuration leaves it to dojo (comm.bucket_mb: auto): a
// quarter of the gradients, at least 1 MiB and at most kDefaultBucketBytes. A model whose
// gradients fit in one 25 MiB bucket would otherwise reduce them all after backward, with
// nothing to overlap; with four buckets only the last (the first layers, which backward
// finishes last) waits for backward to end, and each collective still moves megabytes.
inline std::size_t auto_bucket_bytes(std::size_t grad_bytes) {
  return std::clamp(grad_bytes / 4, std::size_t{1} << 20, kDefaultBucketBytes);
}

// comm.bucket_mb as bytes: `megabytes` > 0 as given, 0 (auto) by auto_bucket_bytes.
inline std::size_t bucket_bytes_for(double megabytes, std::size_t grad_bytes) {
  return megabytes > 0 ? static_cast<std::size_t>(megabytes * double(1 << 20))
                       : auto_bucket_bytes(grad_bytes);
}

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
