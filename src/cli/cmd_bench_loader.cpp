// `dojo bench loader`: clips/s the Loader delivers (16x96x96x3 clips, augmentation on) per
// worker-thread count, next to the anchor measured in the same run: the reader thread
// alone (HDF5 read + checksum, no conversion) and the rate the trainer consumes.
// `--streaming`: the same from video files (streaming_source.hpp), per decode-worker count,
// with the time the index took (no decoding).
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <sstream>

#include <unistd.h>

#include <fmt/format.h>

#include "cli/command.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/stats.hpp"
#include "data/loader.hpp"
#include "data/shard.hpp"
#include "data/streaming_source.hpp"
#include "data/synth.hpp"
#include "data/synth_scene.hpp"

namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string source;  // ingest folder or shards; empty: make a synthetic shard
  std::string workers = "1,2";
  std::int64_t batch = 16;
  std::int64_t batches = 24;
  std::int64_t clips = 96;  // clips in the synthetic shard
  int repeats = 3;
  bool augment = true;
  double trainer_clips_per_s = 100.0;
  bool streaming = false;
  std::vector<std::string> videos;  // streaming: files or folders; empty: synthetic videos
  std::int64_t synth_videos = 8;    // streaming: how many synthetic videos to make
};

// Writes `clips` clips of 16x96x96x3 rendered by the synthetic scene into one shard.
std::string make_shard(const fs::path& dir, std::int64_t clips) {
  const dojo::data::ClipShape shape{16, 96, 96, 3, 1};
  const std::string path = (dir / "bench.h5").string();
  dojo::data::ShardWriter writer(path, shape);
  const auto source = writer.add_source("synthetic");
  std::vector<std::uint8_t> clip(static_cast<std::size_t>(shape.clip_bytes()));
  for (std::int64_t c = 0; c < clips; ++c) {
    dojo::data::DrivingScene scene(96, 96, 15.0, static_cast<std::uint64_t>(c));
    for (std::int64_t t = 0; t < shape.frames; ++t) {
      scene.render_next(
          {clip.data() + t * shape.frame_bytes(), static_cast<std::size_t>(shape.frame_bytes())});
    }
    writer.append(clip, source, 0, 15.0);
  }
  writer.commit();
  return path;
}

double loader_rate(const Options& o, const std::string& source, int workers, bool augment) {
  dojo::data::LoaderOptions lo;
  lo.source = source;
  if (o.streaming) {
    lo.streaming = true;
    lo.videos = o.videos;
    lo.shape = dojo::data::ClipShape{16, 96, 96, 3, 1};
    lo.decode_workers = workers;
  }
  lo.batch = o.batch;
  lo.workers = workers;
  lo.prefetch = 2 * workers + 2;
  lo.augment = augment;
  lo.seed = 1;
  dojo::data::Loader loader(lo);
  loader.next();  // threads started, queue primed
  const auto t0 = Clock::now();
  std::int64_t clips = 0;
  for (std::int64_t b = 0; b < o.batches; ++b) {
    dojo::data::Batch batch = loader.next();
    clips += batch.size();
    loader.recycle(std::move(batch));  // as the trainer does after each step
  }
  return static_cast<double>(clips) / std::chrono::duration<double>(Clock::now() - t0).count();
}

double reader_rate(const Options& o, const std::string& source) {
  dojo::data::LoaderOptions lo;
  lo.source = source;
  lo.batch = 1;
  lo.workers = 1;
  dojo::data::Loader loader(lo);  // only for its index; clips read on this thread
  const std::int64_t n = std::min<std::int64_t>(o.batch * o.batches, loader.total_clips());
  const auto t0 = Clock::now();
  for (std::int64_t i = 0; i < n; ++i) loader.read_clip(i);
  return static_cast<double>(n) / std::chrono::duration<double>(Clock::now() - t0).count();
}

// Streaming: clips/s per decode-worker count (one loader worker per decode worker).
int run_streaming(Options& o) {
  std::unique_ptr<fs::path> temp;
  if (o.videos.empty()) {
    temp = std::make_unique<fs::path>(fs::temp_directory_path() /
                                      fmt::format("dojo-bench-streaming-{}", ::getpid()));
    dojo::data::SynthOptions so;
    so.out_dir = temp->string();
    so.clips = o.synth_videos;
    so.seconds = 8.0;
    so.width = 320;
    so.height = 240;
    so.fps = 15;
    dojo::data::synthesize(so);
    o.videos = {temp->string()};
  }
  const auto t0 = Clock::now();
  dojo::data::StreamingSource index(o.videos, dojo::data::ClipShape{16, 96, 96, 3, 1}, 0, 0.0);
  const double index_s = std::chrono::duration<double>(Clock::now() - t0).count();
  fmt::print(
      "bench loader --streaming: {} files, {} clips of 16x96x96x3, indexed in {:.3f} s "
      "(no decoding); batch {}, augment {}, {} repeats (median)\n",
      index.files(), index.size(), index_s, o.batch, o.augment ? "on" : "off", o.repeats);
  fmt::print("  {:>14} {:>10} {:>14}\n", "decode workers", "clips/s", "x trainer");
  std::stringstream list(o.workers);
  std::string item;
  while (std::getline(list, item, ',')) {
    const int workers = std::stoi(item);
    std::vector<double> rates;
    for (int r = 0; r < o.repeats; ++r) rates.push_back(loader_rate(o, "", workers, o.augment));
    const double rate = dojo::median(rates);
    fmt::print("  {:>14} {:>10.1f} {:>14.2f}\n", workers, rate, rate / o.trainer_clips_per_s);
  }
  if (temp) fs::remove_all(*temp);
  return 0;
}

dojo::cli::Runner setup(CLI::App& app) {
  auto o = std::make_shared<Options>();
  app.add_option("--source", o->source, "ingest folder or shards (default: a synthetic shard)");
  app.add_option("--workers", o->workers,
                 "worker thread counts to measure, comma-separated (streaming: decode workers)")
      ->capture_default_str();
  app.add_option("--batch", o->batch, "clips per batch")->capture_default_str();
  app.add_option("--batches", o->batches, "batches timed per measurement")->capture_default_str();
  app.add_option("--clips", o->clips, "clips in the synthetic shard")->capture_default_str();
  app.add_option("--repeats", o->repeats, "measurements per setting (median reported)")
      ->capture_default_str();
  app.add_option("--trainer-rate", o->trainer_clips_per_s,
                 "clips/s the trainer consumes (the target is 10x this)")
      ->capture_default_str();
  app.add_flag("!--no-augment", o->augment, "measure without augmentation");
  app.add_flag("--streaming", o->streaming,
               "decode video files directly (--workers then counts decode workers)");
  app.add_option("--videos", o->videos, "streaming: video files or folders (default: synthetic)");
  app.add_option("--synth-videos", o->synth_videos, "streaming: synthetic videos to make")
      ->capture_default_str();
  return [o](dojo::cli::Context&) {
    DOJO_CHECK(o->repeats >= 1 && o->batches >= 1, InvalidArgument,
               "bench loader: repeats and batches must be >= 1");
    if (o->streaming) return run_streaming(*o);
    std::unique_ptr<fs::path> temp;
    std::string source = o->source;
    if (source.empty()) {
      temp = std::make_unique<fs::path>(fs::temp_directory_path() /
                                        fmt::format("dojo-bench-loader-{}", ::getpid()));
      fs::create_directories(*temp);
      source = make_shard(*temp, o->clips);
    }
    std::vector<double> reads;
    for (int r = 0; r < o->repeats; ++r) reads.push_back(reader_rate(*o, source));
    const double read_rate = dojo::median(reads);
    fmt::print("bench loader: source {}, batch {}, augment {}, {} repeats (median)\n", source,
               o->batch, o->augment ? "on" : "off", o->repeats);
    fmt::print("  anchor: HDF5 read + checksum on one thread: {:.0f} clips/s\n", read_rate);
    fmt::print("  {:>7} {:>10} {:>18} {:>14} {:>16}\n", "workers", "clips/s", "clips/s/worker",
               "x trainer", "x reader anchor");
    std::stringstream list(o->workers);
    std::string item;
    while (std::getline(list, item, ',')) {
      const int workers = std::stoi(item);
      std::vector<double> rates;
      for (int r = 0; r < o->repeats; ++r)
        rates.push_back(loader_rate(*o, source, workers, o->augment));
      const double rate = dojo::median(rates);
      fmt::print("  {:>7} {:>10.0f} {:>18.0f} {:>14.1f} {:>16.2f}\n", workers, rate, rate / workers,
                 rate / o->trainer_clips_per_s, rate / read_rate);
    }
    if (temp) fs::remove_all(*temp);
    return 0;
  };
}

DOJO_COMMAND(bench_loader, "bench", "loader", "clips/s the data loader delivers", kLocal, setup);

}  // namespace
