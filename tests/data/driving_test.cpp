#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "comm/local_communicator.hpp"
#include "data/clip_cutter.hpp"
#include "data/fixtures.hpp"
#include "data/ingest.hpp"
#include "data/video_reader.hpp"

namespace dojo::data {
namespace {
namespace fs = std::filesystem;

// Decoded frame counts from ../shared/data/driving/SOURCES.md (ffprobe -count_frames).
const std::map<std::string, std::int64_t> kFrames = {
    {"udacity_solid_white_right_960x540.mp4", 221},
    {"udacity_vehicle_detection_test_1280x720.mp4", 38},
    {"autobahn_highway_960x540.mp4", 390},
    {"dashcam_highway_dusk_640x360.mp4", 414}};

TEST(DrivingClips, DecodeToTheFrameCountsInSources) {
  const std::string dir = testing::driving_dir();
  if (dir.empty()) GTEST_SKIP() << "no shared driving clips ($DOJO_SHARED_DATA/driving missing)";
  for (const auto& [name, frames] : kFrames) {
    VideoReader reader((fs::path(dir) / name).string(), ReaderOptions{32, 32, 3, 0.0, 2});
    std::vector<std::uint8_t> frame(32 * 32 * 3);
    std::int64_t n = 0;
    while (reader.next(frame)) ++n;
    EXPECT_EQ(n, frames) << name;
    EXPECT_EQ(reader.frames_decoded(), frames) << name;
    EXPECT_EQ(reader.decode_errors(), 0) << name;
  }
}

TEST(DrivingClips, IngestGivesTheClipCountsTheFrameCountsImply) {
  const std::string dir = testing::driving_dir();
  if (dir.empty()) GTEST_SKIP() << "no shared driving clips ($DOJO_SHARED_DATA/driving missing)";
  testing::TempDir out;
  IngestOptions o;
  o.inputs = {dir};
  o.out_dir = out.str("shards");
  o.shape = ClipShape{16, 32, 32, 3, 1};
  o.threads = 2;
  auto world = comm::make_local_world(1);
  const auto report = testing::ingest_on(o, *world[0]);
  EXPECT_EQ(report.inputs_ok, 4);
  std::int64_t expected_total = 0;
  for (const auto& in : read_manifest(o.out_dir).inputs) {
    const auto name = fs::path(in.path).filename().string();
    if (in.status == "ignored") continue;  // SOURCES.md and the like: listed, not decoded
    ASSERT_EQ(kFrames.count(name), 1u) << name;
    EXPECT_EQ(in.frames_decoded, kFrames.at(name)) << name;
    EXPECT_EQ(in.clips, clips_in(kFrames.at(name), o.shape, 0)) << name;  // 13, 2, 24, 25
    expected_total += in.clips;
  }
  EXPECT_EQ(expected_total, 64);
  EXPECT_EQ(report.clips_written, 64);
}

}  // namespace
}  // namespace dojo::data
