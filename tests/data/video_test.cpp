#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "core/error.hpp"
#include "data/fixtures.hpp"
#include "data/synth.hpp"
#include "data/synth_scene.hpp"
#include "data/video_reader.hpp"
#include "data/video_writer.hpp"

namespace dojo::data {
namespace {
using testing::TempDir;

std::vector<std::vector<std::uint8_t>> decode_all(const std::string& path, ReaderOptions o) {
  VideoReader reader(path, o);
  std::vector<std::vector<std::uint8_t>> frames;
  std::vector<std::uint8_t> frame(static_cast<std::size_t>(o.width * o.height * o.channels));
  while (reader.next(frame)) frames.push_back(frame);
  EXPECT_EQ(reader.decode_errors(), 0);
  return frames;
}

double mean_abs_diff(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
  double sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += std::abs(int(a[i]) - int(b[i]));
  return sum / static_cast<double>(a.size());
}

TEST(Synth, SameSeedGivesIdenticalFilesAndOtherSeedsDiffer) {
  TempDir a, b, c;
  const auto pa = testing::make_synth(a.path(), 2, 1.0, 5);
  const auto pb = testing::make_synth(b.path(), 2, 1.0, 5);
  const auto pc = testing::make_synth(c.path(), 2, 1.0, 6);
  ASSERT_EQ(pa.size(), 2u);
  EXPECT_EQ(testing::read_file(pa[0]), testing::read_file(pb[0]));
  EXPECT_EQ(testing::read_file(pa[1]), testing::read_file(pb[1]));
  EXPECT_NE(testing::read_file(pa[0]), testing::read_file(pa[1]));
  EXPECT_NE(testing::read_file(pa[0]), testing::read_file(pc[0]));
}

TEST(Synth, ScenesMoveFrameToFrameButStayCoherent) {
  // Temporal structure: consecutive frames differ (the road moves) but much less than
  // frames far apart or frames of another scene.
  DrivingScene scene(128, 96, 10.0, 3), other(128, 96, 10.0, 4);
  const std::size_t bytes = 128 * 96 * 3;
  std::vector<std::vector<std::uint8_t>> frames(40, std::vector<std::uint8_t>(bytes));
  for (auto& f : frames) scene.render_next(f);
  std::vector<std::uint8_t> foreign(bytes);
  other.render_next(foreign);
  double near = 0, far = 0;
  for (int i = 0; i + 1 < 40; ++i) near += mean_abs_diff(frames[i], frames[i + 1]) / 39;
  for (int i = 0; i + 20 < 40; ++i) far += mean_abs_diff(frames[i], frames[i + 20]) / 20;
  EXPECT_GT(near, 0.2);
  EXPECT_GT(far, 1.5 * near);
  EXPECT_GT(mean_abs_diff(frames[0], foreign), near);
}

TEST(VideoReader, DecodesEveryFrameAtTheRequestedSize) {
  TempDir dir;
  const auto paths = testing::make_synth(dir.path(), 1, 3.0);
  ReaderOptions o{32, 24, 3, 0.0, 1};
  VideoReader reader(paths[0], o);
  EXPECT_EQ(reader.info().codec, "h264");
  EXPECT_EQ(reader.info().width, 64);
  EXPECT_EQ(reader.info().height, 48);
  EXPECT_DOUBLE_EQ(reader.output_fps(), 10.0);
  const auto frames = decode_all(paths[0], o);
  EXPECT_EQ(frames.size(), 30u);
  const auto gray = decode_all(paths[0], ReaderOptions{32, 24, 1, 0.0, 1});
  EXPECT_EQ(gray.size(), 30u);
  EXPECT_EQ(gray[0].size(), 32u * 24u);
}

TEST(VideoReader, SamplesByTimestampAtTheTargetRate) {
  TempDir dir;
  const auto paths = testing::make_synth(dir.path(), 1, 3.0);  // 30 frames at 10 fps
  const auto all = decode_all(paths[0], ReaderOptions{32, 24, 3, 0.0, 1});
  const auto half = decode_all(paths[0], ReaderOptions{32, 24, 3, 5.0, 1});
  ASSERT_EQ(half.size(), 15u);
  for (std::size_t i = 0; i < half.size(); ++i) EXPECT_EQ(half[i], all[2 * i]) << i;
  const auto doubled = decode_all(paths[0], ReaderOptions{32, 24, 3, 20.0, 1});
  EXPECT_NEAR(static_cast<double>(doubled.size()), 60.0, 1.0);
}

TEST(VideoReader, CropsToTheOutputAspectInsteadOfStretching) {
  // A 64x48 frame read as 48x48 keeps the centre 48 columns: a vertical stripe at the
  // left edge of the source must not appear.
  TempDir dir;
  WriterOptions w;
  w.width = 64;
  w.height = 48;
  w.fps = 10;
  w.crf = 0;
  const std::string path = dir.str("stripe.mp4");
  {
    VideoWriter writer(path, w);
    std::vector<std::uint8_t> bgr(64 * 48 * 3, 128);
    for (int y = 0; y < 48; ++y) {
      for (int x = 0; x < 6; ++x) {
        for (int c = 0; c < 3; ++c) bgr[static_cast<std::size_t>((y * 64 + x) * 3 + c)] = 250;
      }
    }
    for (int f = 0; f < 5; ++f) writer.write_bgr(bgr);
    writer.finish();
  }
  const auto frames = decode_all(path, ReaderOptions{48, 48, 1, 0.0, 1});
  ASSERT_EQ(frames.size(), 5u);
  for (int y = 0; y < 48; ++y) EXPECT_NEAR(frames[0][static_cast<std::size_t>(y * 48)], 128, 12);
  const auto stretched = decode_all(path, ReaderOptions{64, 48, 1, 0.0, 1});
  EXPECT_GT(stretched[0][0], 200);
}

TEST(VideoReader, HonoursRotationMetadata) {
  // A bright block in the coded frame's top-left corner; stored rotated 90 degrees
  // clockwise, it must come out in the top-right corner of an upright 48x64 frame.
  TempDir dir;
  WriterOptions w;
  w.width = 64;
  w.height = 48;
  w.fps = 10;
  w.crf = 0;
  w.rotation_deg = 90;
  const std::string path = dir.str("rotated.mp4");
  {
    VideoWriter writer(path, w);
    std::vector<std::uint8_t> bgr(64 * 48 * 3, 20);
    for (int y = 0; y < 12; ++y) {
      for (int x = 0; x < 12; ++x) {
        for (int c = 0; c < 3; ++c) bgr[static_cast<std::size_t>((y * 64 + x) * 3 + c)] = 240;
      }
    }
    for (int f = 0; f < 3; ++f) writer.write_bgr(bgr);
    writer.finish();
  }
  VideoReader reader(path, ReaderOptions{48, 64, 1, 0.0, 1});
  EXPECT_EQ(reader.info().rotation_deg, 90);
  std::vector<std::uint8_t> frame(48 * 64);
  ASSERT_TRUE(reader.next(frame));
  auto at = [&](int y, int x) { return frame[static_cast<std::size_t>(y * 48 + x)]; };
  EXPECT_GT(at(4, 44), 200);  // top-right: the block
  EXPECT_LT(at(4, 4), 60);    // top-left: background
  EXPECT_LT(at(60, 44), 60);  // bottom-right: background
}

TEST(VideoReader, VariableFrameRateGivesEvenlySpacedFrames) {
  // Frames at irregular times, each a distinct gray level; sampled at 10 fps every tick
  // must show the frame nearest to it in time.
  TempDir dir;
  const std::vector<double> times = {0.0, 0.04, 0.31, 0.33, 0.58, 0.9, 0.95, 1.22, 1.5};
  WriterOptions w;
  w.width = 32;
  w.height = 32;
  w.fps = 25;
  w.crf = 0;
  const std::string path = dir.str("vfr.mp4");
  {
    VideoWriter writer(path, w);
    for (std::size_t k = 0; k < times.size(); ++k) {
      std::vector<std::uint8_t> bgr(32 * 32 * 3, static_cast<std::uint8_t>(20 + 25 * k));
      writer.write_bgr_at(bgr, times[k]);
    }
    writer.finish();
  }
  const auto frames = decode_all(path, ReaderOptions{32, 32, 1, 10.0, 1});
  ASSERT_GE(frames.size(), 15u);
  for (std::size_t n = 0; n <= 15; ++n) {
    const double tick = static_cast<double>(n) / 10.0;
    std::size_t nearest = 0;
    for (std::size_t k = 1; k < times.size(); ++k) {
      if (std::abs(times[k] - tick) < std::abs(times[nearest] - tick)) nearest = k;
    }
    EXPECT_NEAR(frames[n][100], 20 + 25 * static_cast<int>(nearest), 4) << "tick " << tick;
  }
}

TEST(VideoReader, ReadsOtherCodecsAndContainers) {
  // Every encoder here ships with Debian 12's FFmpeg (scripts/setup-deps.sh).
  TempDir dir;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"mpeg4", "a.avi"},   {"mjpeg", "b.mkv"},   {"libvpx-vp9", "c.webm"}, {"libx264", "d.mkv"},
      {"libvpx", "e.webm"}, {"libx265", "f.mp4"}, {"libaom-av1", "g.mkv"}};
  DrivingScene scene(64, 48, 10, 1);
  std::vector<std::uint8_t> bgr(64 * 48 * 3);
  for (const auto& [encoder, name] : cases) {
    WriterOptions w;
    w.width = 64;
    w.height = 48;
    w.fps = 10;
    w.encoder = encoder;
    const std::string path = dir.str(name);
    VideoWriter writer(path, w);
    for (int f = 0; f < 12; ++f) {
      scene.render_next(bgr);
      writer.write_bgr(bgr);
    }
    writer.finish();
    EXPECT_EQ(decode_all(path, ReaderOptions{32, 24, 3, 0.0, 0}).size(), 12u) << encoder;
  }
}

TEST(VideoReader, BadFilesGiveSpecificReasons) {
  TempDir dir;
  testing::write_bytes(dir.str("empty.mp4"), 0);
  testing::write_bytes(dir.str("text.mp4"), 5000, "this is not a video\n");
  testing::write_audio_only(dir.str("audio.mp4"), 1.0);
  auto reason = [&](const std::string& name) {
    try {
      VideoReader reader(dir.str(name), ReaderOptions{});
      return std::string("opened");
    } catch (const FormatError& e) {
      return std::string(e.what());
    }
  };
  EXPECT_NE(reason("empty.mp4").find("cannot open"), std::string::npos) << reason("empty.mp4");
  EXPECT_NE(reason("text.mp4").find("cannot open"), std::string::npos) << reason("text.mp4");
  EXPECT_NE(reason("audio.mp4").find("no video stream"), std::string::npos) << reason("audio.mp4");
  EXPECT_THROW(VideoReader(dir.str("missing.mp4"), ReaderOptions{}), FormatError);
}

}  // namespace
}  // namespace dojo::data
