// Whole commands through the built `dojo` ($DOJO_BIN): synth, ingest (also under
// mpiexec -n 2), inspect --verify, and their exit statuses.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "data/fixtures.hpp"
#include "data/manifest.hpp"
#include "data/shard.hpp"
#include "testing/command.hpp"

namespace dojo::data {
namespace {
namespace fs = std::filesystem;
using testing::clip_set;
using testing::TempDir;

using CommandResult = dojo::testing::CommandResult;

CommandResult run(const std::string& command) {
  return dojo::testing::run_command(command);
}
std::string dojo() {
  return dojo::testing::dojo_bin();
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (dojo().empty() || !fs::exists(dojo()))
      GTEST_SKIP() << "DOJO_BIN not set (run through ctest)";
    const CommandResult synth = run(dojo() + " synth --out " + dir_.str("videos") +
                                    " --clips 3 --seconds 2 --size 64x48 --fps 10 --seed 2");
    ASSERT_EQ(synth.exit_code, 0) << synth.output;
  }
  std::string ingest_args(const std::string& out) const {
    return " ingest " + dir_.str("videos") + " --out " + out +
           " --frames 4 --size 64x48 --threads 1 --clips-per-shard 4";
  }
  TempDir dir_;
};

TEST_F(Cli, SynthIngestInspectVerifyRoundTrip) {
  // Three videos, each with its labels file.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_.str("videos")), fs::directory_iterator{}), 6);
  EXPECT_TRUE(fs::exists(dir_.str("videos/synth_0002.labels.json")));
  const CommandResult ingest = run(dojo() + ingest_args(dir_.str("out")));
  ASSERT_EQ(ingest.exit_code, 0) << ingest.output;
  EXPECT_NE(ingest.output.find("15 clips"), std::string::npos) << ingest.output;
  const CommandResult inspect = run(dojo() + " inspect " + dir_.str("out") + " --verify --json");
  ASSERT_EQ(inspect.exit_code, 0) << inspect.output;
  const auto report = nlohmann::json::parse(inspect.output);
  EXPECT_EQ(report["total_clips"], 15);
  EXPECT_EQ(report["ok"], true);
  // Running again skips everything already done.
  const CommandResult again = run(dojo() + ingest_args(dir_.str("out")));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("3 already done"), std::string::npos) << again.output;
}

TEST_F(Cli, InspectVerifyFailsNamingShardAndClipOfAFlippedByte) {
  // Without a manifest (a shard copied out of its folder), a flipped byte in a clip is found
  // by that clip's checksum.
  ASSERT_EQ(run(dojo() + ingest_args(dir_.str("out"))).exit_code, 0);
  fs::create_directories(dir_.path() / "lone");
  const std::string shard = dir_.str("lone/one.h5");
  fs::copy_file(fs::path(dir_.str("out")) / read_manifest(dir_.str("out")).shards[1].path, shard);
  {
    ShardReader reader(shard);
    testing::flip_byte(shard, reader.clip_file_offset(2) + 17);
  }
  const CommandResult inspect = run(dojo() + " inspect " + shard + " --verify");
  EXPECT_NE(inspect.exit_code, 0);
  EXPECT_NE(inspect.output.find(shard + ": clip 2: checksum mismatch"), std::string::npos)
      << inspect.output;
  EXPECT_EQ(run(dojo() + " inspect " + shard).exit_code, 0);  // no --verify: summary only
}

TEST_F(Cli, ADamagedShardFailsInspectAndTheLoaderNamingTheFileNeverASignal) {
  // In an ingest folder the manifest's digest is checked before HDF5 opens the shard; the
  // byte flipped here sits in HDF5's own metadata near the end of the file.
  ASSERT_EQ(run(dojo() + ingest_args(dir_.str("out"))).exit_code, 0);
  const std::string shard =
      (fs::path(dir_.str("out")) / read_manifest(dir_.str("out")).shards[0].path).string();
  testing::flip_byte(shard, static_cast<std::int64_t>(fs::file_size(shard)) - 300);
  for (const std::string& args :
       {" inspect " + dir_.str("out") + " --verify", " inspect " + dir_.str("out"),
        " bench loader --source " + dir_.str("out") + " --repeats 1 --batches 1 --workers 1"}) {
    const CommandResult r = run(dojo() + args);
    EXPECT_NE(r.exit_code, 0) << args << "\n" << r.output;
    EXPECT_LT(r.exit_code, 128) << args << ": killed by a signal\n" << r.output;
    EXPECT_NE(r.output.find(shard), std::string::npos) << args << "\n" << r.output;
    EXPECT_NE(r.output.find("damaged"), std::string::npos) << args << "\n" << r.output;
  }
}

TEST_F(Cli, BadInputsAreSkippedWithExitZeroAndStrictFails) {
  fs::create_directories(dir_.path() / "videos" / "broken");
  testing::write_bytes(dir_.str("videos/broken/garbage.mp4"), 20000);
  testing::write_audio_only(dir_.str("videos/broken/audio.mp4"), 0.5);
  const CommandResult ingest = run(dojo() + ingest_args(dir_.str("out")));
  EXPECT_EQ(ingest.exit_code, 0) << ingest.output;
  EXPECT_NE(ingest.output.find("audio.mp4: skipped: no video stream"), std::string::npos)
      << ingest.output;
  EXPECT_NE(ingest.output.find("garbage.mp4: skipped: cannot open"), std::string::npos)
      << ingest.output;
  const CommandResult strict = run(dojo() + ingest_args(dir_.str("strict")) + " --strict");
  EXPECT_NE(strict.exit_code, 0) << strict.output;
  EXPECT_NE(run(dojo() + " ingest " + dir_.str("nowhere") + " --out " + dir_.str("x")).exit_code,
            0);
}

TEST_F(Cli, IngestUnderMpiexecTwoRanksGivesTheSameClipsAsOne) {
  if (run("command -v mpiexec").exit_code != 0) GTEST_SKIP() << "mpiexec not installed";
  ASSERT_EQ(run(dojo() + ingest_args(dir_.str("one"))).exit_code, 0);
  const CommandResult two = run("mpiexec --allow-run-as-root --oversubscribe --bind-to none -n 2 " +
                                dojo() + ingest_args(dir_.str("two")));
  ASSERT_EQ(two.exit_code, 0) << two.output;
  EXPECT_NE(two.output.find("[rank 1/2]"), std::string::npos) << two.output;
  EXPECT_EQ(clip_set(dir_.str("one")), clip_set(dir_.str("two")));
  bool rank1 = false;
  for (const auto& s : read_manifest(dir_.str("two")).shards)
    rank1 |= s.path.find("r0001") != std::string::npos;
  EXPECT_TRUE(rank1);
}

}  // namespace
}  // namespace dojo::data
