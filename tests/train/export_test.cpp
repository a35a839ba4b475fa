// dojo export: the safetensors file read back in C++ -- every name, shape and value.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "accel/host_device.hpp"
#include "core/error.hpp"
#include "model/videomae.hpp"
#include "train/checkpoint.hpp"
#include "train/config.hpp"
#include "train/export.hpp"
#include "train/safetensors.hpp"

namespace dojo::train {
namespace {
namespace fs = std::filesystem;

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("dojo-export-{}", ::getpid());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  // A tiny model's checkpoint with random weights; returns its path.
  std::string checkpoint(model::VideoMAE& m) {
    m.init(42);
    TrainConfig cfg;
    cfg.model = "tiny";
    CheckpointMeta meta;
    meta.step = 7;
    meta.model = "tiny";
    meta.config_yaml = to_yaml(cfg);
    const std::string path = (dir_ / "step-000007.h5").string();
    write_checkpoint(path, meta, m.config(), m.params(), m.adam_m(), m.adam_v());
    return path;
  }
  fs::path dir_;
};

TEST_F(ExportTest, EveryParameterReadsBackWithItsTorchNameShapeAndExactValues) {
  accel::HostDevice device;
  model::VideoMAE m(model::load_model_config("tiny"), device, 1);
  const std::string ckpt = checkpoint(m);
  const std::string out = (dir_ / "model.safetensors").string();
  const auto summary = export_checkpoint({ckpt, out, (dir_ / "check.safetensors").string(), 1});
  EXPECT_EQ(summary.tensors, m.tensors().size());

  const SafeTensors file = read_safetensors(out);
  ASSERT_EQ(file.tensors.size(), m.tensors().size());
  for (std::size_t i = 0; i < m.tensors().size(); ++i) {
    const auto& t = m.tensors()[i];
    const SafeTensor& s = file.at(torch_name(t.name));
    EXPECT_EQ(s.dtype, "F32");
    EXPECT_EQ(s.shape, t.shape) << t.name;
    const auto values = as_f32(s);
    ASSERT_EQ(values.size(), t.size) << t.name;
    EXPECT_EQ(std::memcmp(values.data(), m.params().data() + t.offset, t.size * sizeof(float)), 0)
        << t.name;
  }
  // The PyTorch module's names, not dojo's, for the two final norms.
  EXPECT_NO_THROW(file.at("encoder_norm.weight"));
  EXPECT_NO_THROW(file.at("decoder_norm.bias"));
  EXPECT_NO_THROW(file.at("encoder.0.norm1.weight"));
  EXPECT_THROW(file.at("encoder.norm.weight"), FormatError);
  EXPECT_EQ(file.metadata.at("format"), "dojo-videomae");
  EXPECT_EQ(file.metadata.at("step"), "7");
  EXPECT_EQ(file.metadata.at("encoder_dim"), "32");
  EXPECT_EQ(file.metadata.at("mask_ratio"), "0.75");
  EXPECT_EQ(file.metadata.at("ln_eps"), "1e-06");

  // The check file: dojo's loss on its clip, and one prediction row per hidden tubelet.
  const SafeTensors check = read_safetensors((dir_ / "check.safetensors").string());
  const auto& c = m.config();
  EXPECT_EQ(check.at("predictions").shape,
            (std::vector<std::int64_t>{1, c.masked_tokens(), c.patch_dim()}));
  EXPECT_EQ(check.at("masked_index").dtype, "I64");
  EXPECT_NEAR(as_f32(check.at("loss"))[0], summary.check_loss, 0);
}

TEST_F(ExportTest, TheFileFollowsTheSafetensorsLayout) {
  SafeTensors f;
  const float a[3] = {1, 2, 3};
  const std::int64_t b[2] = {-1, 5};
  f.tensors = {f32_tensor("a", {3}, a), i64_tensor("b", {1, 2}, b)};
  f.metadata["k"] = "v";
  const std::string path = (dir_ / "x.safetensors").string();
  write_safetensors(path, f);
  std::ifstream in(path, std::ios::binary);
  std::uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);  // little-endian u64 header length
  std::string text(n, '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  EXPECT_EQ((8 + n) % 8, 0u);  // data 8-byte aligned
  const auto header = nlohmann::json::parse(text);
  EXPECT_EQ(header["__metadata__"]["k"], "v");
  EXPECT_EQ(header["a"]["dtype"], "F32");
  EXPECT_EQ(header["a"]["data_offsets"], nlohmann::json::array({0, 12}));
  EXPECT_EQ(header["b"]["shape"], nlohmann::json::array({1, 2}));
  EXPECT_EQ(header["b"]["data_offsets"], nlohmann::json::array({12, 28}));
  EXPECT_EQ(fs::file_size(path), 8 + n + 28);
  const auto back = read_safetensors(path);
  EXPECT_EQ(as_f32(back.at("a")), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(back.at("b").bytes, f.tensors[1].bytes);

  // A truncated file is refused, naming it.
  fs::resize_file(path, fs::file_size(path) - 4);
  try {
    read_safetensors(path);
    FAIL() << "a truncated file was read";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("x.safetensors"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace dojo::train
