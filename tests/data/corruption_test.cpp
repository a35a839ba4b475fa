// Integrity before parsing: every single-byte flip and every truncation of a small shard
// is an error naming the shard (from inspect --verify's logic and from the loader), never
// a signal; without a manifest, damage to the strings blob is still a FormatError.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <functional>

#include "comm/local_communicator.hpp"
#include "core/error.hpp"
#include "data/fixtures.hpp"
#include "data/ingest.hpp"
#include "data/inspect.hpp"
#include "data/loader.hpp"
#include "data/manifest.hpp"
#include "data/shard.hpp"
#include "h5/handles.hpp"
#include "testing/error_of.hpp"

namespace dojo::data {
namespace {
namespace fs = std::filesystem;
using testing::TempDir;

// One small ingest folder: a single shard of a few tiny gray clips, with labels.
std::string make_small_folder(const TempDir& dir) {
  testing::make_synth(dir.path() / "videos", 1, 1.0, 9);
  IngestOptions o;
  o.inputs = {dir.str("videos")};
  o.out_dir = dir.str("out");
  o.shape = ClipShape{2, 8, 8, 1, 1};
  o.threads = 1;
  auto world = comm::make_local_world(1);
  testing::ingest_on(o, *world[0]);
  return o.out_dir;
}

void write_byte(const std::string& path, std::int64_t offset, char value) {
  const int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, &value, 1, offset), 1);
  ::close(fd);
}

void write_all(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

using dojo::testing::error_of;

// Both readers a user meets: `inspect --verify` (problems collected in the report) and the
// loader (throws). Each must report the damaged shard by name.
void expect_both_name(const std::string& folder, const std::string& shard,
                      const std::string& what) {
  const InspectReport report = inspect(folder, true);
  ASSERT_FALSE(report.ok()) << what;
  ASSERT_NE(report.problems()[0].find(shard), std::string::npos)
      << what << ": " << report.problems()[0];
  LoaderOptions lo;
  lo.source = folder;
  lo.batch = 1;
  lo.workers = 1;
  const std::string message = error_of([&] {
    Loader loader(lo);
    loader.next();
  });
  ASSERT_NE(message.find(shard), std::string::npos) << what << ": " << message;
}

TEST(Corruption, EveryByteFlipAndEveryTruncationOfAShardNamesTheShard) {
  TempDir dir;
  const std::string folder = make_small_folder(dir);
  const Manifest manifest = read_manifest(folder);
  ASSERT_EQ(manifest.shards.size(), 1u);
  const std::string shard = (fs::path(folder) / manifest.shards[0].path).string();
  const auto original = testing::read_file(shard);
  ASSERT_LT(original.size(), 64u * 1024) << "keep the shard small: every offset is tried";
  ASSERT_TRUE(inspect(folder, true).ok());
  for (std::size_t offset = 0; offset < original.size(); ++offset) {
    write_byte(shard, static_cast<std::int64_t>(offset), static_cast<char>(~original[offset]));
    expect_both_name(folder, shard, "flip at " + std::to_string(offset));
    write_byte(shard, static_cast<std::int64_t>(offset), static_cast<char>(original[offset]));
    if (HasFatalFailure()) return;
  }
  for (std::size_t length = 0; length < original.size(); length += 1) {
    ASSERT_EQ(::truncate(shard.c_str(), static_cast<off_t>(length)), 0);
    expect_both_name(folder, shard, "truncated to " + std::to_string(length));
    if (HasFatalFailure()) return;
  }
  write_all(shard, original);
  EXPECT_TRUE(inspect(folder, true).ok());
}

TEST(Corruption, WithoutAManifestADamagedStringBlobIsAFormatError) {
  // A lone shard has no digest to check: its strings (sources, label names) live in a
  // hashed uint8 blob, so damage there is found by us, not parsed by HDF5's heap code.
  TempDir dir;
  const std::string folder = make_small_folder(dir);
  const std::string lone = dir.str("lone.h5");
  fs::copy_file(fs::path(folder) / read_manifest(folder).shards[0].path, lone);
  const auto original = testing::read_file(lone);
  const std::string text(original.begin(), original.end());
  const auto begin = text.find("{\"label_names\"");
  ASSERT_NE(begin, std::string::npos);
  const auto end = text.find("]}", begin) + 2;
  std::int64_t flips = 0;
  for (std::size_t offset = begin; offset < end; ++offset) {
    write_byte(lone, static_cast<std::int64_t>(offset), static_cast<char>(~original[offset]));
    const std::string message = error_of([&] { ShardReader reader(lone); });
    EXPECT_NE(message.find(lone), std::string::npos) << "flip at " << offset << ": " << message;
    EXPECT_NE(message.find("meta"), std::string::npos) << "flip at " << offset << ": " << message;
    write_byte(lone, static_cast<std::int64_t>(offset), static_cast<char>(original[offset]));
    ++flips;
  }
  EXPECT_GT(flips, 20);
  EXPECT_NO_THROW(ShardReader reader(lone));
}

TEST(Corruption, AVersionOneShardIsRefusedWithAHintToReingest) {
  TempDir dir;
  const std::string folder = make_small_folder(dir);
  const std::string old = dir.str("old.h5");
  fs::copy_file(fs::path(folder) / read_manifest(folder).shards[0].path, old);
  {
    std::lock_guard lock(h5::mutex());
    h5::Handle file(H5Fopen(old.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
    ASSERT_TRUE(file.valid());
    h5::Handle attr(H5Aopen(file.get(), "version", H5P_DEFAULT));
    const std::int64_t one = 1;
    ASSERT_GE(H5Awrite(attr.get(), H5T_NATIVE_INT64, &one), 0);
  }
  const std::string message = error_of([&] { ShardReader reader(old); });
  EXPECT_NE(message.find(old), std::string::npos) << message;
  EXPECT_NE(message.find("version 1"), std::string::npos) << message;
  EXPECT_NE(message.find("re-ingest"), std::string::npos) << message;
}

}  // namespace
}  // namespace dojo::data
