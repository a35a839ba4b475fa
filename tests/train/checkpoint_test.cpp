// Checkpoints are written atomically, checked whole before HDF5 parses them (a flipped
// byte or a truncation anywhere is an error naming the file, never a crash), carry every
// tensor under its name and shape with the model config, and a damaged one is passed over
// for the newest intact one.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "h5/handles.hpp"
#include "model/params.hpp"
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
    model_ = model::builtin_model_config("tiny");
    total_ = model::build_param_table(model_).total;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Arenas with every padding element zero, as the model keeps them.
  std::vector<float> arena(float base) const {
    std::vector<float> a(total_, 0.0f);
    for (const auto& t : model::build_param_table(model_).tensors)
      for (std::size_t i = 0; i < t.size; ++i) a[t.offset + i] = base + 0.001f * float(i % 997);
    return a;
  }
  std::string save(std::int64_t step, float base, std::int64_t keep = 3) {
    const auto p = arena(base), m = arena(-base), v = arena(base * base);
    CheckpointMeta meta{step, step, 7, 1, 40, "abcdef0123456789", "tiny", "model: tiny\n"};
    return save_checkpoint(dir_.string(), meta, model_, p, m, v, keep);
  }
  static void expect_format_error_naming(const std::string& path, const std::string& what) {
    try {
      read_checkpoint(path);
      ADD_FAILURE() << what << ": accepted";
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << what << ": " << e.what();
    }
  }
  fs::path dir_;
  model::ModelConfig model_;
  std::size_t total_ = 0;
};

TEST_F(CheckpointTest, RoundTripKeepsEveryFieldAndTheModelConfig) {
  const auto path = save(20, 1.5f);
  const auto c = read_checkpoint(path);
  EXPECT_EQ(c.meta.step, 20);
  EXPECT_EQ(c.meta.seed, 7u);
  EXPECT_EQ(c.meta.loader_epoch, 1);
  EXPECT_EQ(c.meta.loader_position, 40);
  EXPECT_EQ(c.meta.config_hash, "abcdef0123456789");
  EXPECT_EQ(c.meta.config_yaml, "model: tiny\n");
  EXPECT_EQ(c.params, arena(1.5f));
  EXPECT_EQ(c.adam_v, arena(1.5f * 1.5f));
  EXPECT_EQ(c.model_config.encoder_dim, model_.encoder_dim);
  EXPECT_EQ(c.model_config.frames, model_.frames);
  EXPECT_EQ(c.model_config.patch, model_.patch);
  EXPECT_TRUE(is_checkpoint(path));
  EXPECT_FALSE(fs::exists(path + ".partial"));
}

TEST_F(CheckpointTest, EveryTensorIsStoredUnderItsNameAndShape) {
  const auto path = save(10, 1.0f);
  std::lock_guard lock(h5::mutex());
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  for (const auto& t : model::build_param_table(model_).tensors) {
    const std::string name = "/params/" + t.name;
    const hid_t set = H5Dopen2(file, name.c_str(), H5P_DEFAULT);
    ASSERT_GE(set, 0) << name;
    const hid_t space = H5Dget_space(set);
    std::vector<hsize_t> dims(static_cast<std::size_t>(H5Sget_simple_extent_ndims(space)));
    H5Sget_simple_extent_dims(space, dims.data(), nullptr);
    EXPECT_EQ(std::vector<std::int64_t>(dims.begin(), dims.end()), t.shape) << name;
    H5Sclose(space);
    H5Dclose(set);
  }
  H5Fclose(file);
}

TEST_F(CheckpointTest, OnlyTheNewestKeepCheckpointsRemain) {
  for (int s = 1; s <= 5; ++s) save(s * 10, 1.0f);
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir_ / "checkpoints"))
    files += e.path().extension() == ".h5";
  EXPECT_EQ(files, 3);
  EXPECT_EQ(load_latest_checkpoint(dir_.string())->meta.step, 50);
}

TEST_F(CheckpointTest, EverySampledByteFlipAndTruncationIsAnErrorNamingTheFile) {
  const auto path = save(10, 1.0f);
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string damaged = (dir_ / "checkpoints" / "step-000011.h5").string();
  // Every byte of the first 8 KiB (digest header, superblock, object headers, attributes), a dense
  // sample of the rest, and the last 4 KiB.
  std::vector<std::size_t> offsets;
  for (std::size_t i = 0; i < std::min<std::size_t>(8192, bytes.size()); ++i) offsets.push_back(i);
  for (std::size_t i = 8192; i < bytes.size(); i += std::max<std::size_t>(1, bytes.size() / 3000))
    offsets.push_back(i);
  for (std::size_t i = bytes.size() > 4096 ? bytes.size() - 4096 : 0; i < bytes.size(); ++i)
    offsets.push_back(i);
  for (const std::size_t at : offsets) {
    std::string copy = bytes;
    copy[at] = static_cast<char>(copy[at] ^ 0x5a);
    std::ofstream(damaged, std::ios::binary | std::ios::trunc) << copy;
    expect_format_error_naming(damaged, fmt::format("byte {} flipped", at));
  }
  for (std::size_t keep = 0; keep < bytes.size(); keep += std::max<std::size_t>(1, bytes.size() / 300)) {
    std::ofstream(damaged, std::ios::binary | std::ios::trunc) << bytes.substr(0, keep);
    expect_format_error_naming(damaged, fmt::format("truncated to {} bytes", keep));
  }
}

TEST_F(CheckpointTest, AnAttributeEditedByHandIsRefused) {
  for (const char* attr : {"step", "adam_steps", "loader_position"}) {
    const auto path = save(10, 1.0f);
    {
      std::lock_guard lock(h5::mutex());
      const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
      ASSERT_GE(file, 0);
      const hid_t a = H5Aopen(file, attr, H5P_DEFAULT);
      const std::int64_t value = std::string(attr) == "step" ? (std::int64_t{1} << 62) : -1;
      H5Awrite(a, H5T_NATIVE_INT64, &value);
      H5Aclose(a);
      H5Fclose(file);
    }
    expect_format_error_naming(path, attr);
  }
}

TEST_F(CheckpointTest, OutOfRangeStateIsRefusedEvenWithAValidDigest) {
  const auto p = arena(1.0f);
  for (const CheckpointMeta& meta :
       {CheckpointMeta{-3, 0, 0, 0, 0, "h", "tiny", ""}, CheckpointMeta{5, 6, 0, 0, 0, "h", "tiny", ""},
        CheckpointMeta{5, 5, 0, -1, 0, "h", "tiny", ""}, CheckpointMeta{5, -1, 0, 0, 0, "h", "tiny", ""}}) {
    const std::string path = (dir_ / fmt::format("odd-{}-{}.h5", meta.step, meta.adam_steps)).string();
    write_checkpoint(path, meta, model_, p, p, p);
    expect_format_error_naming(path, fmt::format("step {} adam {}", meta.step, meta.adam_steps));
  }
}

TEST_F(CheckpointTest, AFileWithoutTheDigestHeaderIsNotParsed) {
  const auto path = save(10, 1.0f);
  // The same bytes with the header zeroed: HDF5 could read it, dojo must not.
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::fill(bytes.begin(), bytes.begin() + 512, '\0');
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  EXPECT_FALSE(is_checkpoint(path));
  try {
    read_checkpoint(path);
    FAIL() << "read without a digest";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("digest"), std::string::npos) << e.what();
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

TEST_F(CheckpointTest, ARunFolderItsCheckpointsFolderOrItsLatestPointerNameACheckpoint) {
  save(10, 1.0f);
  const auto newest = save(20, 2.0f);
  EXPECT_EQ(find_checkpoint(newest).meta.step, 20);
  EXPECT_EQ(find_checkpoint(dir_.string()).meta.step, 20);
  EXPECT_EQ(find_checkpoint(dir_.string() + "/").meta.step, 20);
  EXPECT_EQ(find_checkpoint((dir_ / "checkpoints").string()).meta.step, 20);
  EXPECT_EQ(find_checkpoint((dir_ / "checkpoints" / "latest").string()).meta.step, 20);
  // The pointer means exactly the file it names: a damaged one is an error, not an older
  // checkpoint; the run folder passes over it to the newest intact one.
  fs::resize_file(newest, 100);
  EXPECT_THROW(find_checkpoint((dir_ / "checkpoints" / "latest").string()), FormatError);
  EXPECT_EQ(find_checkpoint(dir_.string()).meta.step, 10);
  const fs::path empty = dir_ / "empty-run";
  fs::create_directories(empty);
  try {
    find_checkpoint(empty.string());
    ADD_FAILURE() << "a folder without checkpoints was accepted";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find(empty.string()), std::string::npos) << e.what();
  }
}

TEST_F(CheckpointTest, UnwritableFolderFailsWithoutTouchingTheOldCheckpoint) {
  const auto first = save(10, 1.0f);
  const auto before = fs::file_size(first);
  const auto p = arena(1.0f);
  CheckpointMeta meta{20, 20, 7, 0, 0, "h", "tiny", ""};
  EXPECT_THROW(write_checkpoint((dir_ / "no-such-dir" / "x.h5").string(), meta, model_, p, p, p),
               IoError);
  EXPECT_EQ(load_latest_checkpoint(dir_.string())->meta.step, 10);
  EXPECT_EQ(fs::file_size(first), before);
}

TEST_F(CheckpointTest, PruningKeepsTheNewestOfThisLineageAndNeverAHigherStep) {
  // An earlier run reached step 90; this run (resumed from elsewhere) writes 10..40, keep 3.
  save(90, 9.0f);
  for (std::int64_t step : {10, 20, 30, 40}) save(step, 1.0f);
  std::vector<std::int64_t> steps;
  for (const auto& f : checkpoint_step_files((dir_ / "checkpoints").string()))
    steps.push_back(checkpoint_step_of(f));
  EXPECT_EQ(steps, (std::vector<std::int64_t>{90, 40, 30, 20}));
  const auto latest = load_latest_checkpoint(dir_.string());
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->meta.step, 40);
}

}  // namespace
}  // namespace dojo::train
