#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <thread>
#include <tuple>

#include "comm/local_communicator.hpp"
#include "core/error.hpp"
#include "data/clip_cutter.hpp"
#include "data/clip_source.hpp"
#include "data/fixtures.hpp"
#include "data/ingest.hpp"
#include "data/inspect.hpp"
#include "data/loader.hpp"
#include "data/shard.hpp"
#include "data/video_reader.hpp"

namespace dojo::data {
namespace {
namespace fs = std::filesystem;
using testing::clip_set;
using testing::TempDir;

IngestReport ingest_one_rank(const IngestOptions& o) {
  auto world = comm::make_local_world(1);
  return testing::ingest_on(o, *world[0]);
}

IngestOptions small_options(const std::vector<std::string>& inputs, const std::string& out) {
  IngestOptions o;
  o.inputs = inputs;
  o.out_dir = out;
  o.shape = testing::small_shape();
  o.threads = 1;
  o.clips_per_shard = 5;
  return o;
}

TEST(Ingest, RoundTripLoaderReturnsExactlyTheDecodedPixels) {
  TempDir dir;
  const auto videos = testing::make_synth(dir.path() / "videos", 2, 2.0);  // 20 frames each
  auto o = small_options({dir.str("videos")}, dir.str("out"));
  const auto report = ingest_one_rank(o);
  EXPECT_EQ(report.inputs_ok, 2);
  EXPECT_EQ(report.inputs_skipped, 0);
  EXPECT_EQ(report.clips_written, 2 * clips_in(20, o.shape, 0));
  EXPECT_EQ(report.shards_written, 2);  // 10 clips, 5 per shard
  for (const auto& entry : fs::directory_iterator(dir.str("out"))) {
    EXPECT_EQ(entry.path().string().find(".partial"), std::string::npos) << entry.path();
  }

  const auto inspected = inspect(dir.str("out"), true);
  EXPECT_TRUE(inspected.ok());
  EXPECT_EQ(inspected.total_clips, 10);

  // Expected pixels straight from the reader, cut by hand.
  std::map<std::pair<std::string, std::int64_t>, std::vector<std::uint8_t>> expected;
  for (const auto& v : videos) {
    VideoReader reader(v, ReaderOptions{64, 48, 3, 0.0, 1});
    ClipCutter cutter(o.shape, 0);
    while (reader.next(cutter.slot())) {
      if (cutter.push()) {
        expected[{fs::canonical(v).string(), cutter.clip_start()}] =
            std::vector<std::uint8_t>(cutter.clip().begin(), cutter.clip().end());
      }
    }
  }
  ASSERT_EQ(expected.size(), 10u);

  LoaderOptions lo;
  lo.source = dir.str("out");
  lo.batch = 5;
  lo.seed = 3;
  lo.workers = 2;
  Loader loader(lo);
  ShardSet shards(dir.str("out"));
  std::set<std::int64_t> ids;
  for (int b = 0; b < 2; ++b) {
    const Batch batch = loader.next();
    ASSERT_EQ(batch.size(), 5);
    for (std::int64_t k = 0; k < batch.size(); ++k) {
      const std::int64_t id = batch.clip_ids[static_cast<std::size_t>(k)];
      ids.insert(id);
      const auto [shard, local] = shards.locate(id);
      const auto& want = expected.at({shard->source(local), shard->start_frame(local)});
      const float* got = batch.pixels.data() + k * o.shape.clip_bytes();
      for (std::size_t i = 0; i < want.size(); ++i) {
        ASSERT_EQ(static_cast<int>(std::lround(got[i] * 255.0f)), want[i]) << "clip " << id;
      }
    }
  }
  EXPECT_EQ(ids.size(), 10u);
}

TEST(Ingest, RerunSkipsInputsAlreadyInTheManifest) {
  TempDir dir;
  testing::make_synth(dir.path() / "videos", 2, 1.0);
  auto o = small_options({dir.str("videos")}, dir.str("out"));
  const auto first = ingest_one_rank(o);
  EXPECT_EQ(first.inputs_ok, 2);
  const auto before = clip_set(dir.str("out"));
  testing::make_synth(dir.path() / "videos", 1, 1.0, 99);  // adds nothing new: same names
  const auto again = ingest_one_rank(o);
  EXPECT_EQ(again.inputs_already_done, 2);
  EXPECT_EQ(again.inputs_ok, 0);
  EXPECT_EQ(clip_set(dir.str("out")), before);
  // A new file is picked up and added beside the old shards.
  fs::create_directories(dir.path() / "more");
  testing::make_synth(dir.path() / "more", 1, 1.0, 7);
  o.inputs.push_back(dir.str("more"));
  const auto third = ingest_one_rank(o);
  EXPECT_EQ(third.inputs_already_done, 2);
  EXPECT_EQ(third.inputs_ok, 1);
  // Three videos and their three labels files ("ignored": read with their videos).
  std::map<std::string, int> status;
  for (const auto& in : read_manifest(dir.str("out")).inputs) ++status[in.status];
  EXPECT_EQ(status["ok"], 3);
  EXPECT_EQ(status["ignored"], 3);
  EXPECT_TRUE(inspect(dir.str("out"), true).ok());
  // Asking for another clip shape in the same folder is refused.
  o.shape.frames = 3;
  EXPECT_THROW(ingest_one_rank(o), InvalidArgument);
}

TEST(Ingest, TwoRanksProduceTheSameClipsAsOne) {
  TempDir dir;
  testing::make_synth(dir.path() / "videos", 3, 1.5, 4);
  const auto one = small_options({dir.str("videos")}, dir.str("one"));
  ingest_one_rank(one);
  const auto two = small_options({dir.str("videos")}, dir.str("two"));
  auto world = comm::make_local_world(2);
  std::vector<IngestReport> reports(2);
  std::vector<std::thread> ranks;
  for (int r = 0; r < 2; ++r) {
    ranks.emplace_back([&, r] {
      reports[static_cast<std::size_t>(r)] =
          testing::ingest_on(two, *world[static_cast<std::size_t>(r)]);
    });
  }
  for (auto& t : ranks) t.join();
  EXPECT_EQ(reports[0].clips_written, reports[1].clips_written);
  const auto a = clip_set(dir.str("one")), b = clip_set(dir.str("two"));
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a, b);
  // Both ranks wrote shards.
  bool rank1_shard = false;
  for (const auto& s : read_manifest(dir.str("two")).shards)
    rank1_shard |= s.path.find("r0001") != std::string::npos;
  EXPECT_TRUE(rank1_shard);
}

}  // namespace
}  // namespace dojo::data
