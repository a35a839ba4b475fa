#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/error.hpp"
#include "data/fixtures.hpp"
#include "data/shard.hpp"

namespace dojo::data {
namespace {
namespace fs = std::filesystem;
using testing::TempDir;

std::vector<std::uint8_t> pattern_clip(const ClipShape& shape, int seed) {
  std::vector<std::uint8_t> clip(static_cast<std::size_t>(shape.clip_bytes()));
  for (std::size_t i = 0; i < clip.size(); ++i)
    clip[i] = static_cast<std::uint8_t>(i * 7 + seed * 13);
  return clip;
}

std::string write_shard(const TempDir& dir, const ClipShape& shape, int clips) {
  const std::string path = dir.str("a.h5");
  ShardWriter writer(path, shape);
  const auto src_a = writer.add_source("a.mp4");
  const auto src_b = writer.add_source("b.mp4");
  EXPECT_EQ(writer.add_source("a.mp4"), src_a);
  for (int i = 0; i < clips; ++i) {
    writer.append(pattern_clip(shape, i), i % 2 == 0 ? src_a : src_b, 10 * i, 25.0);
  }
  writer.commit();
  return path;
}

TEST(Shard, RoundTripKeepsPixelsAndMetadata) {
  TempDir dir;
  const ClipShape shape{3, 4, 6, 3, 2};
  const auto path = write_shard(dir, shape, 5);
  EXPECT_FALSE(fs::exists(path + ".partial"));
  ShardReader reader(path);
  EXPECT_EQ(reader.size(), 5);
  EXPECT_EQ(reader.shape(), shape);
  EXPECT_EQ(reader.version(), kShardVersion);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(reader.read_clip(i), pattern_clip(shape, i));
    EXPECT_EQ(reader.checksum(i), clip_checksum(pattern_clip(shape, i)));
    EXPECT_EQ(reader.source(i), i % 2 == 0 ? "a.mp4" : "b.mp4");
    EXPECT_EQ(reader.start_frame(i), 10 * i);
    EXPECT_DOUBLE_EQ(reader.fps(i), 25.0);
  }
  EXPECT_THROW(reader.read_clip(5), InvalidArgument);
}

TEST(Shard, FlippedByteInClipDataIsCaughtNamingShardAndClip) {
  TempDir dir;
  const ClipShape shape{2, 4, 4, 1, 1};
  const auto path = write_shard(dir, shape, 4);
  std::int64_t offset = 0;
  {
    ShardReader reader(path);
    offset = reader.clip_file_offset(2) + 5;
  }
  testing::flip_byte(path, offset);
  ShardReader reader(path);
  EXPECT_TRUE(reader.verify_clip(1));
  EXPECT_FALSE(reader.verify_clip(2));
  EXPECT_NO_THROW(reader.read_clip(2, false));
  try {
    reader.read_clip(2);
    FAIL() << "a corrupt clip was read without error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("clip 2"), std::string::npos) << e.what();
  }
}

TEST(Shard, WriterWithoutCommitLeavesNoFile) {
  TempDir dir;
  const ClipShape shape{2, 4, 4, 1, 1};
  {
    ShardWriter writer(dir.str("x.h5"), shape);
    writer.append(pattern_clip(shape, 0), writer.add_source("s"), 0, 1.0);
  }
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(Shard, NonShardFilesAreRejectedWithTheirName) {
  TempDir dir;
  testing::write_bytes(dir.str("junk.h5"), 1000, "not hdf5");
  EXPECT_THROW(ShardReader(dir.str("junk.h5")), FormatError);
  EXPECT_THROW(ShardReader(dir.str("missing.h5")), IoError);
  const auto good = write_shard(dir, ClipShape{2, 4, 4, 1, 1}, 2);
  testing::truncate_copy(good, dir.str("cut.h5"), fs::file_size(good) / 2);
  try {
    ShardReader reader(dir.str("cut.h5"));
    // A truncation that keeps the metadata readable must still fail on the clips.
    for (std::int64_t i = 0; i < reader.size(); ++i) reader.read_clip(i);
    FAIL() << "truncated shard read without error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("cut.h5"), std::string::npos) << e.what();
  }
}

TEST(Shard, LabelsRoundTripWithNaNForClipsWithoutAndTheDigestIsTheFiles) {
  TempDir dir;
  const ClipShape shape{2, 4, 4, 1, 1};
  const std::string path = dir.str("labels.h5");
  ShardWriter writer(path, shape, {"speed", "turning"});
  const auto src = writer.add_source("a.mp4");
  const std::vector<float> first{12.5f, 1.0f};
  writer.append(pattern_clip(shape, 0), src, 0, 10.0, first);
  writer.append(pattern_clip(shape, 1), src, 2, 10.0);  // unknown: NaN
  const h5::FileDigest digest = writer.commit();
  EXPECT_EQ(digest, h5::digest_file(path));

  ShardReader reader(path, digest);
  EXPECT_EQ(reader.label_names(), (std::vector<std::string>{"speed", "turning"}));
  EXPECT_EQ(std::vector<float>(reader.labels(0).begin(), reader.labels(0).end()), first);
  for (float v : reader.labels(1)) EXPECT_TRUE(std::isnan(v));
  EXPECT_EQ(reader.sources(), (std::vector<std::string>{"a.mp4"}));

  h5::FileDigest wrong = digest;
  wrong.xxh64 ^= 1;
  try {
    ShardReader damaged(path, wrong);
    FAIL() << "a digest mismatch was not reported";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  // A shard without labels says so.
  const auto plain = write_shard(dir, shape, 1);
  EXPECT_TRUE(ShardReader(plain).label_names().empty());
  EXPECT_TRUE(ShardReader(plain).labels(0).empty());
}

}  // namespace
}  // namespace dojo::data
