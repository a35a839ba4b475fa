#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "comm/local_communicator.hpp"
#include "core/error.hpp"
#include "data/fixtures.hpp"
#include "data/ingest.hpp"
#include "data/loader.hpp"
#include "data/shard.hpp"

namespace dojo::data {
namespace {
namespace fs = std::filesystem;
using testing::TempDir;

// One ingest folder shared by the loader tests: 3 videos x 5 clips = 15 clips.
class LoaderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    testing::make_synth(dir_->path() / "videos", 3, 2.0, 21);
    IngestOptions o;
    o.inputs = {dir_->str("videos")};
    o.out_dir = dir_->str("out");
    o.shape = testing::small_shape();
    o.threads = 1;
    o.clips_per_shard = 4;
    auto world = comm::make_local_world(1);
    testing::ingest_on(o, *world[0]);
  }
  static void TearDownTestSuite() { delete dir_; }

  static LoaderOptions options() {
    LoaderOptions lo;
    lo.source = dir_->str("out");
    lo.batch = 2;
    lo.seed = 5;
    lo.workers = 2;
    lo.prefetch = 3;
    return lo;
  }
  static std::vector<std::int64_t> ids(Loader& loader, int batches) {
    std::vector<std::int64_t> out;
    for (int b = 0; b < batches; ++b) {
      const Batch batch = loader.next();
      out.insert(out.end(), batch.clip_ids.begin(), batch.clip_ids.end());
    }
    return out;
  }
  static TempDir* dir_;
};
TempDir* LoaderTest::dir_ = nullptr;

TEST_F(LoaderTest, EpochsVisitEveryClipInDifferentOrders) {
  auto lo = options();
  lo.batch = 5;
  Loader loader(lo);
  EXPECT_EQ(loader.total_clips(), 15);
  EXPECT_EQ(loader.clips_per_epoch(), 15);
  EXPECT_EQ(loader.batches_per_epoch(), 3);
  const auto e0 = ids(loader, 3);
  EXPECT_EQ(loader.cursor(), (Loader::Cursor{1, 0}));
  const auto e1 = ids(loader, 3);
  EXPECT_NE(e0, e1);
  EXPECT_EQ(std::set<std::int64_t>(e0.begin(), e0.end()).size(), 15u);
  EXPECT_EQ(std::set<std::int64_t>(e1.begin(), e1.end()).size(), 15u);
}

TEST_F(LoaderTest, SavedCursorResumesTheSameSequence) {
  auto lo = options();
  lo.augment = true;
  Loader straight(lo);
  std::vector<Batch> reference;
  for (int b = 0; b < 12; ++b) reference.push_back(straight.next());  // crosses 3 epochs

  Loader first(lo);
  for (int b = 0; b < 5; ++b) first.next();
  const Loader::Cursor saved = first.cursor();
  EXPECT_EQ(saved, (Loader::Cursor{0, 10}));  // 7 batches of 2 per epoch with drop_last
  lo.workers = 1;                             // a different thread count must not change the data
  lo.prefetch = 1;
  Loader resumed(lo);
  resumed.restore(saved);
  for (int b = 5; b < 12; ++b) {
    const Batch batch = resumed.next();
    EXPECT_EQ(batch.clip_ids, reference[static_cast<std::size_t>(b)].clip_ids) << b;
    EXPECT_EQ(batch.pixels, reference[static_cast<std::size_t>(b)].pixels) << b;
  }
  // Restoring backwards inside a running loader works too.
  resumed.restore({0, 4});
  EXPECT_EQ(resumed.next().clip_ids, reference[2].clip_ids);
  EXPECT_THROW(resumed.restore({0, 3}), InvalidArgument);  // not a batch boundary
}

TEST_F(LoaderTest, RanksSlicesAreDisjointAndCoverTheIndex) {
  std::multiset<std::int64_t> all;
  for (int r = 0; r < 3; ++r) {
    auto lo = options();
    lo.batch = 1;
    lo.rank = r;
    lo.world_size = 3;
    Loader loader(lo);
    EXPECT_EQ(loader.clips_per_epoch(), 5);
    for (auto id : ids(loader, 5)) all.insert(id);
  }
  EXPECT_EQ(all.size(), 15u);
  EXPECT_EQ(std::set<std::int64_t>(all.begin(), all.end()).size(), 15u);
}

TEST_F(LoaderTest, UnevenCountsArePaddedByWrappingSoRanksStayEqual) {
  for (int world : {2, 4}) {
    std::set<std::int64_t> distinct;
    for (int r = 0; r < world; ++r) {
      auto lo = options();
      lo.batch = 1;
      lo.rank = r;
      lo.world_size = world;
      Loader loader(lo);
      EXPECT_EQ(loader.clips_per_epoch(), (15 + world - 1) / world);
      for (auto id : ids(loader, static_cast<int>(loader.clips_per_epoch()))) distinct.insert(id);
    }
    EXPECT_EQ(distinct.size(), 15u);
  }
}

TEST_F(LoaderTest, ShortLastBatchIsKeptWithoutDropLast) {
  auto lo = options();
  lo.batch = 4;
  lo.drop_last = false;
  Loader loader(lo);
  EXPECT_EQ(loader.batches_per_epoch(), 4);
  for (int b = 0; b < 3; ++b) EXPECT_EQ(loader.next().size(), 4);
  EXPECT_EQ(loader.next().size(), 3);
  EXPECT_EQ(loader.cursor(), (Loader::Cursor{1, 0}));
}

TEST_F(LoaderTest, HdfWritesOnAnotherThreadWhileTheReaderRunsAreSafe) {
  // The trainer writes HDF5 checkpoints while the loader's reader thread reads shards;
  // both go through h5::mutex(). Interleave many writes with reads.
  auto lo = options();
  lo.batch = 1;
  lo.prefetch = 8;
  Loader loader(lo);
  TempDir out;
  const ClipShape shape{1, 2, 2, 1, 1};
  const std::vector<std::uint8_t> clip(4, 9);
  for (int i = 0; i < 30; ++i) {
    ShardWriter writer(out.str(fmt::format("w{}.h5", i)), shape);
    writer.append(clip, writer.add_source("x"), 0, 1.0);
    writer.commit();
    EXPECT_EQ(loader.next().size(), 1);
  }
  EXPECT_EQ(ShardReader(out.str("w29.h5")).read_clip(0), clip);
}

TEST_F(LoaderTest, ShapeMismatchAndOversizedBatchAreRejected) {
  auto lo = options();
  lo.shape = ClipShape{8, 48, 64, 3, 1};
  EXPECT_THROW(Loader{lo}, InvalidArgument);
  lo = options();
  lo.batch = 16;
  EXPECT_THROW(Loader{lo}, InvalidArgument);
}

TEST(LoaderCorruption, AFlippedByteIsReportedWithShardAndClip) {
  TempDir dir;
  testing::make_synth(dir.path() / "videos", 1, 2.0, 8);
  IngestOptions o;
  o.inputs = {dir.str("videos")};
  o.out_dir = dir.str("out");
  o.shape = testing::small_shape();
  o.threads = 1;
  auto world = comm::make_local_world(1);
  testing::ingest_on(o, *world[0]);
  const std::string listed =
      (fs::path(o.out_dir) / read_manifest(o.out_dir).shards[0].path).string();
  {
    ShardReader reader(listed);
    testing::flip_byte(listed, reader.clip_file_offset(3) + 100);
  }
  LoaderOptions lo;
  lo.source = o.out_dir;
  lo.batch = 5;
  lo.shuffle = false;
  // From its folder, the manifest's digest stops the damaged shard before it is opened.
  try {
    Loader from_folder(lo);
    FAIL() << "a damaged shard was opened";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(listed), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("damaged"), std::string::npos) << e.what();
  }
  // A shard without a manifest: each clip's checksum finds the damage when it is read.
  const std::string shard = dir.str("lone.h5");
  fs::copy_file(listed, shard);
  lo.source = shard;
  Loader loader(lo);
  try {
    loader.next();
    FAIL() << "corrupt clip delivered";
  } catch (const FormatError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(shard), std::string::npos) << what;
    EXPECT_NE(what.find("clip 3"), std::string::npos) << what;
  }
  EXPECT_THROW(loader.next(), FormatError);  // stays failed until restore()
  EXPECT_THROW(loader.read_clip(3), FormatError);
  EXPECT_NO_THROW(loader.read_clip(2));
}

TEST(StreamingLoader, GivesTheSameClipsAsShards) {
  TempDir dir;
  testing::make_synth(dir.path() / "videos", 2, 2.0, 12);
  IngestOptions o;
  o.inputs = {dir.str("videos")};
  o.out_dir = dir.str("out");
  o.shape = testing::small_shape();
  o.threads = 1;
  auto world = comm::make_local_world(1);
  testing::ingest_on(o, *world[0]);
  LoaderOptions sharded;
  sharded.source = o.out_dir;
  sharded.batch = 2;
  sharded.shuffle = false;
  LoaderOptions streamed = sharded;
  streamed.streaming = true;
  streamed.videos = {dir.str("videos")};
  streamed.shape = o.shape;
  Loader a(sharded), b(streamed);
  EXPECT_EQ(a.total_clips(), b.total_clips());
  for (int i = 0; i < 5; ++i) {
    const Batch x = a.next(), y = b.next();
    EXPECT_EQ(x.clip_ids, y.clip_ids);
    EXPECT_EQ(x.pixels, y.pixels);
  }
}

}  // namespace
}  // namespace dojo::data
