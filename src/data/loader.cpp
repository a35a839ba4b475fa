#include "data/loader.hpp"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "core/error.hpp"
#include "core/random.hpp"
#include "data/clip_source.hpp"
#include "data/sampler.hpp"
#include "data/streaming_source.hpp"

namespace dojo::data {
namespace {

// The raw clips of one batch, as the reader thread read them.
struct Job {
  std::int64_t seq = 0;
  Loader::Cursor at;
  std::vector<std::int64_t> ids;
  std::vector<std::uint8_t> raw;  // (B, T, H, W, C)
  std::exception_ptr error;
};

struct Result {
  Batch batch;
  std::exception_ptr error;
};

constexpr std::size_t kPoolSize = 4;

std::uint64_t clip_seed(std::uint64_t seed, std::int64_t epoch, std::int64_t position) {
  return mix_seed(seed, static_cast<std::uint64_t>(epoch), static_cast<std::uint64_t>(position));
}

}  // namespace

struct Loader::Impl {
  LoaderOptions options;
  std::unique_ptr<ClipSource> source;
  mutable std::mutex source_mutex;  // reader thread vs read_clip()
  ClipShape shape;
  std::unique_ptr<EpochSampler> sampler;  // reader thread only (while running)
  std::int64_t per_epoch = 0;
  std::int64_t batches_per_epoch = 0;
  Cursor cursor;  // of the next batch next() returns
  std::exception_ptr failed;
  double wait_s = 0.0;

  // Shared between next(), the reader and the workers; guarded by `mutex`.
  std::mutex mutex;
  std::condition_variable reader_cv, worker_cv, consumer_cv;
  std::deque<std::unique_ptr<Job>> jobs;
  std::map<std::int64_t, Result> done;
  // Buffers handed back for reuse (fresh 10-30 MB allocations cost page faults and zeroing).
  std::vector<std::vector<std::uint8_t>> raw_pool;
  std::vector<std::vector<float>> pixel_pool;
  std::int64_t in_flight = 0;  // batches read and not yet handed out
  std::int64_t next_seq = 0;   // sequence number next() waits for
  bool stopping = false;
  bool running = false;
  std::thread reader;
  std::vector<std::thread> workers;

  // Position of the batch after the one at `c`.
  Cursor advance(Cursor c) const {
    c.position += options.batch;
    const std::int64_t end = options.drop_last ? batches_per_epoch * options.batch : per_epoch;
    if (c.position >= end) {
      ++c.epoch;
      c.position = 0;
    }
    return c;
  }
  std::int64_t batch_size_at(const Cursor& c) const {
    return std::min(options.batch, per_epoch - c.position);
  }

  void start();
  void stop() noexcept;
  void read_loop(Cursor from);
  void work_loop();
  Result make_batch(Job& job);
};

void Loader::Impl::start() {
  if (running) return;
  stopping = false;
  next_seq = 0;
  in_flight = 0;
  running = true;
  reader = std::thread([this, from = cursor] { read_loop(from); });
  for (int w = 0; w < options.workers; ++w) workers.emplace_back([this] { work_loop(); });
}

void Loader::Impl::stop() noexcept {
  if (!running) return;
  {
    std::lock_guard lock(mutex);
    stopping = true;
  }
  reader_cv.notify_all();
  worker_cv.notify_all();
  reader.join();
  for (auto& w : workers) w.join();
  workers.clear();
  jobs.clear();
  done.clear();
  running = false;
}

void Loader::Impl::read_loop(Cursor at) {
  const std::int64_t clip_bytes = shape.clip_bytes();
  for (std::int64_t seq = 0;; ++seq) {
    {
      std::unique_lock lock(mutex);
      reader_cv.wait(lock, [&] { return stopping || in_flight < options.prefetch; });
      if (stopping) return;
      ++in_flight;
    }
    auto job = std::make_unique<Job>();
    {
      std::lock_guard lock(mutex);
      if (!raw_pool.empty()) {
        job->raw = std::move(raw_pool.back());
        raw_pool.pop_back();
      }
    }
    job->seq = seq;
    job->at = at;
    const std::int64_t n = batch_size_at(at);
    try {
      job->raw.resize(static_cast<std::size_t>(n * clip_bytes));
      for (std::int64_t b = 0; b < n; ++b)
        job->ids.push_back(sampler->clip_at(at.epoch, at.position + b));
      std::lock_guard source_lock(source_mutex);
      source->read_many(job->ids, job->raw);
    } catch (...) {
      job->error = std::current_exception();
    }
    {
      std::lock_guard lock(mutex);
      jobs.push_back(std::move(job));
    }
    worker_cv.notify_one();
    at = advance(at);
  }
}

Result Loader::Impl::make_batch(Job& job) {
  Result r;
  if (job.error) {
    r.error = job.error;
    return r;
  }
  try {
    const std::int64_t clip_bytes = shape.clip_bytes();
    Batch& batch = r.batch;
    batch.shape = shape;
    batch.epoch = job.at.epoch;
    batch.position = job.at.position;
    batch.clip_ids = job.ids;
    {
      std::lock_guard lock(mutex);
      if (!pixel_pool.empty()) {
        batch.pixels = std::move(pixel_pool.back());
        pixel_pool.pop_back();
      }
    }
    batch.pixels.resize(job.raw.size());
    for (std::size_t b = 0; b < job.ids.size(); ++b) {
      const std::span<const std::uint8_t> clip(job.raw.data() + b * clip_bytes,
                                               static_cast<std::size_t>(clip_bytes));
      const std::span<float> out(batch.pixels.data() + b * clip_bytes,
                                 static_cast<std::size_t>(clip_bytes));
      if (source->has_checksum()) {
        const std::uint64_t expected = source->checksum(job.ids[b]);
        DOJO_CHECK(clip_checksum(clip) == expected, FormatError,
                   "loader: {}: checksum mismatch (global clip {}): the shard is corrupt",
                   source->describe(job.ids[b]), job.ids[b]);
      }
      if (options.augment) {
        // Seeded by the clip's slot in the epoch's global order (slice position p of rank r
        // is slot p * world + r), so a clip is augmented alike on 1 or N ranks.
        const std::int64_t slot =
            (job.at.position + static_cast<std::int64_t>(b)) * options.world_size + options.rank;
        const auto seed = clip_seed(options.seed, job.at.epoch, slot);
        augment_clip(clip, shape, options.augment_options, seed, out);
      } else {
        clip_to_float(clip, shape, out);
      }
    }
  } catch (...) {
    r.error = std::current_exception();
  }
  return r;
}

void Loader::Impl::work_loop() {
  while (true) {
    std::unique_ptr<Job> job;
    {
      std::unique_lock lock(mutex);
      worker_cv.wait(lock, [&] { return stopping || !jobs.empty(); });
      if (stopping) return;
      job = std::move(jobs.front());
      jobs.pop_front();
    }
    Result result = make_batch(*job);
    {
      std::lock_guard lock(mutex);
      done.emplace(job->seq, std::move(result));
      if (raw_pool.size() < kPoolSize) raw_pool.push_back(std::move(job->raw));
    }
    consumer_cv.notify_all();
  }
}

Loader::Loader(LoaderOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  DOJO_CHECK(options.batch >= 1, InvalidArgument, "loader: batch = {}, expected >= 1",
             options.batch);
  DOJO_CHECK(options.workers >= 1 && options.workers <= 256, InvalidArgument,
             "loader: workers = {}, expected 1..256", options.workers);
  DOJO_CHECK(options.prefetch >= 1, InvalidArgument, "loader: prefetch = {}, expected >= 1",
             options.prefetch);
  DOJO_CHECK(options.world_size >= 1 && options.rank >= 0 && options.rank < options.world_size,
             InvalidArgument, "loader: rank {} of world size {}", options.rank, options.world_size);
  if (options.streaming) {
    DOJO_CHECK(options.decode_workers >= 1 && options.decode_workers <= 64, InvalidArgument,
               "loader: decode_workers = {}, expected 1..64", options.decode_workers);
    s.source = std::make_unique<StreamingSource>(options.videos, options.shape, options.clip_stride,
                                                 options.fps, options.decode_workers);
  } else {
    s.source = std::make_unique<ShardSet>(options.source);
    DOJO_CHECK(options.shape.frames == 0 || options.shape == s.source->shape(), InvalidArgument,
               "loader: the config asks for clips {}, '{}' holds {}", to_string(options.shape),
               options.source, to_string(s.source->shape()));
  }
  s.shape = s.source->shape();
  s.sampler = std::make_unique<EpochSampler>(s.source->size(), options.rank, options.world_size,
                                             options.seed, options.shuffle);
  s.per_epoch = s.sampler->clips_per_epoch();
  s.batches_per_epoch = options.drop_last ? s.per_epoch / options.batch
                                          : (s.per_epoch + options.batch - 1) / options.batch;
  DOJO_CHECK(s.batches_per_epoch >= 1, InvalidArgument,
             "loader: batch {} is larger than this rank's {} clips per epoch ({} clips over {} "
             "ranks) and drop_last is set",
             options.batch, s.per_epoch, s.source->size(), options.world_size);
  s.options = std::move(options);
}

Loader::~Loader() {
  impl_->stop();
}

Batch Loader::next() {
  Impl& s = *impl_;
  if (s.failed) std::rethrow_exception(s.failed);
  s.start();
  const auto t0 = std::chrono::steady_clock::now();
  Result result;
  {
    std::unique_lock lock(s.mutex);
    s.consumer_cv.wait(lock, [&] { return s.done.count(s.next_seq) > 0; });
    auto node = s.done.extract(s.next_seq);
    result = std::move(node.mapped());
    ++s.next_seq;
    --s.in_flight;
  }
  s.reader_cv.notify_one();
  s.wait_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (result.error) {
    s.failed = result.error;
    std::rethrow_exception(result.error);
  }
  s.cursor = s.advance(s.cursor);
  return std::move(result.batch);
}

void Loader::recycle(Batch&& batch) {
  Impl& s = *impl_;
  std::lock_guard lock(s.mutex);
  if (s.pixel_pool.size() < kPoolSize && !batch.pixels.empty()) {
    s.pixel_pool.push_back(std::move(batch.pixels));
  }
}

Loader::Cursor Loader::cursor() const {
  return impl_->cursor;
}

void Loader::restore(Cursor cursor) {
  Impl& s = *impl_;
  const std::int64_t end =
      s.options.drop_last ? s.batches_per_epoch * s.options.batch : s.per_epoch;
  DOJO_CHECK(cursor.epoch >= 0 && cursor.position >= 0 && cursor.position < end &&
                 cursor.position % s.options.batch == 0,
             InvalidArgument,
             "loader: cursor (epoch {}, position {}) does not fit this data set ({} clips per "
             "epoch, batch {}): was the checkpoint made with other data or batch size?",
             cursor.epoch, cursor.position, s.per_epoch, s.options.batch);
  s.stop();
  s.failed = nullptr;
  s.cursor = cursor;
}

const ClipShape& Loader::shape() const {
  return impl_->shape;
}
std::int64_t Loader::total_clips() const {
  return impl_->source->size();
}
std::int64_t Loader::clips_per_epoch() const {
  return impl_->per_epoch;
}
std::int64_t Loader::batches_per_epoch() const {
  return impl_->batches_per_epoch;
}
double Loader::wait_seconds() const {
  return impl_->wait_s;
}

std::vector<std::uint8_t> Loader::read_clip(std::int64_t i) const {
  const Impl& s = *impl_;
  DOJO_CHECK(i >= 0 && i < s.source->size(), InvalidArgument, "loader: clip {} of {}", i,
             s.source->size());
  std::vector<std::uint8_t> clip(static_cast<std::size_t>(s.shape.clip_bytes()));
  std::lock_guard lock(s.source_mutex);
  s.source->read(i, clip);
  if (s.source->has_checksum()) {
    DOJO_CHECK(clip_checksum(clip) == s.source->checksum(i), FormatError,
               "loader: {}: checksum mismatch (global clip {})", s.source->describe(i), i);
  }
  return clip;
}

const std::vector<std::string>& Loader::label_names() const {
  return impl_->source->label_names();
}

std::vector<float> Loader::labels(std::int64_t i) const {
  const Impl& s = *impl_;
  DOJO_CHECK(i >= 0 && i < s.source->size(), InvalidArgument, "loader: clip {} of {}", i,
             s.source->size());
  return s.source->labels(i);
}

}  // namespace dojo::data
