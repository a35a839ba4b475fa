#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "core/error.hpp"
#include "testing/error_of.hpp"
#include "train/config.hpp"

namespace dojo::train {
namespace {

std::string write_temp(const std::string& text) {
  char name[] = "/tmp/dojo-config-XXXXXX";
  const int fd = mkstemp(name);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(name) << text;
  return name;
}

using dojo::testing::error_of;

TEST(TrainConfigTest, FileAndOverridesAreApplied) {
  const auto path =
      write_temp("model: bench\ntrain:\n  steps: 40\n  lr: 0.001\ndata:\n  videos: [a.mp4, b]\n");
  const auto c = load_train_config(path, {"train.steps=7", "comm.algorithm=ring"});
  EXPECT_EQ(c.model, "bench");
  EXPECT_EQ(c.train.steps, 7);
  EXPECT_DOUBLE_EQ(c.train.lr, 0.001);
  EXPECT_EQ(c.comm.algorithm, "ring");
  EXPECT_EQ(c.data.videos, (std::vector<std::string>{"a.mp4", "b"}));
  std::remove(path.c_str());
}

TEST(TrainConfigTest, UnknownKeyIsNamed) {
  const auto path = write_temp("train:\n  stpes: 40\n");
  const auto what = error_of([&] { load_train_config(path, {}); });
  EXPECT_NE(what.find("train.stpes"), std::string::npos) << what;
  EXPECT_NE(what.find("unknown"), std::string::npos) << what;
  std::remove(path.c_str());
  EXPECT_NE(error_of([] { load_train_config("", {"mesh.presett=d1"}); }).find("mesh.presett"),
            std::string::npos);
}

TEST(TrainConfigTest, BadValuesAreNamedWithTheKeyAndValue) {
  auto what = error_of([] { load_train_config("", {"train.steps=abc"}); });
  EXPECT_NE(what.find("train.steps"), std::string::npos) << what;
  EXPECT_NE(what.find("abc"), std::string::npos) << what;
  what = error_of([] { load_train_config("", {"train.global_batch=0"}); });
  EXPECT_NE(what.find("train.global_batch"), std::string::npos) << what;
  what = error_of([] { load_train_config("", {"precision=fp8"}); });
  EXPECT_NE(what.find("fp8"), std::string::npos) << what;
  EXPECT_NE(what.find("bf16"), std::string::npos) << what;
  what = error_of([] { load_train_config("", {"train.lr"}); });
  EXPECT_NE(what.find("key=value"), std::string::npos) << what;
}

TEST(TrainConfigTest, MissingAndMalformedFilesAreReported) {
  EXPECT_THROW(load_train_config("/nonexistent/dojo.yaml", {}), IoError);
  const auto path = write_temp("train: [unclosed\n");
  EXPECT_THROW(load_train_config(path, {}), FormatError);
  std::remove(path.c_str());
}

TEST(TrainConfigTest, EffectiveYamlRoundTripsToTheSameHash) {
  const auto c = load_train_config("", {"train.steps=12", "data.videos=[x.mp4]", "eval.samples=2"});
  const auto path = write_temp(to_yaml(c));
  const auto again = load_train_config(path, {});
  EXPECT_EQ(config_hash(c), config_hash(again));
  EXPECT_NE(config_hash(c), config_hash(load_train_config("", {"train.steps=13"})));
  std::remove(path.c_str());
}

TEST(TrainConfigTest, BucketSizeIsAutoByDefaultOrAPositiveNumberOfMegabytes) {
  EXPECT_EQ(load_train_config("", {}).comm.bucket_mb, 0);  // auto
  EXPECT_EQ(load_train_config("", {"comm.bucket_mb=auto"}).comm.bucket_mb, 0);
  EXPECT_DOUBLE_EQ(load_train_config("", {"comm.bucket_mb=2.5"}).comm.bucket_mb, 2.5);
  EXPECT_NE(to_yaml(load_train_config("", {})).find("bucket_mb: auto"), std::string::npos);
  for (const char* bad : {"comm.bucket_mb=0", "comm.bucket_mb=-1", "comm.bucket_mb=fast"}) {
    const auto what = error_of([&] { load_train_config("", {bad}); });
    EXPECT_NE(what.find("comm.bucket_mb"), std::string::npos) << bad << ": " << what;
  }
  const auto two = load_train_config("", {"comm.bucket_mb=2"});
  const auto path = write_temp(to_yaml(two));
  EXPECT_EQ(config_hash(two), config_hash(load_train_config(path, {})));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace dojo::train
