// Ground truth from synth survives synth -> ingest -> shards -> loader, equal to the
// per-clip aggregate of the labels file synth wrote.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "comm/local_communicator.hpp"
#include "core/error.hpp"
#include "data/clip_source.hpp"
#include "data/fixtures.hpp"
#include "data/ingest.hpp"
#include "data/inspect.hpp"
#include "data/labels.hpp"
#include "data/loader.hpp"
#include "data/manifest.hpp"
#include "data/synth.hpp"

namespace dojo::data {
namespace {
namespace fs = std::filesystem;
using testing::TempDir;

const std::vector<std::string> kSynthNames = {"curvature", "ego_speed", "lane_change",
                                              "cars_in_view", "light"};

// The clip's expected labels, computed here from the file's rows: mean per column, and for
// lane_change 1 when more than half of the clip's frames have it.
std::vector<double> expected_labels(const FrameLabels& file,
                                    const std::vector<std::int64_t>& rows) {
  std::vector<double> out;
  for (std::int64_t c = 0; c < file.width(); ++c) {
    double sum = 0;
    for (auto r : rows) sum += file.values[static_cast<std::size_t>(r * file.width() + c)];
    const double mean = sum / static_cast<double>(rows.size());
    out.push_back(file.columns[static_cast<std::size_t>(c)].name == "lane_change"
                      ? (mean > 0.5 ? 1.0 : 0.0)
                      : mean);
  }
  return out;
}

IngestOptions options(const std::vector<std::string>& inputs, const std::string& out) {
  IngestOptions o;
  o.inputs = inputs;
  o.out_dir = out;
  o.shape = ClipShape{4, 48, 64, 3, 2};  // frames 2 apart: a clip spans 7 sampled frames
  o.threads = 1;
  o.clips_per_shard = 3;  // several shards
  return o;
}

TEST(Labels, SynthWritesOneRowPerFrameWithTheFiveColumns) {
  TempDir dir;
  const auto videos = testing::make_synth(dir.path(), 1, 2.0, 7);
  const FrameLabels labels = read_labels(labels_path_for(videos[0]));
  EXPECT_EQ(labels.names(), kSynthNames);
  EXPECT_EQ(labels.frames(), 20);  // 2 s at 10 fps
  EXPECT_EQ(labels.fps, 10.0);
  for (std::int64_t f = 0; f < labels.frames(); ++f) {
    const auto* row = &labels.values[static_cast<std::size_t>(f * 5)];
    EXPECT_GT(row[1], 10.0) << "ego speed, frame " << f;
    EXPECT_TRUE(row[2] == 0.0 || row[2] == 1.0);
    EXPECT_GE(row[3], 0.0);
    EXPECT_GE(row[4], 0.4);
    EXPECT_LE(row[4], 1.0);
  }
}

TEST(Labels, SurviveSynthIngestShardsLoaderAsPerClipAggregates) {
  TempDir dir;
  const auto videos = testing::make_synth(dir.path() / "videos", 3, 2.5, 11);
  // The third video has no labels file: its clips get NaN, and the manifest says so.
  fs::remove(labels_path_for(videos[2]));
  auto world = comm::make_local_world(1);
  const auto report = testing::ingest_on(options({dir.str("videos")}, dir.str("out")), *world[0]);
  ASSERT_EQ(report.inputs_ok, 3);

  for (const auto& in : read_manifest(dir.str("out")).inputs) {
    if (in.status != "ok") continue;
    EXPECT_EQ(in.labels.empty(), in.path == videos[2]) << in.path;
  }
  const ShardSet shards(dir.str("out"));
  LoaderOptions lo;
  lo.source = dir.str("out");
  lo.batch = 2;
  lo.shuffle = false;
  lo.drop_last = false;
  lo.workers = 1;
  Loader loader(lo);
  ASSERT_EQ(loader.label_names(), kSynthNames);
  const ClipLabels all = read_clip_labels(dir.str("out"));
  ASSERT_EQ(all.names, kSynthNames);
  ASSERT_EQ(all.clips, shards.size());

  std::int64_t labelled = 0, unlabelled = 0;
  for (std::int64_t b = 0; b < loader.batches_per_epoch(); ++b) {
    const Batch batch = loader.next();
    for (const std::int64_t id : batch.clip_ids) {
      const auto [shard, local] = shards.locate(id);
      const std::string& source = shard->source(local);
      const std::vector<float> got = loader.labels(id);
      ASSERT_EQ(got.size(), 5u);
      for (std::size_t c = 0; c < 5; ++c) {
        const float from_all = all.values[static_cast<std::size_t>(id) * 5 + c];
        EXPECT_TRUE(got[c] == from_all || (std::isnan(got[c]) && std::isnan(from_all)));
      }
      if (source == videos[2]) {
        for (float v : got) EXPECT_TRUE(std::isnan(v)) << "clip " << id;
        ++unlabelled;
        continue;
      }
      const FrameLabels file = read_labels(labels_path_for(source));
      std::vector<std::int64_t> rows;  // fps 0: sampled frame n is decoded frame n
      for (std::int64_t t = 0; t < 4; ++t) rows.push_back(shard->start_frame(local) + 2 * t);
      const auto want = expected_labels(file, rows);
      for (std::size_t c = 0; c < 5; ++c) {
        EXPECT_NEAR(got[c], want[c], 1e-5 * std::max(1.0, std::abs(want[c])))
            << kSynthNames[c] << " of clip " << id << " (" << source << ")";
      }
      ++labelled;
    }
  }
  EXPECT_GT(labelled, 0);
  EXPECT_GT(unlabelled, 0);
  EXPECT_TRUE(inspect(dir.str("out"), true).ok());
}

TEST(Labels, SampledAtAnotherRateTheRowsFollowTheDecodedFrames) {
  // At --fps 5 from a 10 fps video, sampled frame n is decoded frame 2n.
  TempDir dir;
  testing::make_synth(dir.path() / "videos", 1, 3.0, 5);
  auto o = options({dir.str("videos")}, dir.str("out"));
  o.shape.frame_step = 1;
  o.fps = 5.0;
  auto world = comm::make_local_world(1);
  testing::ingest_on(o, *world[0]);
  const ShardSet shards(dir.str("out"));
  ASSERT_GT(shards.size(), 0);
  for (std::int64_t id = 0; id < shards.size(); ++id) {
    const auto [shard, local] = shards.locate(id);
    const FrameLabels file = read_labels(labels_path_for(shard->source(local)));
    std::vector<std::int64_t> rows;
    for (std::int64_t t = 0; t < 4; ++t) rows.push_back(2 * (shard->start_frame(local) + t));
    const auto want = expected_labels(file, rows);
    const auto got = shards.labels(id);
    for (std::size_t c = 0; c < 5; ++c)
      EXPECT_NEAR(got[c], want[c], 1e-5 * std::max(1.0, std::abs(want[c]))) << kSynthNames[c];
  }
}

TEST(Labels, ADamagedLabelsFileIsNotedAndItsVideoStillIngests) {
  TempDir dir;
  const auto videos = testing::make_synth(dir.path() / "videos", 1, 1.5, 3);
  testing::write_bytes(labels_path_for(videos[0]), 50, "{not json");
  auto world = comm::make_local_world(1);
  const auto report = testing::ingest_on(options({dir.str("videos")}, dir.str("out")), *world[0]);
  EXPECT_EQ(report.inputs_ok, 1);
  const auto inputs = read_manifest(dir.str("out")).inputs;
  bool seen = false;
  for (const auto& in : inputs) {
    if (in.path != videos[0]) continue;
    seen = true;
    EXPECT_TRUE(in.labels.empty());
    EXPECT_NE(in.reason.find("labels not used"), std::string::npos) << in.reason;
  }
  EXPECT_TRUE(seen);
  EXPECT_TRUE(ShardSet(dir.str("out")).label_names().empty());
}

TEST(Labels, ClipAggregateTakesTheMajorityForYesNoColumns) {
  FrameLabels file;
  file.columns = {{"speed", "m/s", "mean"}, {"turning", "0/1", "majority"}};
  file.values = {1, 0, 2, 1, 3, 1, 4, 0};
  const std::vector<std::int64_t> rows{0, 1, 2};
  const auto got = aggregate_clip(file, rows, "test");
  EXPECT_FLOAT_EQ(got[0], 2.0f);
  EXPECT_FLOAT_EQ(got[1], 1.0f);
  const std::vector<std::int64_t> half{0, 1};
  EXPECT_FLOAT_EQ(aggregate_clip(file, half, "test")[1], 0.0f);  // not more than half
  const std::vector<std::int64_t> past{3, 4};
  EXPECT_THROW(aggregate_clip(file, past, "test"), FormatError);
}

}  // namespace
}  // namespace dojo::data
