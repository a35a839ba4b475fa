#include "data/streaming_source.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <list>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/log.hpp"
#include "data/clip_cutter.hpp"
#include "data/ingest.hpp"
#include "data/video_index.hpp"

namespace dojo::data {
// One decode thread and the decoders of the files it owns. Tasks come from the thread
// that calls read()/read_many(); run() executes them in order.
struct StreamingSource::Worker {
  struct Open {
    std::size_t file = 0;
    std::unique_ptr<VideoReader> reader;
    std::unique_ptr<ClipCutter> cutter;
    std::int64_t base = 0;         // sampled frame the cutter's frame 0 is
    std::int64_t last_start = -1;  // start of the clip the cutter produced last
  };
  struct Task {
    std::int64_t local = 0;
    std::size_t file = 0;
    std::span<std::uint8_t> out;
  };

  const StreamingSource* source = nullptr;
  std::list<Open> open;  // most recently used first

  std::mutex mutex;
  std::condition_variable cv, done_cv;
  std::deque<Task> tasks;
  std::int64_t pending = 0;
  std::exception_ptr error;
  bool stopping = false;
  std::thread thread;

  // Decodes clip `local` of `file` into `out`.
  void decode(std::size_t file, std::int64_t local, std::span<std::uint8_t> out);
  void loop();
};

void StreamingSource::Worker::decode(std::size_t file, std::int64_t local,
                                     std::span<std::uint8_t> out) {
  const File& f = source->files_[file];
  const std::int64_t start = local * source->stride_;
  auto it = std::find_if(open.begin(), open.end(), [&](const Open& o) { return o.file == file; });
  if (it == open.end()) {
    if (open.size() >= kOpenFiles) open.pop_back();
    open.push_front(Open{file, nullptr, nullptr, 0, -1});
    it = open.begin();
  } else if (it != open.begin()) {
    open.splice(open.begin(), open, it);
    it = open.begin();
  }
  Open& o = *it;
  const bool seekable = !f.frame_pts.empty();
  auto restart_at = [&](std::int64_t frame) {
    if (seekable) o.reader->seek_frame(frame, f.frame_pts[static_cast<std::size_t>(frame)]);
    o.base = seekable ? frame : 0;
    o.cutter = std::make_unique<ClipCutter>(source->shape_, source->stride_);
    o.last_start = -1;
  };
  if (!o.reader) {
    o.reader = std::make_unique<VideoReader>(f.path, source->reader_options_);
    if (seekable && start > 0) {
      restart_at(start);
    } else {
      o.base = 0;
      o.cutter = std::make_unique<ClipCutter>(source->shape_, source->stride_);
      o.last_start = -1;
    }
  } else if (o.last_start >= start) {  // behind the decoder: seek back, or reopen
    if (!seekable) o.reader = std::make_unique<VideoReader>(f.path, source->reader_options_);
    restart_at(seekable ? start : 0);
  } else if (seekable) {
    // Ahead: seeking pays when the key frame before the clip lies past the decoder.
    const std::int64_t next = o.base + o.cutter->frames_seen();
    const auto key = std::upper_bound(f.key_frames.begin(), f.key_frames.end(), start);
    if (key != f.key_frames.begin() && *(key - 1) > next) restart_at(start);
  }
  while (o.reader->next(o.cutter->slot())) {
    if (!o.cutter->push()) continue;
    o.last_start = o.base + o.cutter->clip_start();
    if (o.last_start == start) {
      std::copy(o.cutter->clip().begin(), o.cutter->clip().end(), out.begin());
      return;
    }
    if (o.last_start > start) break;
  }
  const std::string path = f.path;
  open.erase(it);
  throw FormatError(fmt::format(
      "{}: clip {} (sampled frame {}) does not decode: the file is damaged or changed since "
      "the loader indexed it",
      path, local, start));
}

void StreamingSource::Worker::loop() {
  while (true) {
    Task task;
    {
      std::unique_lock lock(mutex);
      cv.wait(lock, [&] { return stopping || !tasks.empty(); });
      if (stopping) return;
      task = tasks.front();
      tasks.pop_front();
    }
    std::exception_ptr failed;
    try {
      decode(task.file, task.local, task.out);
    } catch (...) {
      failed = std::current_exception();
    }
    {
      std::lock_guard lock(mutex);
      if (failed && !error) error = failed;
      --pending;
    }
    done_cv.notify_all();
  }
}

StreamingSource::StreamingSource(const std::vector<std::string>& videos, const ClipShape& shape,
                                 std::int64_t clip_stride, double fps, int workers,
                                 int decoder_threads)
    : shape_(shape), stride_(clip_stride > 0 ? clip_stride : shape.frames * shape.frame_step) {
  check_clip_shape(shape, "streaming loader");
  check_clip_memory(shape,
                    (shape.span_frames() + shape.frames) * std::max(1, workers) *
                        static_cast<std::int64_t>(kOpenFiles),
                    "streaming loader");
  DOJO_CHECK(workers >= 1, InvalidArgument, "streaming loader: {} workers, expected >= 1", workers);
  reader_options_.width = shape.width;
  reader_options_.height = shape.height;
  reader_options_.channels = shape.channels;
  reader_options_.fps = fps;
  reader_options_.threads = decoder_threads;
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& path : expand_inputs(videos)) {
    try {
      VideoIndex index = index_video(path, fps);
      const std::int64_t clips = clips_in(index.sampled_frames, shape_, stride_);
      if (clips == 0) {
        log::warn("streaming loader: {}: skipped: {} sampled frames, a clip spans {}", path,
                  index.sampled_frames, shape_.span_frames());
        continue;
      }
      File file{path, total_, clips, {}, {}};
      if (index.seekable) {
        file.frame_pts = std::move(index.frame_pts);
        file.key_frames = std::move(index.key_frames);
      }
      first_.push_back(total_);
      total_ += clips;
      files_.push_back(std::move(file));
    } catch (const FormatError& e) {
      log::warn("streaming loader: skipped: {}", e.what());
    }
  }
  index_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  DOJO_CHECK(total_ > 0, InvalidArgument, "streaming loader: no clips in the {} video input(s)",
             videos.size());
  for (int w = 0; w < workers; ++w) {
    auto worker = std::make_unique<Worker>();
    worker->source = this;
    workers_.push_back(std::move(worker));
  }
  for (auto& worker : workers_) worker->thread = std::thread([w = worker.get()] { w->loop(); });
}

StreamingSource::~StreamingSource() {
  for (auto& worker : workers_) {
    {
      std::lock_guard lock(worker->mutex);
      worker->stopping = true;
    }
    worker->cv.notify_all();
  }
  for (auto& worker : workers_) worker->thread.join();
}

std::pair<std::size_t, std::int64_t> StreamingSource::locate(std::int64_t i) const {
  DOJO_CHECK(i >= 0 && i < total_, InvalidArgument, "clip index {} out of range [0, {})", i,
             total_);
  const auto k = static_cast<std::size_t>(std::upper_bound(first_.begin(), first_.end(), i) -
                                          first_.begin() - 1);
  return {k, i - first_[k]};
}

void StreamingSource::read(std::int64_t i, std::span<std::uint8_t> out) {
  const std::int64_t ids[1] = {i};
  read_many(ids, out);
}

void StreamingSource::read_many(std::span<const std::int64_t> ids, std::span<std::uint8_t> out) {
  const auto clip_bytes = static_cast<std::size_t>(shape_.clip_bytes());
  DOJO_ASSERT(out.size() == ids.size() * clip_bytes, "{} bytes for {} clips", out.size(),
              ids.size());
  // Within one worker, clips of a file go in file order, so a batch of neighbours decodes
  // forward once; the bytes of each clip do not depend on the order.
  std::vector<std::size_t> order(ids.size());
  for (std::size_t k = 0; k < ids.size(); ++k) order[k] = k;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return ids[a] < ids[b]; });
  for (const std::size_t k : order) {
    const auto [file, local] = locate(ids[k]);
    Worker& w = *workers_[file % workers_.size()];
    std::lock_guard lock(w.mutex);
    w.tasks.push_back({local, file, out.subspan(k * clip_bytes, clip_bytes)});
    ++w.pending;
    w.cv.notify_one();
  }
  std::exception_ptr failed;
  for (auto& worker : workers_) {
    std::unique_lock lock(worker->mutex);
    worker->done_cv.wait(lock, [&] { return worker->pending == 0; });
    if (worker->error && !failed) failed = worker->error;
    worker->error = nullptr;
  }
  if (failed) std::rethrow_exception(failed);
}

std::string StreamingSource::describe(std::int64_t i) const {
  const auto [file, local] = locate(i);
  return fmt::format("video {} clip {}", files_[file].path, local);
}

}  // namespace dojo::data
