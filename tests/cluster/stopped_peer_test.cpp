// A rank stopped with SIGSTOP: alive and connected, but silent. Every collective on every
// backend must give up within the communicator's timeout (plus a roll call) with an error
// naming the stopped rank and its host, and the job must end non-zero; small messages
// (recursive doubling, MPI_Iallreduce), large ones (ring, gloo's ring), barrier,
// broadcast, all-gather, and `dojo train` itself on the MPI and gloo backends.
// Each test resumes and kills the stopped process afterwards, so nothing is left.
#include "cluster/cluster_util.hpp"
#include "core/exit_codes.hpp"

namespace dojo::cluster_test {
namespace {

constexpr int kTimeoutS = 5;
// Timeout, the roll call (3 s), MPI_Abort and mpirun's teardown on a loaded machine.
constexpr double kEndWithinS = kTimeoutS + 55;

// The rank of an Open MPI process (OMPI_COMM_WORLD_RANK in /proc/<pid>/environ), or -1.
int mpi_rank_of(pid_t pid) {
  const std::string environ = read_text(fs::path("/proc") / std::to_string(pid) / "environ");
  const std::string key = std::string("OMPI_COMM_WORLD_RANK=");
  for (std::size_t at = 0; at < environ.size();) {
    const std::size_t end = environ.find('\0', at);
    const std::string entry = environ.substr(at, end - at);
    if (entry.rfind(key, 0) == 0) return std::stoi(entry.substr(key.size()));
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return -1;
}

// Resumes and kills `pid` if it is still one of ours (its command line names `what`).
void end_stopped(pid_t pid, const std::string& what) {
  if (pid <= 0) return;
  const std::string cmdline = read_text(fs::path("/proc") / std::to_string(pid) / "cmdline");
  if (cmdline.find(what) == std::string::npos) return;
  ::kill(pid, SIGCONT);
  ::kill(pid, SIGKILL);
}

class StoppedPeerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / fmt::format("dojo-stopped-{}", ::getpid());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  // dead_peer_helper on 3 ranks; rank 2 stops itself at iteration 5.
  static void expect_stop_is_named(const std::string& backend, const std::string& op,
                                   std::size_t bytes) {
    const std::string name = backend + "-" + op + "-" + std::to_string(bytes);
    const fs::path pid_file = root_ / (name + ".pid");
    Background job(fmt::format("{} -n 3 {}/dead_peer_helper {} {} {} {} stop {}",
                               env("DOJO_MPIEXEC"), env("DOJO_TEST_BIN_DIR"), backend, op, bytes,
                               kTimeoutS * 1000, pid_file.string()),
                   root_ / (name + ".log"));
    const auto code = job.wait_for(kEndWithinS);
    pid_t stopped = 0;
    std::ifstream(pid_file) >> stopped;
    end_stopped(stopped, "dead_peer_helper");
    ASSERT_TRUE(code.has_value()) << name << ": still running " << kEndWithinS
                                  << " s after rank 2 stopped:\n"
                                  << job.output();
    EXPECT_NE(*code, 0) << name << ":\n" << job.output();
    EXPECT_NE(job.output().find("rank 2 (host "), std::string::npos)
        << name << ": the error should name the stopped rank and its host:\n"
        << job.output();
  }

  static fs::path root_;
};
fs::path StoppedPeerTest::root_;

TEST_F(StoppedPeerTest, MpiSmallAutoAllreduceNamesTheStoppedRank) {
  expect_stop_is_named("mpi", "auto", 4096);
}
TEST_F(StoppedPeerTest, MpiLargeAutoAllreduceNamesTheStoppedRank) {
  expect_stop_is_named("mpi", "auto", 16 << 20);
}
TEST_F(StoppedPeerTest, MpiNativeAllreduceNamesTheStoppedRank) {
  expect_stop_is_named("mpi", "mpi", 4096);
}
TEST_F(StoppedPeerTest, MpiBarrierBroadcastAndAllGatherNameTheStoppedRank) {
  expect_stop_is_named("mpi", "barrier", 0);
  expect_stop_is_named("mpi", "broadcast", 4096);
  expect_stop_is_named("mpi", "all_gather", 0);
}
TEST_F(StoppedPeerTest, GlooSmallAutoAllreduceNamesTheStoppedRank) {
  expect_stop_is_named("gloo", "auto", 4096);
}
TEST_F(StoppedPeerTest, GlooNativeAndRingAllreduceNameTheStoppedRank) {
  expect_stop_is_named("gloo", "gloo", 16 << 20);
  expect_stop_is_named("gloo", "ring", 16 << 20);
}
TEST_F(StoppedPeerTest, GlooBarrierNamesTheStoppedRank) {
  expect_stop_is_named("gloo", "barrier", 0);
}

// `mpirun -np 2 dojo train` on the tiny config: once training is under way, SIGSTOP
// rank 1; rank 0 must end the job within the timeout, naming rank 1, with exit code 4.
class StoppedTrainerTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / fmt::format("dojo-stopped-train-{}", ::getpid());
    fs::remove_all(root_);
    fs::create_directories(root_);
    config_ = make_tiny_setup(root_);
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }
  static fs::path root_, config_;
};
fs::path StoppedTrainerTest::root_, StoppedTrainerTest::config_;

TEST_P(StoppedTrainerTest, StoppedRankEndsTheJobAsPeerLostNamingItWithinTheTimeout) {
  const std::string backend = GetParam();
  const fs::path run_dir = root_ / backend;
  Background job(fmt::format("{} -n 2 {} train --config {} --run-dir {} {} --set "
                             "comm.timeout_s={} --set comm.backend={}",
                             env("DOJO_MPIEXEC"), dojo(), config_.string(), run_dir.string(),
                             kLongRun, kTimeoutS, backend),
                 root_ / (backend + ".log"));
  ASSERT_TRUE(wait_until([&] { return latest_step(run_dir) >= 100 || job.poll(); }, 180))
      << "no checkpoint at step 100 within 180 s:\n"
      << job.output();
  ASSERT_FALSE(job.poll()) << "the run ended before a rank could be stopped:\n" << job.output();
  pid_t rank1 = 0;
  for (pid_t child : children_of(job.pid())) {
    if (mpi_rank_of(child) == 1) rank1 = child;
  }
  ASSERT_GT(rank1, 0) << "no rank 1 among mpirun's children";
  ASSERT_EQ(::kill(rank1, SIGSTOP), 0);
  const auto code = job.wait_for(kEndWithinS);
  end_stopped(rank1, "dojo");
  ASSERT_TRUE(code.has_value()) << "still running " << kEndWithinS << " s after SIGSTOP:\n"
                                << job.output();
  EXPECT_EQ(*code, kExitPeerLost) << job.output();
  EXPECT_NE(job.output().find("rank 1 (host "), std::string::npos)
      << "the error should name the stopped rank and its host:\n"
      << job.output();
  EXPECT_NE(job.output().find(fmt::format("{} ms", kTimeoutS * 1000)), std::string::npos)
      << "the error should state the timeout:\n"
      << job.output();
}

INSTANTIATE_TEST_SUITE_P(Backends, StoppedTrainerTest, ::testing::Values("mpi", "gloo"));

// A rank stopped before MPI_Init: MPI's start-up has no deadline of its own, so the other
// rank would wait in it for ever. The start-up watchdog ends it (exit 4, peer lost) within
// DOJO_STARTUP_TIMEOUT_S, saying what did not complete.
TEST(StoppedBeforeStartTest, RankStoppedBeforeMpiInitEndsTheJobWithinTheStartupTimeout) {
  const fs::path root =
      fs::temp_directory_path() / fmt::format("dojo-stopped-start-{}", ::getpid());
  fs::remove_all(root);
  fs::create_directories(root);
  const fs::path config = make_tiny_setup(root), pid_file = root / "stopped.pid";
  // Rank 1's shell stops itself before it execs dojo.
  const std::string rank_script = fmt::format(
      "if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then echo $$ > {}; kill -STOP $$; fi; "
      "exec {} train --config {} --run-dir {} {}",
      pid_file.string(), dojo(), config.string(), (root / "run").string(), kLongRun);
  Background job(fmt::format("env DOJO_STARTUP_TIMEOUT_S={} {} -n 2 -x DOJO_STARTUP_TIMEOUT_S "
                             "sh -c '{}'",
                             kTimeoutS, env("DOJO_MPIEXEC"), rank_script),
                 root / "job.log");
  const auto code = job.wait_for(kEndWithinS);
  pid_t stopped = 0;
  std::ifstream(pid_file) >> stopped;
  end_stopped(stopped, "OMPI_COMM_WORLD_RANK");
  ASSERT_TRUE(code.has_value()) << "still running " << kEndWithinS
                                << " s after rank 1 stopped before MPI_Init:\n"
                                << job.output();
  EXPECT_GT(stopped, 0) << "rank 1 never stopped itself:\n" << job.output();
  EXPECT_EQ(*code, kExitPeerLost) << job.output();
  EXPECT_NE(job.output().find("rank 0 (host "), std::string::npos) << job.output();
  EXPECT_NE(job.output().find(fmt::format("MPI start-up (MPI_Init) did not complete within {} ms",
                                          kTimeoutS * 1000)),
            std::string::npos)
      << job.output();
  fs::remove_all(root);
}

}  // namespace
}  // namespace dojo::cluster_test
