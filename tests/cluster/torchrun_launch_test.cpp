// torchrun-style launches (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT; no MPI): two
// `dojo train` processes started by hand, and torchrun itself, train as 2 ranks over the
// gloo world and end with the same parameters as `mpirun -np 2` on the gloo backend; an
// environment that says 2 ranks without a rendezvous address is refused; a rendezvous
// that never completes and a stopped peer end in errors naming the address or the rank.
#include <netinet/in.h>
#include <sys/socket.h>

#include "cluster/cluster_util.hpp"

namespace dojo::cluster_test {
namespace {

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// `env` prefix for rank `rank` of 2 meeting at 127.0.0.1:`port`.
std::string torch_env(int rank, int port) {
  return fmt::format(
      "env RANK={} WORLD_SIZE=2 LOCAL_RANK={} LOCAL_WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 "
      "MASTER_PORT={} DOJO_RENDEZVOUS_TIMEOUT_S=60",
      rank, rank, port);
}

class TorchrunLaunchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / fmt::format("dojo-torchrun-{}", ::getpid());
    fs::remove_all(root_);
    fs::create_directories(root_);
    config_ = make_tiny_setup(root_);
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  std::string train(const fs::path& run_dir, const std::string& extra = "") const {
    return fmt::format("{} train --config {} --run-dir {} {}", dojo(), config_.string(),
                       run_dir.string(), extra);
  }
  // The final parameters of `mpirun -np 2` with the gloo backend (computed once).
  static const std::vector<float>& mpirun_gloo_params() {
    static const std::vector<float> params = [] {
      const fs::path run_dir = root_ / "mpirun-gloo";
      const auto res = run(fmt::format("{} -n 2 {} train --config {} --run-dir {} --set "
                                       "comm.backend=gloo",
                                       env("DOJO_MPIEXEC"), dojo(), config_.string(),
                                       run_dir.string()),
                           root_ / "mpirun-gloo.log");
      EXPECT_EQ(res.exit_code, 0) << res.output;
      const auto ckpt = latest(run_dir);
      return ckpt ? ckpt->params : std::vector<float>{};
    }();
    return params;
  }

  static fs::path root_, config_;
};
fs::path TorchrunLaunchTest::root_, TorchrunLaunchTest::config_;

TEST_F(TorchrunLaunchTest, TwoProcessesWithTorchrunVariablesTrainAsTwoRanksLikeMpirun) {
  const int port = free_port();
  const fs::path run_dir = root_ / "by-hand";
  Background rank1(torch_env(1, port) + " " + train(run_dir), root_ / "by-hand-1.log");
  const auto rank0 = run(torch_env(0, port) + " " + train(run_dir), root_ / "by-hand-0.log");
  const auto code1 = rank1.wait_for(120);
  ASSERT_EQ(rank0.exit_code, 0) << rank0.output;
  ASSERT_TRUE(code1.has_value()) << rank1.output();
  ASSERT_EQ(*code1, 0) << rank1.output();
  EXPECT_NE(rank0.output.find("[rank 0/2]"), std::string::npos) << rank0.output;
  EXPECT_NE(rank0.output.find("2 rank(s)"), std::string::npos) << rank0.output;
  EXPECT_NE(rank0.output.find("torchrun launch: 2 ranks joined through the rendezvous at "
                              "127.0.0.1:" +
                              std::to_string(port)),
            std::string::npos)
      << rank0.output;
  const auto ckpt = latest(run_dir);
  ASSERT_TRUE(ckpt.has_value()) << rank0.output;
  EXPECT_EQ(ckpt->meta.step, 20);
  const auto& expected = mpirun_gloo_params();
  ASSERT_FALSE(expected.empty());
  EXPECT_TRUE(ckpt->params == expected)
      << "parameters differ from mpirun -np 2 with comm.backend=gloo";
}

TEST_F(TorchrunLaunchTest, TorchrunNoPythonTrainsAsTwoRanksLikeMpirun) {
  if (run("command -v torchrun", root_ / "which.log").exit_code != 0) {
    GTEST_SKIP() << "torchrun is not installed";
  }
  const fs::path run_dir = root_ / "torchrun";
  // --no_python: torch 1.13 spells it with an underscore (later versions accept both).
  // --redirects 1 --tee 1: Debian's torch 1.13 under Python 3.11 cannot parse the default
  // "0" (its Std flag lookup misses NONE) and crashes before starting any worker.
  const auto res = run(fmt::format("DOJO_RENDEZVOUS_TIMEOUT_S=60 torchrun --nproc_per_node 2 "
                                   "--redirects 1 --tee 1 --log_dir {} --master_addr 127.0.0.1 "
                                   "--master_port {} --no_python {}",
                                   (root_ / "torchrun-logs").string(), free_port(),
                                   train(run_dir)),
                       root_ / "torchrun.log");
  ASSERT_EQ(res.exit_code, 0) << res.output;
  const auto ckpt = latest(run_dir);
  ASSERT_TRUE(ckpt.has_value()) << res.output;
  EXPECT_TRUE(ckpt->params == mpirun_gloo_params())
      << "parameters differ from mpirun -np 2 with comm.backend=gloo";
}

TEST_F(TorchrunLaunchTest, WorldSizeTwoWithoutMasterAddrIsRefusedNamingTheVariables) {
  const auto res =
      run("env RANK=0 WORLD_SIZE=2 " + train(root_ / "refused"), root_ / "refused.log");
  EXPECT_EQ(res.exit_code, 2) << res.output;
  EXPECT_NE(res.output.find("WORLD_SIZE=2"), std::string::npos) << res.output;
  EXPECT_NE(res.output.find("MASTER_ADDR"), std::string::npos) << res.output;
  EXPECT_EQ(res.output.find("step 1/"), std::string::npos) << "training started:\n"
                                                           << res.output;
}

TEST_F(TorchrunLaunchTest, RendezvousThatNeverCompletesTimesOutNamingMasterAddrAndPort) {
  const int port = free_port();
  const auto res = run(fmt::format("env RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT={} "
                                   "DOJO_RENDEZVOUS_TIMEOUT_S=2 {}",
                                   port, train(root_ / "alone")),
                       root_ / "alone.log");
  EXPECT_NE(res.exit_code, 0) << res.output;
  EXPECT_NE(res.output.find(fmt::format("127.0.0.1:{}", port)), std::string::npos) << res.output;
  EXPECT_NE(res.output.find("rank 1"), std::string::npos) << res.output;
}

TEST_F(TorchrunLaunchTest, RankThatFailsEndsItsPeerAtOnceNamingIt) {
  // Rank 1 cannot read its data and stops with an error; rank 0, waiting for it in a
  // collective, must not sit out its 120 s timeout.
  const int port = free_port();
  const fs::path run_dir = root_ / "failing";
  Background rank1(torch_env(1, port) + " " +
                       train(run_dir, "--set data.shards=/nonexistent/shards"),
                   root_ / "failing-1.log");
  Background rank0(torch_env(0, port) + " " + train(run_dir, "--set comm.timeout_s=120"),
                   root_ / "failing-0.log");
  const auto code1 = rank1.wait_for(60);
  ASSERT_TRUE(code1.has_value()) << rank1.output();
  EXPECT_NE(*code1, 0) << rank1.output();
  const auto code0 = rank0.wait_for(60);
  ASSERT_TRUE(code0.has_value()) << "rank 0 waited on for its timeout:\n" << rank0.output();
  EXPECT_NE(*code0, 0) << rank0.output();
  EXPECT_NE(rank0.output().find("rank 1 (host "), std::string::npos) << rank0.output();
}

TEST_F(TorchrunLaunchTest, StoppedPeerEndsTheSurvivorNonZeroNamingIt) {
  const int port = free_port();
  const fs::path run_dir = root_ / "stopped";
  const std::string extra = std::string(kLongRun) + " --set comm.timeout_s=5";
  Background rank0(torch_env(0, port) + " " + train(run_dir, extra), root_ / "stopped-0.log");
  Background rank1(torch_env(1, port) + " " + train(run_dir, extra), root_ / "stopped-1.log");
  ASSERT_TRUE(wait_until([&] { return latest_step(run_dir) >= 100 || rank0.poll(); }, 180))
      << rank0.output();
  ASSERT_FALSE(rank0.poll()) << rank0.output();
  ASSERT_EQ(::kill(rank1.pid(), SIGSTOP), 0);
  const auto code = rank0.wait_for(60);
  ::kill(rank1.pid(), SIGCONT);
  ::kill(rank1.pid(), SIGKILL);
  ASSERT_TRUE(code.has_value()) << "rank 0 still running 60 s after rank 1 stopped:\n"
                                << rank0.output();
  EXPECT_NE(*code, 0) << rank0.output();
  EXPECT_NE(rank0.output().find("rank 1 (host "), std::string::npos) << rank0.output();
}

}  // namespace
}  // namespace dojo::cluster_test
