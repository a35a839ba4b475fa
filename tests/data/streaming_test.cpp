// The streaming loader: an index built without decoding that agrees with decoding, clips
// equal to the ones ingest writes (in any read order, on any number of decode workers),
// and a cursor that resumes exactly.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <utility>

#include "comm/local_communicator.hpp"
#include "data/clip_cutter.hpp"
#include "data/clip_source.hpp"
#include "data/fixtures.hpp"
#include "data/ingest.hpp"
#include "data/loader.hpp"
#include "data/streaming_source.hpp"
#include "data/video_index.hpp"

namespace dojo::data {
namespace {
namespace fs = std::filesystem;
using testing::TempDir;

TEST(Streaming, IndexWithoutDecodingCountsWhatDecodingGives) {
  TempDir dir;
  const auto videos = testing::make_synth(dir.path(), 2, 2.3, 21);
  std::vector<double> leap;
  for (int i = 0; i < 6; ++i) leap.push_back(0.1 * i);
  for (int i = 0; i < 6; ++i) leap.push_back(1e6 + 0.1 * i);
  testing::write_timed_video(dir.str("leap.mkv"), leap);
  for (const std::string& path : {videos[0], videos[1], dir.str("leap.mkv")}) {
    for (const double fps : {0.0, 5.0, 15.0}) {
      ReaderOptions ro;
      ro.width = 64;
      ro.height = 48;
      ro.fps = fps;
      VideoReader reader(path, ro);
      std::vector<std::uint8_t> frame(64 * 48 * 3);
      std::int64_t decoded = 0;
      while (reader.next(frame)) ++decoded;
      const VideoIndex index = index_video(path, fps);
      EXPECT_EQ(index.sampled_frames, decoded) << path << " at fps " << fps;
      EXPECT_EQ(index.packets, reader.frames_decoded()) << path;
    }
  }
}

// Clip bytes by (source, start frame), as ingest wrote them.
std::map<std::pair<std::string, std::int64_t>, std::vector<std::uint8_t>> shard_clips(
    const std::string& folder) {
  std::map<std::pair<std::string, std::int64_t>, std::vector<std::uint8_t>> out;
  ShardSet set(folder);
  for (std::int64_t i = 0; i < set.size(); ++i) {
    const auto [shard, local] = set.locate(i);
    out[{shard->source(local), shard->start_frame(local)}] = shard->read_clip(local);
  }
  return out;
}

class StreamingClips : public ::testing::Test {
 protected:
  void SetUp() override {
    videos_ = testing::make_synth(dir_.path() / "videos", 3, 4.0, 33);  // 40 frames each
    IngestOptions o;
    o.inputs = {dir_.str("videos")};
    o.out_dir = dir_.str("shards");
    o.shape = shape_;
    o.clip_stride = 3;  // overlapping clips: many per file, so seeks go back and forth
    o.threads = 1;
    auto world = comm::make_local_world(1);
    testing::ingest_on(o, *world[0]);
    expected_ = shard_clips(o.out_dir);
  }
  TempDir dir_;
  ClipShape shape_ = testing::small_shape();
  std::vector<std::string> videos_;
  std::map<std::pair<std::string, std::int64_t>, std::vector<std::uint8_t>> expected_;
};

TEST_F(StreamingClips, EqualTheIngestedClipsInShuffledOrderOnTwoWorkers) {
  StreamingSource source({dir_.str("videos")}, shape_, 3, 0.0, 2);
  ASSERT_EQ(source.size(), std::ssize(expected_));
  // A fixed shuffle: forward, backward and far jumps within and across files.
  std::vector<std::int64_t> order;
  for (std::int64_t i = 0; i < source.size(); ++i) order.push_back((i * 7) % source.size());
  ASSERT_EQ(std::set<std::int64_t>(order.begin(), order.end()).size(), order.size());
  const auto clip_bytes = static_cast<std::size_t>(shape_.clip_bytes());
  for (std::size_t k = 0; k < order.size(); k += 5) {
    const std::vector<std::int64_t> ids(order.begin() + k,
                                        order.begin() + std::min(order.size(), k + 5));
    std::vector<std::uint8_t> out(ids.size() * clip_bytes);
    source.read_many(ids, out);
    for (std::size_t b = 0; b < ids.size(); ++b) {
      const std::string what = source.describe(ids[b]);
      const auto file = what.substr(6, what.rfind(" clip ") - 6);
      const auto local = std::stoll(what.substr(what.rfind(' ') + 1));
      const auto it = expected_.find({file, local * 3});
      ASSERT_NE(it, expected_.end()) << what;
      EXPECT_TRUE(std::equal(it->second.begin(), it->second.end(), out.begin() + b * clip_bytes))
          << what << " differs from the ingested clip";
    }
  }
}

TEST_F(StreamingClips, TheLoaderResumesExactlyFromACursor) {
  LoaderOptions lo;
  lo.streaming = true;
  lo.videos = {dir_.str("videos")};
  lo.shape = shape_;
  lo.clip_stride = 3;
  lo.batch = 4;
  lo.seed = 5;
  lo.augment = true;
  lo.workers = 2;
  lo.decode_workers = 2;
  std::vector<std::vector<float>> straight;
  Loader::Cursor at_three;
  {
    Loader loader(lo);
    for (int b = 0; b < 6; ++b) {
      if (b == 3) at_three = loader.cursor();
      straight.push_back(loader.next().pixels);
    }
  }
  Loader resumed(lo);
  resumed.restore(at_three);
  for (int b = 3; b < 6; ++b)
    EXPECT_EQ(resumed.next().pixels, straight[static_cast<std::size_t>(b)]) << "batch " << b;
  // And within one loader, going back gives the same batches again.
  resumed.restore(at_three);
  EXPECT_EQ(resumed.next().pixels, straight[3]);
}

}  // namespace
}  // namespace dojo::data
