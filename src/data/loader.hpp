#pragma once
// Loader: batches of float clips for training, read ahead on background threads.
//
// Order. The loader numbers every clip of its source (global index, clip_source.hpp) and
// draws a permutation per epoch from (seed, epoch); rank r takes its slice with
// DistributedSampler semantics (sampler.hpp: padded by wrapping, so every rank gets
// clips_per_epoch() = ceil(N / world_size) clips). Batches take consecutive slice
// positions; with drop_last the last incomplete batch of an epoch is dropped, else it is
// delivered short. The sequence of batches depends only on (source, options, cursor):
// not on thread timing, worker count or prefetch depth.
//
// Threads. One reader thread owns every HDF5 call: it reads the clips of a batch (raw
// uint8) into a job and queues it. `workers` threads take jobs, verify each clip's
// xxhash64 against the shard's checksum, augment (augment.hpp) or convert to float, and
// file the finished batch. next() hands batches out in order. At most `prefetch` batches
// are read ahead. A corrupt clip makes next() throw FormatError naming the shard and
// clip index when that batch is reached. Loader's own member functions are called from
// one thread.
//
// Cursor. cursor() is the position of the next batch next() will return;
// restore(cursor) makes the loader continue from exactly there (a checkpoint saves it).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/augment.hpp"
#include "data/clip_shape.hpp"

namespace dojo::data {

struct LoaderOptions {
  std::string source;               // ingest folder, shard file, or comma-separated shard files
  bool streaming = false;           // decode `videos` directly instead of reading shards
  std::vector<std::string> videos;  // streaming: files and folders
  double fps = 0.0;                 // streaming: sampling rate (0: every frame)
  std::int64_t clip_stride = 0;     // streaming: 0 = T * frame_step
  int decode_workers = 1;           // streaming: decode threads (streaming_source.hpp)
  // Expected clip shape. frames == 0 takes the shards' shape; otherwise it must match.
  // Streaming mode cuts clips of this shape (frames must be set).
  ClipShape shape{0, 0, 0, 0, 0};
  std::int64_t batch = 8;
  int rank = 0;
  int world_size = 1;
  std::uint64_t seed = 0;
  bool shuffle = true;
  bool augment = false;
  AugmentOptions augment_options;
  int workers = 2;
  int prefetch = 4;  // batches
  bool drop_last = true;
};

struct Batch {
  std::vector<float> pixels;           // (B, T, H, W, C) in [0, 1]
  std::vector<std::int64_t> clip_ids;  // (B) global clip index of each clip
  ClipShape shape;
  std::int64_t epoch = 0;
  std::int64_t position = 0;  // slice position of the first clip in this epoch
  std::int64_t size() const { return static_cast<std::int64_t>(clip_ids.size()); }
};

class Loader {
 public:
  struct Cursor {
    std::int64_t epoch = 0;
    std::int64_t position = 0;  // clips of this rank's slice already delivered this epoch
    bool operator==(const Cursor&) const = default;
  };

  explicit Loader(LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // The next batch; blocks while the workers catch up (time counted in wait_seconds()).
  Batch next();
  // Optional: hands a used batch back so its buffer is reused for a later batch (saves
  // allocating and page-faulting B*T*H*W*C floats per batch).
  void recycle(Batch&& batch);
  Cursor cursor() const;
  // Continues from `cursor` (discards batches read ahead).
  void restore(Cursor cursor);

  const ClipShape& shape() const;
  std::int64_t total_clips() const;      // N, all ranks
  std::int64_t clips_per_epoch() const;  // this rank's slice, ceil(N / world_size)
  std::int64_t batches_per_epoch() const;
  double wait_seconds() const;  // total time next() spent blocked

  // Reads global clip i as uint8 (T, H, W, C), verified, on the calling thread (for eval
  // and sample grids; not while another thread uses HDF5 without h5::mutex()).
  std::vector<std::uint8_t> read_clip(std::int64_t i) const;

  // Ground truth (labels.hpp): the label columns of the source (empty: no labels; throws
  // FormatError when its shards disagree on them) and global clip i's values, one per
  // column (NaN where the clip's source video had no labels file). Batch::clip_ids are the
  // indices to pass. From memory, any time.
  const std::vector<std::string>& label_names() const;
  std::vector<float> labels(std::int64_t i) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dojo::data
