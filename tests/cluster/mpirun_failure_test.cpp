// Failures under plain `mpirun` (through scripts/mpirun/train.sh): a rank killed with
// SIGKILL, SIGUSR1 to the launcher, ranks started with different configs or data, and a
// disk that fills up at a checkpoint.
#include <sys/mount.h>

#include "cluster/cluster_util.hpp"

namespace dojo::cluster_test {
namespace {

class MpirunFailureTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / fmt::format("dojo-mpirun-{}", ::getpid());
    fs::remove_all(root_);
    fs::create_directories(root_);
    config_ = make_tiny_setup(root_);
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  // scripts/mpirun/train.sh on 2 ranks for `run_dir` (resumes when it holds a checkpoint).
  static std::string train_sh(const fs::path& run_dir, const std::string& extra) {
    return fmt::format("{}/scripts/mpirun/train.sh -n 2 --oversubscribe {} {} {}", source_dir(),
                       config_.string(), run_dir.string(), extra);
  }

  static fs::path root_, config_;
};
fs::path MpirunFailureTest::root_, MpirunFailureTest::config_;

TEST_F(MpirunFailureTest, KillNineOfOneRankEndsTheJobWithin60sAndResumeContinues) {
  const fs::path run_dir = root_ / "kill9";
  Background job(train_sh(run_dir, kLongRun), root_ / "kill9.log");
  ASSERT_TRUE(wait_until([&] { return latest_step(run_dir) >= 200 || job.poll(); }, 120))
      << "no checkpoint at step 200 within 120 s:\n"
      << job.output();
  ASSERT_FALSE(job.poll()) << "the run ended before it could be killed:\n" << job.output();
  const auto ranks = children_of(job.pid());
  ASSERT_EQ(ranks.size(), 2u) << "mpirun (pid " << job.pid() << ") should have 2 rank children";
  ASSERT_EQ(::kill(ranks.back(), SIGKILL), 0);

  const auto code = job.wait_for(60);
  ASSERT_TRUE(code.has_value()) << "the job still runs 60 s after kill -9 of one rank:\n"
                                << job.output();
  EXPECT_NE(*code, 0) << job.output();
  const std::int64_t saved = latest_step(run_dir);
  ASSERT_GT(saved, 0);
  ASSERT_LT(saved, kLongRunSteps);

  const auto resumed = run(train_sh(run_dir, kLongRun), root_ / "kill9-resume.log");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find(fmt::format("(step {})", saved)), std::string::npos)
      << "expected to resume from step " << saved << ":\n"
      << resumed.output;
  EXPECT_EQ(latest_step(run_dir), kLongRunSteps);
}

TEST_F(MpirunFailureTest, Sigusr1ToMpirunWritesACheckpointAndExitsZero) {
  const fs::path run_dir = root_ / "usr1";
  // No periodic checkpoints: the one that appears is the signal's.
  Background job(train_sh(run_dir,
                          "--set train.steps=100000 --set train.checkpoint_every=0 "
                          "--set train.log_every=100"),
                 root_ / "usr1.log");
  ASSERT_TRUE(wait_until(
      [&] {
        return job.poll() ||
               read_text(run_dir / "metrics.jsonl").find("\"step\":200") != std::string::npos;
      },
      120))
      << job.output();
  ASSERT_FALSE(job.poll()) << job.output();
  ASSERT_FALSE(fs::exists(run_dir / "checkpoints" / "latest"));
  ASSERT_EQ(::kill(job.pid(), SIGUSR1), 0);

  const auto code = job.wait_for(60);
  ASSERT_TRUE(code.has_value()) << "still running 60 s after SIGUSR1:\n" << job.output();
  EXPECT_EQ(*code, 0) << job.output();
  EXPECT_NE(job.output().find("stop signal: checkpoint written at step"), std::string::npos)
      << job.output();
  const std::int64_t step = latest_step(run_dir);
  EXPECT_GE(step, 200);
  EXPECT_LT(step, 100000);
}

TEST_F(MpirunFailureTest, MismatchedConfigsAcrossRanksAreReportedAtStartWithBothSides) {
  // MPMD launch: rank 0 and rank 1 get different learning rates.
  const std::string rank_cmd = fmt::format("{} train --config {} --run-dir {}/mismatch", dojo(),
                                           config_.string(), root_.string());
  const auto res = run(fmt::format("{} -np 1 {} --set train.lr=0.001 : -np 1 {} --set "
                                   "train.lr=0.002",
                                   env("DOJO_MPIEXEC"), rank_cmd, rank_cmd),
                       root_ / "mismatch.log");
  EXPECT_NE(res.exit_code, 0);
  EXPECT_NE(res.output.find("ranks disagree at start"), std::string::npos) << res.output;
  EXPECT_NE(res.output.find("rank 0: config hash"), std::string::npos) << res.output;
  EXPECT_NE(res.output.find("rank 1: config hash"), std::string::npos) << res.output;
  EXPECT_NE(res.output.find("train.lr"), std::string::npos)
      << "the message should name the key that differs:\n"
      << res.output;
  EXPECT_EQ(res.output.find("step 1/"), std::string::npos) << "training started:\n" << res.output;
}

TEST_F(MpirunFailureTest, RanksReadingDifferentDataAtTheSamePathAreReportedAtStart) {
  // Node-local data that differs between machines, on one machine: rank 1 runs in its own
  // mount namespace where other shards (same count and shape) are bind-mounted over the
  // configured folder. The configs are identical, so only the data fingerprint differs.
  const std::string r = root_.string();
  for (const auto& cmd : {fmt::format("{} synth --out {}/videos2 --clips 4 --seconds 4 --size "
                                      "96x64 --fps 15 --seed 9",
                                      dojo(), r),
                          fmt::format("{} ingest {}/videos2 --out {}/shards2 --frames 4 --size "
                                      "16x16",
                                      dojo(), r, r)}) {
    const auto res = run(cmd, root_ / "setup2.log");
    ASSERT_EQ(res.exit_code, 0) << cmd << "\n" << res.output;
  }
  const auto probe = run(fmt::format("unshare -m sh -c 'mount --bind {0}/shards2 {0}/shards'", r),
                         root_ / "unshare.log");
  if (probe.exit_code != 0) {
    GTEST_SKIP() << "no private mount namespaces here (unshare -m + mount --bind): "
                 << probe.output;
  }
  const std::string train =
      fmt::format("{} train --config {} --run-dir {}/otherdata", dojo(), config_.string(), r);
  const auto res = run(fmt::format("{} -np 1 {} : -np 1 unshare -m sh -c 'mount --bind "
                                   "{}/shards2 {}/shards && exec {}'",
                                   env("DOJO_MPIEXEC"), train, r, r, train),
                       root_ / "otherdata.log");
  EXPECT_NE(res.exit_code, 0);
  EXPECT_NE(res.output.find("ranks disagree at start"), std::string::npos) << res.output;
  const auto fingerprint = [&](int rank) {
    const std::string key = fmt::format("rank {}: config hash", rank);
    const auto line = res.output.find(key);
    const auto at = res.output.find("fingerprint ", line);
    return line == std::string::npos || at == std::string::npos
               ? std::string()
               : res.output.substr(at, res.output.find(')', at) - at);
  };
  EXPECT_FALSE(fingerprint(0).empty()) << res.output;
  EXPECT_NE(fingerprint(0), fingerprint(1)) << res.output;
  EXPECT_EQ(res.output.find("first config difference"), std::string::npos) << res.output;
}

// A tmpfs of `bytes` at `path` for the life of the object; mounted() false where this
// process may not mount (not root, no CAP_SYS_ADMIN).
class SmallDisk {
 public:
  SmallDisk(const fs::path& path, std::uintmax_t bytes) : path_(path) {
    fs::create_directories(path);
    const std::string size = fmt::format("size={}k", bytes / 1024);
    mounted_ = ::mount("tmpfs", path.c_str(), "tmpfs", 0, size.c_str()) == 0;
    if (!mounted_) error_ = std::strerror(errno);
  }
  ~SmallDisk() {
    if (mounted_) ::umount(path_.c_str());
  }
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  fs::path path_;
  bool mounted_ = false;
  std::string error_;
};

// The size of one checkpoint of the tiny model, from a 1-step run.
std::uintmax_t checkpoint_bytes(const fs::path& root, const fs::path& config) {
  const fs::path dir = root / "probe";
  fs::remove_all(dir);  // a fresh run each time (dojo refuses to restart over checkpoints)
  const auto res = run(fmt::format("{} train --config {} --run-dir {} --set train.steps=1", dojo(),
                                   config.string(), dir.string()),
                       root / "probe.log");
  EXPECT_EQ(res.exit_code, 0) << res.output;
  return fs::file_size(dir / "checkpoints" / "step-000001.h5");
}

TEST_F(MpirunFailureTest, DiskWithoutRoomForACheckpointIsReportedBeforeTraining) {
  const SmallDisk disk(root_ / "tiny-disk", checkpoint_bytes(root_, config_) / 2);
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a small tmpfs here: " << disk.error();
  const auto res =
      run(train_sh(root_ / "tiny-disk" / "run", "--set train.steps=30"), root_ / "nospace.log");
  EXPECT_NE(res.exit_code, 0) << res.output;
  EXPECT_NE(res.output.find("a checkpoint of this model needs"), std::string::npos) << res.output;
  EXPECT_EQ(res.output.find("step 1/"), std::string::npos) << "training started:\n" << res.output;
}

TEST_F(MpirunFailureTest, DiskFullAtACheckpointIsReportedAndKeepsThePreviousOne) {
  // A small tmpfs that holds one checkpoint of the tiny model but not two.
  const auto one = checkpoint_bytes(root_, config_);
  const fs::path small = root_ / "small";
  const SmallDisk disk(small, one + one / 2);
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a small tmpfs here: " << disk.error();

  const fs::path run_dir = small / "run";
  const auto res = run(train_sh(run_dir, "--set train.steps=30 --set train.checkpoint_every=10"),
                       root_ / "full.log");
  EXPECT_NE(res.exit_code, 0) << res.output;
  EXPECT_NE(res.output.find("disk full"), std::string::npos) << res.output;
  EXPECT_NE(res.output.find("step-000020.h5"), std::string::npos) << res.output;
  EXPECT_FALSE(fs::exists(run_dir / "checkpoints" / "step-000020.h5"));
  EXPECT_FALSE(fs::exists(run_dir / "checkpoints" / "step-000020.h5.partial"));
  const auto kept = latest(run_dir);
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(kept->meta.step, 10);
}

}  // namespace
}  // namespace dojo::cluster_test
