// Slurm across network-namespace hosts: scripts/slurm/local-cluster.sh --hosts on a
// scripts/cluster/hosts.sh cluster of 2 hosts, and `sbatch -N 2 --ntasks-per-node 2
// scripts/slurm/train.sbatch` training across both to COMPLETED.
#include <set>
#include <sstream>

#include "cluster/hosts_util.hpp"

namespace dojo::cluster_test {
namespace {

class SlurmMultihostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = netns_skip_reason();
    if (!why.empty()) GTEST_SKIP() << why;
    root_ = shared_scratch("slurm-multihost");
    hosts_ = std::make_unique<HostCluster>(root_ / "hosts", 2);
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

  fs::path root_, slurm_;
  std::unique_ptr<HostCluster> hosts_;
  bool started_ = false;
};

TEST_F(SlurmMultihostTest, TrainSbatchOnTwoNodesByTwoTasksCompletesAcrossBothHosts) {
  const fs::path config = make_tiny_setup(root_);
  const fs::path run_dir = root_ / "run";
  const auto sub =
      run(client(fmt::format("sbatch --parsable -N 2 --ntasks-per-node 2 "
                             "--chdir={0} --output={0}/job-%j.out "
                             "{1}/scripts/slurm/train.sbatch {2} {3}",
                             root_.string(), source_dir(), config.string(), run_dir.string())),
          root_ / "sbatch.log");
  ASSERT_EQ(sub.exit_code, 0) << sub.output;
  const std::string id = sub.output.substr(0, sub.output.find_first_of(";\n"));
  static const std::set<std::string> kFinal = {"COMPLETED", "CANCELLED",     "FAILED",   "TIMEOUT",
                                               "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL"};
  ASSERT_TRUE(wait_until([&] { return kFinal.count(job_field(id, "JobState")) != 0; }, 300))
      << "job " << id << " did not end within 300 s";
  const std::string out = read_text(root_ / fmt::format("job-{}.out", id));
  EXPECT_EQ(job_field(id, "JobState"), "COMPLETED") << out;
  EXPECT_EQ(job_field(id, "ExitCode"), "0:0") << out;
  EXPECT_EQ(job_field(id, "NodeList"), "dojo-h[0-1]") << out;
  EXPECT_NE(out.find("4 ranks"), std::string::npos) << out;
  EXPECT_EQ(latest_step(run_dir), 20) << out;
}

}  // namespace
}  // namespace dojo::cluster_test
