// Checkpoints are written atomically and a damaged one is refused with a message that
// names the file, while the newest intact one is used instead.
#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "train/checkpoint.hpp"

namespace dojo::train {
namespace {
namespace fs = std::filesystem;

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("dojo-ckpt-{}", ::getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string save(std::int64_t step, float base) {
    std::vector<float> p(1000), m(1000), v(1000);
    for (std::size_t i = 0; i < p.size(); ++i) {
      p[i] = base + 0.001f * i;
      m[i] = -p[i];
      v[i] = p[i] * p[i];
    }
    CheckpointMeta meta{step, step, 7, 1, 40, "abcdef0123456789", "tiny", "model: tiny\n"};
    return save_checkpoint(dir_.string(), meta, p, m, v, 3);
  }
  fs::path dir_;
};

TEST_F(CheckpointTest, RoundTripKeepsEveryField) {
  const auto path = save(20, 1.5f);
  const auto c = read_checkpoint(path);
  EXPECT_EQ(c.meta.step, 20);
  EXPECT_EQ(c.meta.seed, 7u);
  EXPECT_EQ(c.meta.loader_epoch, 1);
  EXPECT_EQ(c.meta.loader_position, 40);
  EXPECT_EQ(c.meta.config_hash, "abcdef0123456789");
  EXPECT_EQ(c.meta.config_yaml, "model: tiny\n");
  ASSERT_EQ(c.params.size(), 1000u);
  EXPECT_EQ(c.params[10], 1.5f + 0.001f * 10);
  EXPECT_EQ(c.adam_v[999], c.params[999] * c.params[999]);
  EXPECT_TRUE(is_checkpoint(path));
  EXPECT_FALSE(fs::exists(path + ".partial"));
}

TEST_F(CheckpointTest, OnlyTheNewestKeepCheckpointsRemain) {
  for (int s = 1; s <= 5; ++s) save(s * 10, 1.0f);
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir_ / "checkpoints"))
    files += e.path().extension() == ".h5";
  EXPECT_EQ(files, 3);
  EXPECT_EQ(load_latest_checkpoint(dir_.string())->meta.step, 50);
}

TEST_F(CheckpointTest, TruncatedFileIsRejectedNamingIt) {
  const auto path = save(10, 1.0f);
  fs::resize_file(path, fs::file_size(path) / 2);
  try {
    read_checkpoint(path);
    FAIL() << "a truncated checkpoint was accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST_F(CheckpointTest, FlippedByteInParametersIsCaughtByTheChecksum) {
  const auto path = save(10, 1.0f);
  const auto c = read_checkpoint(path);
  // Find the parameter bytes in the file and flip one.
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), {});
  const std::string needle(reinterpret_cast<const char*>(c.params.data() + 500), 16);
  const auto at = bytes.find(needle);
  ASSERT_NE(at, std::string::npos);
  f.seekp(static_cast<std::streamoff>(at + 3));
  f.put(static_cast<char>(bytes[at + 3] ^ 0x10));
  f.close();
  try {
    read_checkpoint(path);
    FAIL() << "a corrupted checkpoint was accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("checksum mismatch"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST_F(CheckpointTest, DamagedLatestFallsBackToThePreviousOne) {
  save(10, 1.0f);
  const auto newest = save(20, 2.0f);
  fs::resize_file(newest, 100);
  const auto c = load_latest_checkpoint(dir_.string());
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->meta.step, 10);
}

TEST_F(CheckpointTest, UnwritableFolderFailsWithoutTouchingTheOldCheckpoint) {
  const auto first = save(10, 1.0f);
  const auto before = fs::file_size(first);
  std::vector<float> p(10);
  CheckpointMeta meta{20, 20, 7, 0, 0, "h", "tiny", ""};
  EXPECT_THROW(write_checkpoint((dir_ / "no-such-dir" / "x.h5").string(), meta, p, p, p), IoError);
  EXPECT_EQ(load_latest_checkpoint(dir_.string())->meta.step, 10);
  EXPECT_EQ(fs::file_size(first), before);
}

TEST_F(CheckpointTest, PruningKeepsTheNewestOfThisLineageAndNeverAHigherStep) {
  // An earlier run reached step 90; this run (resumed from elsewhere) writes 10..40, keep 3.
  save(90, 9.0f);
  for (std::int64_t step : {10, 20, 30, 40}) save(step, 1.0f);
  const auto files = checkpoint_step_files((dir_ / "checkpoints").string());
  std::vector<std::int64_t> steps;
  for (const auto& f : files) steps.push_back(checkpoint_step_of(f));
  EXPECT_EQ(steps, (std::vector<std::int64_t>{90, 40, 30, 20}));
  // `latest` names the checkpoint just written, which exists.
  const auto latest = load_latest_checkpoint(dir_.string());
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->meta.step, 40);
}

}  // namespace
}  // namespace dojo::train
