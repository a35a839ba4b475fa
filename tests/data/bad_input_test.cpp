#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "comm/local_communicator.hpp"
#include "core/error.hpp"
#include "data/fixtures.hpp"
#include "data/ingest.hpp"
#include "data/inspect.hpp"
#include "data/synth_scene.hpp"
#include "data/video_writer.hpp"

namespace dojo::data {
namespace {
namespace fs = std::filesystem;
using testing::TempDir;

// Builds the broken-input corpus from one good synthetic clip; returns expected reason
// fragments per file name.
std::map<std::string, std::string> make_corpus(const TempDir& dir, const std::string& good) {
  const fs::path bad = dir.path() / "bad";
  fs::create_directories(bad);
  const auto size = fs::file_size(good);
  testing::write_bytes((bad / "empty.mp4").string(), 0);
  testing::write_bytes((bad / "text.mp4").string(), 4000, "hello, not a video\n");
  testing::write_bytes((bad / "random.mp4").string(), 30000);
  testing::truncate_copy(good, (bad / "head_only.mp4").string(), 600);
  testing::truncate_copy(good, (bad / "no_moov.mp4").string(), size * 2 / 3);
  testing::write_audio_only((bad / "audio_only.mp4").string(), 1.0);
  testing::make_synth(bad / "short", 1, 0.2);  // 2 frames, a clip needs 4
  WriterOptions tiny;
  tiny.width = 8;
  tiny.height = 8;
  tiny.fps = 10;
  tiny.encoder = "mpeg4";
  {
    VideoWriter writer((bad / "tiny.avi").string(), tiny);
    std::vector<std::uint8_t> bgr(8 * 8 * 3, 90);
    for (int f = 0; f < 10; ++f) writer.write_bgr(bgr);
    writer.finish();
  }
  testing::write_bytes((bad / "notes.txt").string(), 100, "ignored: not a video extension\n");
  return {{"empty.mp4", "cannot open"},
          {"text.mp4", "cannot open"},
          {"random.mp4", "cannot open"},
          {"head_only.mp4", "cannot open"},
          {"no_moov.mp4", "cannot open"},
          {"audio_only.mp4", "no video stream"},
          {"synth_0000.mp4", "shorter than one clip"},
          {"tiny.avi", "resolution 8x8"}};
}

TEST(BadInput, IndexFirstMp4CutInItsMediaDataKeepsTheClipsBeforeTheCut) {
  // With the index (moov) at the front, a file cut short still opens: the clips before the
  // cut are kept, the ones after it are not invented. Cut inside the index, it cannot open.
  TempDir dir;
  WriterOptions w;
  w.width = 64;
  w.height = 48;
  w.fps = 10;
  w.faststart = true;
  const std::string whole = dir.str("whole.mp4");
  {
    VideoWriter writer(whole, w);
    DrivingScene scene(64, 48, 10, 3);
    std::vector<std::uint8_t> bgr(64 * 48 * 3);
    for (int f = 0; f < 40; ++f) {
      scene.render_next(bgr);
      writer.write_bgr(bgr);
    }
    writer.finish();
  }
  fs::create_directories(dir.path() / "cut");
  testing::truncate_copy(whole, dir.str("cut/half.mp4"), fs::file_size(whole) / 2);
  testing::truncate_copy(whole, dir.str("cut/in_index.mp4"), 200);
  IngestOptions o;
  o.inputs = {whole, dir.str("cut")};
  o.out_dir = dir.str("out");
  o.shape = testing::small_shape();
  o.threads = 1;
  auto world = comm::make_local_world(1);
  testing::ingest_on(o, *world[0]);
  std::map<std::string, ManifestInput> by_name;
  for (const auto& in : read_manifest(o.out_dir).inputs) by_name[fs::path(in.path).filename()] = in;
  EXPECT_EQ(by_name.at("whole.mp4").clips, 10);
  const auto& half = by_name.at("half.mp4");
  EXPECT_EQ(half.status, "ok") << half.reason;
  EXPECT_GT(half.clips, 0);
  EXPECT_LT(half.clips, 10);
  EXPECT_EQ(by_name.at("in_index.mp4").status, "skipped");
  EXPECT_TRUE(inspect(o.out_dir, true).ok());
}

TEST(BadInput, EveryBrokenFileIsSkippedWithItsReasonAndGoodFilesStillIngest) {
  TempDir dir;
  const auto good = testing::make_synth(dir.path() / "good", 2, 2.0);
  const auto expected = make_corpus(dir, good[0]);
  // A file with corrupted packets: random bytes over part of the media data.
  const std::string damaged = dir.str("good/damaged.mp4");
  fs::copy_file(good[1], damaged);
  for (std::int64_t off = 2000; off < 2600; off += 7) testing::flip_byte(damaged, off);

  IngestOptions o;
  o.inputs = {dir.str("good"), dir.str("bad")};
  o.out_dir = dir.str("out");
  o.shape = testing::small_shape();
  o.threads = 1;
  auto world = comm::make_local_world(1);
  const IngestReport report = testing::ingest_on(o, *world[0]);

  const Manifest m = read_manifest(o.out_dir);
  std::map<std::string, ManifestInput> by_name;
  for (const auto& in : m.inputs) by_name[fs::path(in.path).filename().string()] = in;
  // A file of another extension is listed, not decoded.
  ASSERT_EQ(by_name.count("notes.txt"), 1u);
  EXPECT_EQ(by_name.at("notes.txt").status, "ignored");
  EXPECT_NE(by_name.at("notes.txt").reason.find("'.txt'"), std::string::npos);
  // The short clip is also named synth_0000.mp4: tell the good ones by their folder.
  for (const auto& in : m.inputs) {
    if (in.path.find("/good/synth_") != std::string::npos && in.path.ends_with(".mp4")) {
      EXPECT_EQ(in.status, "ok") << in.path << ": " << in.reason;
      EXPECT_EQ(in.clips, 5);
    }
  }
  const auto& hurt = by_name.at("damaged.mp4");
  EXPECT_EQ(hurt.status, "ok") << hurt.reason;
  EXPECT_GT(hurt.clips, 0);
  EXPECT_GT(hurt.decode_errors, 0);
  for (const auto& [name, fragment] : expected) {
    const ManifestInput* in = nullptr;
    for (const auto& candidate : m.inputs) {
      if (candidate.path.find("/bad/") != std::string::npos &&
          fs::path(candidate.path).filename() == name) {
        in = &candidate;
      }
    }
    ASSERT_NE(in, nullptr) << name;
    EXPECT_EQ(in->status, "skipped") << name;
    EXPECT_NE(in->reason.find(fragment), std::string::npos) << name << ": " << in->reason;
    EXPECT_EQ(in->clips, 0) << name;
  }
  EXPECT_EQ(report.inputs_skipped, std::ssize(expected));
  for (const auto& entry : fs::recursive_directory_iterator(o.out_dir)) {
    EXPECT_EQ(entry.path().string().find(".partial"), std::string::npos) << entry.path();
  }
  EXPECT_TRUE(inspect(o.out_dir, true).ok());

  // --strict turns the skips into an error (after writing the manifest).
  o.out_dir = dir.str("strict");
  o.strict = true;
  EXPECT_THROW(testing::ingest_on(o, *world[0]), FormatError);
  EXPECT_TRUE(manifest_exists(o.out_dir));
}

}  // namespace
}  // namespace dojo::data
