// core's one-home utilities: the RNG, the atomic file writer, the statistics, the YAML
// idiom, the bucket planner and the exit codes.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "core/atomic_file.hpp"
#include "core/buckets.hpp"
#include "core/error.hpp"
#include "core/exit_codes.hpp"
#include "core/random.hpp"
#include "core/stats.hpp"
#include "core/yaml.hpp"

namespace dojo {
namespace fs = std::filesystem;
namespace {

fs::path temp_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("dojo-core-{}-{}", name, getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string read(const fs::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(Random, SplitMix64MatchesTheReferenceSequence) {
  // The first outputs of Vigna's splitmix64.c from state 0.
  std::uint64_t state = 0;
  EXPECT_EQ(splitmix64(state), 0xE220A8397B1DCDAFULL);
  EXPECT_EQ(splitmix64(state), 0x6E789E6AA1B965F4ULL);
  EXPECT_EQ(splitmix64(state), 0x06C45D188009454FULL);
}

TEST(Random, MixSeedDependsOnEveryCounter) {
  std::set<std::uint64_t> seen;
  for (std::uint64_t a = 0; a < 4; ++a)
    for (std::uint64_t b = 0; b < 4; ++b)
      for (std::uint64_t c = 0; c < 4; ++c) seen.insert(mix_seed(a, b, c));
  EXPECT_EQ(seen.size(), 64u);
  EXPECT_EQ(mix_seed(1, 2, 3, 4), mix_seed(1, 2, 3, 4));
  EXPECT_NE(mix_seed(1, 2, 3, 4), mix_seed(1, 2, 4, 3));
}

TEST(Random, CounterRngUniformAndBelowStayInRange) {
  CounterRng rng(mix_seed(7, 0));
  double sum = 0;
  for (int i = 0; i < 10000; ++i) {
    const double u = rng.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    ASSERT_LT(rng.below(5), 5u);
  }
  EXPECT_NEAR(sum / 10000, 0.5, 0.02);
}

TEST(AtomicFile, ReplacesTheFileAndLeavesNoTemporary) {
  const fs::path dir = temp_dir("atomic");
  const fs::path file = dir / "a.txt";
  write_file_atomic(file, "first\n");
  write_file_atomic(file, "second\n");
  EXPECT_EQ(read(file), "second\n");
  EXPECT_FALSE(fs::exists(dir / "a.txt.partial"));
  fs::remove_all(dir);
}

TEST(AtomicFile, UncommittedTemporaryIsRemovedAndTheOldFileKept) {
  const fs::path dir = temp_dir("uncommitted");
  const fs::path file = dir / "b.txt";
  write_file_atomic(file, "old\n");
  {
    AtomicFile pending(file);
    std::ofstream(pending.temp_path()) << "half-written";
    EXPECT_TRUE(fs::exists(pending.temp_path()));
  }
  EXPECT_FALSE(fs::exists(dir / "b.txt.partial"));
  EXPECT_EQ(read(file), "old\n");
  fs::remove_all(dir);
}

TEST(AtomicFile, MissingFolderIsAnIoErrorNamingTheFile) {
  const fs::path file = fs::temp_directory_path() / "dojo-no-such-folder-xyz" / "c.txt";
  try {
    write_file_atomic(file, "x");
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("c.txt.partial"), std::string::npos) << e.what();
  }
}

TEST(Stats, MedianAndPercentile) {
  EXPECT_EQ(median({3, 1, 2}), 2);
  EXPECT_EQ(median({4, 1, 3, 2}), 2.5);
  EXPECT_EQ(median({}), 0);
  EXPECT_EQ(percentile({1, 2, 3, 4, 5}, 0), 1);
  EXPECT_EQ(percentile({1, 2, 3, 4, 5}, 100), 5);
  EXPECT_DOUBLE_EQ(percentile({10, 20}, 99), 19.9);
  EXPECT_THROW(percentile({1}, 101), InvalidArgument);
}

TEST(Buckets, ReverseOrderWholeLayersAtLeastTheThreshold) {
  // Layers of 100, 50, 300, 20 elements; 120-element (480-byte) buckets.
  const std::vector<LayerRange> layers = {{0, 100}, {100, 150}, {150, 450}, {450, 470}};
  const auto buckets = plan_buckets(layers, 470, 480);
  ASSERT_EQ(buckets.size(), 2u);
  EXPECT_EQ(buckets[0].first_layer, 2u);  // 20 + 300: the first bucket reaches 120 with layer 2
  EXPECT_EQ(buckets[0].last_layer, 3u);
  EXPECT_EQ(buckets[0].offset, 150u);
  EXPECT_EQ(buckets[0].count, 320u);
  EXPECT_EQ(buckets[1].first_layer, 0u);  // 50 + 100
  EXPECT_EQ(buckets[1].last_layer, 1u);
  EXPECT_EQ(buckets[1].count, 150u);
  EXPECT_EQ(buckets.back().offset, 0u);
  EXPECT_THROW(plan_buckets({{0, 10}, {12, 20}}, 20, 64), InvalidArgument);
}

TEST(Buckets, AutoSizeIsAQuarterOfTheGradientsBetweenOneAnd25MiB) {
  constexpr std::size_t kMiB = std::size_t{1} << 20;
  // 16 layers of 0.8 MiB (12.8 MiB, the bench model's size): four buckets of four layers.
  std::vector<LayerRange> layers;
  const std::size_t layer = 8 * kMiB / 10 / 4;  // elements
  for (std::size_t l = 0; l < 16; ++l) layers.emplace_back(l * layer, (l + 1) * layer);
  const std::size_t bytes = 16 * layer * 4;
  EXPECT_EQ(auto_bucket_bytes(bytes), bytes / 4);
  const auto buckets = plan_buckets(layers, 16 * layer, auto_bucket_bytes(bytes));
  ASSERT_EQ(buckets.size(), 4u);
  for (const auto& b : buckets) EXPECT_EQ(b.count, 4 * layer);
  EXPECT_EQ(auto_bucket_bytes(100 << 10), kMiB);               // small models: one 1 MiB bucket
  EXPECT_EQ(auto_bucket_bytes(std::size_t{1} << 30), 25 * kMiB);  // large ones: DDP's 25 MiB
  EXPECT_EQ(bucket_bytes_for(0, bytes), bytes / 4);
  EXPECT_EQ(bucket_bytes_for(2.5, bytes), 5 * kMiB / 2);
}

TEST(ExitCodes, EachErrorTypeHasItsCode) {
  EXPECT_EQ(exit_code_for(InvalidArgument("x")), kExitBadInput);
  EXPECT_EQ(exit_code_for(FormatError("x")), kExitBadData);
  EXPECT_EQ(exit_code_for(CommError("x", 1)), kExitPeerLost);
  EXPECT_EQ(exit_code_for(Timeout("x", 1)), kExitPeerLost);
  EXPECT_EQ(exit_code_for(IoError("x")), kExitIo);
  EXPECT_EQ(exit_code_for(InternalError("x")), kExitInternal);
  EXPECT_EQ(exit_code_for(std::runtime_error("x")), kExitError);
}

TEST(ExitCodes, ThrowForExitCodeThrowsTheTypeWithThatCodeAndTheMessage) {
  for (int code : {kExitError, kExitBadInput, kExitBadData, kExitPeerLost, kExitIo,
                   kExitInternal}) {
    try {
      throw_for_exit_code(code, "what rank 0 found");
      ADD_FAILURE() << "nothing thrown for " << code;
    } catch (const Error& e) {
      EXPECT_EQ(exit_code_for(e), code);
      EXPECT_STREQ(e.what(), "what rank 0 found");
    }
  }
}

TEST(Yaml, ScalarErrorsNameTheKeyForListsAndMaps) {
  const YAML::Node list = load_yaml_text("[1, 2]", "test");
  try {
    (void)yaml_scalar<std::int64_t>(list, "train.steps", "an integer");
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("train.steps"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("a list"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)yaml_scalar<std::int64_t>(load_yaml_text("abc", "t"), "k", "an integer"),
               InvalidArgument);
  EXPECT_EQ(yaml_scalar<std::int64_t>(load_yaml_text("12", "t"), "k", "an integer"), 12);
}

TEST(Yaml, AFolderOrMissingFileIsAnIoErrorAndBadYamlAFormatError) {
  const fs::path dir = temp_dir("yaml");
  EXPECT_THROW(load_yaml_file(dir.string(), "mesh preset"), IoError);
  EXPECT_THROW(load_yaml_file((dir / "none.yaml").string(), "config"), IoError);
  std::ofstream(dir / "bad.yaml") << "a: [1, 2\n";
  try {
    load_yaml_file((dir / "bad.yaml").string(), "config");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.yaml"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dojo
