// Slurm across network-namespace hosts: scripts/slurm/local-cluster.sh --hosts on a
// scripts/cluster/hosts.sh cluster of 3 hosts; `sbatch -N 2 --ntasks-per-node 2
// scripts/slurm/train.sbatch` training across two of them to COMPLETED; and a 2-host job
// that loses a host (every process on it killed) or a rank (stopped): the job ends, is
// requeued (by Slurm's node failure, or by train.sbatch itself on dojo's "peer lost" exit
// code), resumes from its checkpoint on the hosts that answer and ends with parameters
// bitwise equal to an uninterrupted run.
#include <csignal>
#include <set>
#include <sstream>

#include "cluster/hosts_util.hpp"

namespace dojo::cluster_test {
namespace {

constexpr int kHosts = 3;
constexpr int kTimeoutS = 10;  // comm.timeout_s of the failure runs
// Long enough to interrupt (the tiny model runs some 100-300 steps/s here).
constexpr std::int64_t kSteps = 4000;
const std::string kRun = fmt::format(
    "--set train.steps={} --set train.checkpoint_every=100 --set train.log_every=100 "
    "--set comm.timeout_s={}",
    kSteps, kTimeoutS);
const std::set<std::string> kFinal = {"COMPLETED", "CANCELLED",     "FAILED",   "TIMEOUT",
                                      "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL"};

class SlurmMultihostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = netns_skip_reason();
    if (!why.empty()) GTEST_SKIP() << why;
    root_ = shared_scratch("slurm-multihost");
    hosts_ = std::make_unique<HostCluster>(root_ / "hosts", kHosts);
    ASSERT_TRUE(hosts_->up_ok()) << hosts_->up_output();
    slurm_ = root_ / "slurm";
    // Stop the daemons and take the hosts down even if this process dies first.
    std::system(fmt::format("setsid sh -c 'while kill -0 {0} 2>/dev/null; do sleep 1; done; "
                            "{1} stop {2}; {3} down {4}' > /dev/null 2>&1 < /dev/null &",
                            ::getpid(), local_cluster(), slurm_.string(), hosts_sh(),
                            hosts_->dir().string())
                    .c_str());
    const auto res = run(fmt::format("{} start {} --hosts {}", local_cluster(), slurm_.string(),
                                     hosts_->dir().string()),
                         root_ / "start.log");
    if (res.exit_code != 0) {
      GTEST_SKIP() << "the multi-host Slurm cluster did not start (Slurm cannot run here): "
                   << res.output;
    }
    started_ = true;
  }
  void TearDown() override {
    if (started_) {
      const auto res =
          run(fmt::format("{} stop {}", local_cluster(), slurm_.string()), root_ / "stop.log");
      EXPECT_EQ(res.exit_code, 0) << res.output;
    }
    if (hosts_) {
      const auto res = hosts_->down();
      EXPECT_EQ(res.exit_code, 0) << res.output;
    }
    if (!root_.empty()) fs::remove_all(root_);
  }

  static std::string local_cluster() { return source_dir() + "/scripts/slurm/local-cluster.sh"; }
  // A Slurm client command, run on dojo-h0 (where slurmctld's network is).
  std::string client(const std::string& command) const {
    return hosts_->exec("dojo-h0") +
           fmt::format("env SLURM_CONF={} {}", (slurm_ / "slurm.conf").string(), command);
  }
  std::string job_field(const std::string& id, const std::string& field) {
    const auto res = run(client("scontrol show job -o " + id), root_ / "scontrol.log");
    std::istringstream words(res.output);
    for (std::string word; words >> word;) {
      if (word.rfind(field + "=", 0) == 0) return word.substr(field.size() + 1);
    }
    return "";
  }

  // Submits train.sbatch on `nodes` nodes x `per_node` tasks; returns the job id.
  std::string submit(const fs::path& config, const fs::path& run_dir, int nodes, int per_node,
                     const std::string& extra = "") {
    const auto sub = run(client(fmt::format("sbatch --parsable -N {} --ntasks-per-node {} "
                                            "--chdir={} --output={}/job-%j.out "
                                            "{}/scripts/slurm/train.sbatch {} {} {}",
                                            nodes, per_node, root_.string(), root_.string(),
                                            source_dir(), config.string(), run_dir.string(),
                                            extra)),
                         root_ / "sbatch.log");
    EXPECT_EQ(sub.exit_code, 0) << sub.output;
    return sub.output.substr(0, sub.output.find_first_of(";\n"));
  }
  bool ends_within(const std::string& id, double seconds) {
    return wait_until([&] { return kFinal.count(job_field(id, "JobState")) != 0; }, seconds);
  }
  std::string job_log(const std::string& id) {
    return read_text(root_ / fmt::format("job-{}.out", id));
  }
  // The parameters' hash after an uninterrupted 2-rank run of the same settings (mpirun on
  // this machine: with 2 ranks every all-reduce adds the same two numbers, on any transport).
  std::uint64_t reference_params(const fs::path& config) {
    const fs::path dir = root_ / "reference";
    const auto res = run(fmt::format("mpirun -np 2 --oversubscribe --bind-to none {} train "
                                     "--config {} --run-dir {} {}",
                                     dojo(), config.string(), dir.string(), kRun),
                         root_ / "reference.log");
    EXPECT_EQ(res.exit_code, 0) << res.output;
    const auto ckpt = latest(dir);
    EXPECT_TRUE(ckpt && ckpt->meta.step == kSteps) << res.output;
    return ckpt ? ckpt->params_xxh64 : 0;
  }
  // PIDs of `dojo` processes running on `host`.
  std::vector<pid_t> dojo_ranks_on(const std::string& host) const {
    std::vector<pid_t> out;
    for (pid_t p : hosts_->pids(host)) {
      if (read_text(fmt::format("/proc/{}/comm", p)) == "dojo\n") out.push_back(p);
    }
    return out;
  }

  fs::path root_, slurm_;
  std::unique_ptr<HostCluster> hosts_;
  bool started_ = false;
};

TEST_F(SlurmMultihostTest, TrainSbatchOnTwoNodesByTwoTasksCompletesAcrossBothHosts) {
  const fs::path config = make_tiny_setup(root_);
  const fs::path run_dir = root_ / "run";
  const std::string id = submit(config, run_dir, 2, 2);
  ASSERT_TRUE(ends_within(id, 300)) << "job " << id << " did not end within 300 s";
  const std::string out = job_log(id);
  EXPECT_EQ(job_field(id, "JobState"), "COMPLETED") << out;
  EXPECT_EQ(job_field(id, "ExitCode"), "0:0") << out;
  EXPECT_EQ(job_field(id, "NodeList"), "dojo-h[0-1]") << out;
  EXPECT_NE(out.find("4 ranks"), std::string::npos) << out;
  EXPECT_EQ(latest_step(run_dir), 20) << out;
}

TEST_F(SlurmMultihostTest, KilledHostEndsTheJobAndTheRequeuedJobResumesOnTheOtherHostsBitwise) {
  const fs::path config = make_tiny_setup(root_);
  const fs::path run_dir = root_ / "hostkill";
  const std::string id = submit(config, run_dir, 2, 1, kRun);
  ASSERT_TRUE(wait_until([&] { return latest_step(run_dir) >= 800; }, 180)) << job_log(id);
  ASSERT_EQ(job_field(id, "NodeList"), "dojo-h[0-1]");
  ASSERT_EQ(hosts_->kill_host("dojo-h1"), 0);
  const auto killed_at = Clock::now();
  // The first run ends: rank 0 gives up on rank 1 within comm.timeout_s, and Slurm, which
  // hears nothing from dojo-h1 for SlurmdTimeout (10 s here), requeues the job.
  ASSERT_TRUE(wait_until([&] { return job_field(id, "Restarts") == "1"; }, kTimeoutS + 50))
      << "job " << id << " was not requeued within " << kTimeoutS + 50
      << " s of the kill:\n" << job_log(id);
  const double took = std::chrono::duration<double>(Clock::now() - killed_at).count();
  const std::int64_t saved = latest_step(run_dir);
  ASSERT_TRUE(ends_within(id, 300)) << job_log(id);
  const std::string out = job_log(id);
  EXPECT_NE(out.find("rank 1 is on host dojo-h1"), std::string::npos) << out;
  EXPECT_NE(out.find(fmt::format("within {} ms", kTimeoutS * 1000)), std::string::npos) << out;
  EXPECT_EQ(job_field(id, "JobState"), "COMPLETED") << out;
  EXPECT_EQ(job_field(id, "NodeList"), "dojo-h[0,2]") << "the requeued job ran on the dead host";
  EXPECT_NE(out.find("(restart 1)"), std::string::npos) << out;
  EXPECT_NE(out.find("resuming from"), std::string::npos) << out;
  const auto ckpt = latest(run_dir);
  ASSERT_TRUE(ckpt) << out;
  EXPECT_EQ(ckpt->meta.step, kSteps);
  EXPECT_EQ(ckpt->params_xxh64, reference_params(config))
      << "resumed from step " << saved << " after " << took << " s";
}

TEST_F(SlurmMultihostTest, StoppedRankEndsTheStepAndTrainSbatchRequeuesTheJobItself) {
  const fs::path config = make_tiny_setup(root_);
  const fs::path run_dir = root_ / "sigstop";
  const std::string id = submit(config, run_dir, 2, 1, kRun);
  ASSERT_TRUE(wait_until([&] { return latest_step(run_dir) >= 800; }, 180)) << job_log(id);
  const auto ranks = dojo_ranks_on("dojo-h1");
  ASSERT_EQ(ranks.size(), 1u) << "expected one dojo rank on dojo-h1";
  ASSERT_EQ(::kill(ranks[0], SIGSTOP), 0);
  // dojo-h1's slurmd still answers, so Slurm sees no node failure: rank 0 ends with dojo's
  // "peer lost" exit code, srun kills the stopped rank, and train.sbatch requeues the job.
  ASSERT_TRUE(wait_until([&] { return job_field(id, "Restarts") == "1"; }, kTimeoutS + 50))
      << job_log(id);
  ASSERT_TRUE(ends_within(id, 300)) << job_log(id);
  const std::string out = job_log(id);
  EXPECT_NE(out.find("rank 1 is on host dojo-h1"), std::string::npos) << out;
  EXPECT_NE(out.find("requeueing job " + id), std::string::npos) << out;
  EXPECT_EQ(job_field(id, "JobState"), "COMPLETED") << out;
  const auto ckpt = latest(run_dir);
  ASSERT_TRUE(ckpt) << out;
  EXPECT_EQ(ckpt->meta.step, kSteps);
  EXPECT_EQ(ckpt->params_xxh64, reference_params(config));
}

}  // namespace
}  // namespace dojo::cluster_test
