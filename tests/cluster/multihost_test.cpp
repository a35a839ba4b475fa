// dojo across network-namespace hosts (scripts/cluster/hosts.sh), launched by a plain
// mpirun on dojo-h0: every all-reduce algorithm on every layout of 1-3 hosts x 1-3 ranks
// per host; 2-host training against 1-rank training; and training that loses a host: its
// link cut mid-run, one of its ranks stopped, all of its processes killed. The surviving
// ranks must name the host and rank they lost within comm.timeout_s, and mpirun must end
// the job (after a cut link it needs TCP's retransmission limit too, ~13 s on these
// hosts); a resubmission resumes from the last checkpoint and ends bitwise equal to an
// uninterrupted run.
#include <algorithm>
#include <cmath>
#include <csignal>
#include <sstream>

#include "cluster/hosts_util.hpp"

namespace dojo::cluster_test {
namespace {

constexpr int kHosts = 3;
constexpr double kTimeoutS = 4;  // comm.timeout_s of the failure runs
// A run of the tiny model long enough to interrupt (~100 steps/s here), checkpointing often.
constexpr const char* kRun =
    "--set train.steps=1500 --set train.checkpoint_every=100 --set train.log_every=100";
constexpr std::int64_t kRunSteps = 1500;

class MultihostTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    skip_ = netns_skip_reason();
    if (!skip_.empty()) return;
    root_ = shared_scratch("multihost");
    cluster_ = std::make_unique<HostCluster>(root_ / "hosts", kHosts);
    // Take the hosts down even if this process dies before TearDownTestSuite.
    std::system(fmt::format("setsid sh -c 'while kill -0 {} 2>/dev/null; do sleep 1; done; "
                            "{} down {}' > /dev/null 2>&1 < /dev/null &",
                            ::getpid(), hosts_sh(), (root_ / "hosts").string())
                    .c_str());
    if (!cluster_->up_ok()) skip_ = "hosts.sh up failed: " + cluster_->up_output();
    config_ = make_tiny_setup(root_);
  }
  static void TearDownTestSuite() {
    if (cluster_) {
      const auto res = cluster_->down();
      EXPECT_EQ(res.exit_code, 0) << res.output;
      cluster_.reset();
    }
    if (!root_.empty()) fs::remove_all(root_);
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
  }

  // mpirun on dojo-h0 with `per_host` ranks on each of the first `hosts` hosts.
  static std::string mpirun(int hosts, int per_host) {
    std::string list;
    for (int h = 0; h < hosts; ++h) list += fmt::format("{}dojo-h{}:{}", h ? "," : "", h, per_host);
    return cluster_->exec("dojo-h0") +
           fmt::format("mpirun -H {} -np {} --map-by ppr:{}:node --oversubscribe ", list,
                       hosts * per_host, per_host);
  }
  // dojo train on 2 hosts x 1 rank, resuming from `run_dir`'s checkpoint if it has one.
  static std::string train(const fs::path& run_dir, const std::string& extra) {
    return mpirun(2, 1) + fmt::format(
                              "{} train --config {} --run-dir {} --resume auto "
                              "--set comm.timeout_s={} {}",
                              dojo(), config_.string(), run_dir.string(), kTimeoutS, extra);
  }
  // PIDs of `dojo` processes running on `host`.
  static std::vector<pid_t> dojo_ranks_on(const std::string& host) {
    std::vector<pid_t> out;
    for (pid_t p : cluster_->pids(host)) {
      if (read_text(fmt::format("/proc/{}/comm", p)) == "dojo\n") out.push_back(p);
    }
    return out;
  }
  // Nothing left on `host` (its daemons and ranks have ended).
  static bool host_idle(const std::string& host) { return cluster_->pids(host).empty(); }

  static inline std::string skip_;
  static inline fs::path root_, config_;
  static inline std::unique_ptr<HostCluster> cluster_;
};

TEST_F(MultihostTest, EveryAllreduceAlgorithmIsExactOnOneToThreeHostsByOneToThreeRanks) {
  const std::string helper = env("DOJO_TEST_BIN_DIR") + "/comm_mpi_topology_test";
  for (int hosts = 1; hosts <= kHosts; ++hosts) {
    for (int per_host = 1; per_host <= 3; ++per_host) {
      const auto res = run(
          mpirun(hosts, per_host) +
              fmt::format("-x DOJO_EXPECT_HOSTS={} -x DOJO_EXPECT_PER_HOST={} {} --gtest_color=no",
                          hosts, per_host, helper),
          root_ / "allreduce.log");
      EXPECT_EQ(res.exit_code, 0) << hosts << " hosts x " << per_host << " ranks:\n" << res.output;
      EXPECT_NE(res.output.find("[  PASSED  ] 2 tests"), std::string::npos) << res.output;
    }
  }
}

TEST_F(MultihostTest, TrainingOnTwoHostsByTwoRanksMatchesOneRankWithinTheTrainingTolerance) {
  // The tiny config's 20 steps: one rank alone, then 2 hosts x 2 ranks (hierarchical
  // gradients: shared memory within each host, a ring per stripe across). The same global
  // batch, so the same parameters up to float summation order (the tolerance of
  // train_integration_test: Adam may move a few near-zero-gradient parameters by ~lr).
  const fs::path one = root_ / "equal-one", four = root_ / "equal-four";
  const auto alone =
      run(cluster_->exec("dojo-h0") + fmt::format("{} train --config {} --run-dir {}", dojo(),
                                                  config_.string(), one.string()),
          root_ / "equal-one.log");
  ASSERT_EQ(alone.exit_code, 0) << alone.output;
  const auto across = run(mpirun(2, 2) + fmt::format("{} train --config {} --run-dir {}", dojo(),
                                                     config_.string(), four.string()),
                          root_ / "equal-four.log");
  ASSERT_EQ(across.exit_code, 0) << across.output;
  EXPECT_NE(across.output.find("on 4 rank(s)"), std::string::npos) << across.output;
  const auto a = latest(one), b = latest(four);
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->meta.step, 20);
  ASSERT_EQ(b->meta.step, 20);
  ASSERT_EQ(a->params.size(), b->params.size());
  double worst = 0;
  std::size_t loose = 0;
  for (std::size_t i = 0; i < a->params.size(); ++i) {
    const double d = std::abs(static_cast<double>(a->params[i]) - b->params[i]);
    worst = std::max(worst, d);
    loose += d > 1e-5;
  }
  EXPECT_LT(worst, 0.003) << "max parameter difference " << worst;
  EXPECT_LT(loose, a->params.size() / 200) << loose << " parameters differ by > 1e-5";
}

TEST_F(MultihostTest, LinkDownMidTrainingEndsTheJobNamingTheHostAndResumesBitwiseEqual) {
  const fs::path full = root_ / "link-full", cut = root_ / "link-cut";
  const auto reference = run(train(full, kRun), root_ / "link-full.log");
  ASSERT_EQ(reference.exit_code, 0) << reference.output;

  Background job(train(cut, kRun), root_ / "link-cut.log");
  ASSERT_TRUE(wait_until([&] { return latest_step(cut) >= 200 || job.poll(); }, 120))
      << job.output();
  ASSERT_FALSE(job.poll()) << "the run ended before its link could be cut:\n" << job.output();
  ASSERT_EQ(cluster_->link("dojo-h1", "down"), 0);
  const auto cut_at = Clock::now();
  const auto code = job.wait_for(kTimeoutS + 30);
  const double took = std::chrono::duration<double>(Clock::now() - cut_at).count();
  ASSERT_EQ(cluster_->link("dojo-h1", "up"), 0);
  ASSERT_TRUE(code.has_value()) << "mpirun still runs " << took << " s after the link went down:\n"
                                << job.output();
  EXPECT_NE(*code, 0) << job.output();
  // Rank 0 (on dojo-h0) lost rank 1 on dojo-h1 and says so, within its timeout.
  const std::string out = job.output();
  EXPECT_NE(out.find("rank 1 is on host dojo-h1"), std::string::npos) << out;
  EXPECT_NE(out.find(fmt::format("within {} ms", static_cast<int>(kTimeoutS * 1000))),
            std::string::npos)
      << out;
  // dojo-h1's daemon gives up on mpirun by its keepalive; then the host is empty.
  EXPECT_TRUE(wait_until([] { return host_idle("dojo-h1"); }, 30))
      << "processes left on dojo-h1 after the job ended";
  cluster_->kill_host("dojo-h1");

  const std::int64_t saved = latest_step(cut);
  ASSERT_GE(saved, 200);
  ASSERT_LT(saved, kRunSteps);
  const auto resumed = run(train(cut, kRun), root_ / "link-resume.log");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find(fmt::format("(step {})", saved)), std::string::npos)
      << "expected to resume from step " << saved << ":\n"
      << resumed.output;
  const auto a = latest(full), b = latest(cut);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(b->meta.step, kRunSteps);
  EXPECT_EQ(a->params_xxh64, b->params_xxh64);
  EXPECT_EQ(a->adam_m, b->adam_m);
}

TEST_F(MultihostTest, StoppedRankOnAnotherHostEndsTheJobWithinTheTimeout) {
  const fs::path run_dir = root_ / "sigstop";
  Background job(train(run_dir, kRun), root_ / "sigstop.log");
  ASSERT_TRUE(wait_until([&] { return latest_step(run_dir) >= 100 || job.poll(); }, 120))
      << job.output();
  ASSERT_FALSE(job.poll()) << job.output();
  const auto ranks = dojo_ranks_on("dojo-h1");
  ASSERT_EQ(ranks.size(), 1u) << "expected one dojo rank on dojo-h1";
  ASSERT_EQ(::kill(ranks[0], SIGSTOP), 0);
  const auto code = job.wait_for(kTimeoutS + 20);
  ASSERT_TRUE(code.has_value()) << "the job still runs " << kTimeoutS + 20
                                << " s after SIGSTOP of rank 1:\n"
                                << job.output();
  EXPECT_NE(*code, 0) << job.output();
  EXPECT_NE(job.output().find("rank 1 is on host dojo-h1"), std::string::npos) << job.output();
  ::kill(ranks[0], SIGKILL);  // if Open MPI left it stopped
  EXPECT_TRUE(wait_until([] { return host_idle("dojo-h1"); }, 30));
  cluster_->kill_host("dojo-h1");
}

TEST_F(MultihostTest, KilledHostEndsTheJobWithinTheTimeout) {
  const fs::path run_dir = root_ / "hostkill";
  Background job(train(run_dir, kRun), root_ / "hostkill.log");
  ASSERT_TRUE(wait_until([&] { return latest_step(run_dir) >= 100 || job.poll(); }, 120))
      << job.output();
  ASSERT_FALSE(job.poll()) << job.output();
  ASSERT_EQ(cluster_->kill_host("dojo-h1"), 0);
  const auto code = job.wait_for(kTimeoutS + 20);
  ASSERT_TRUE(code.has_value()) << "the job still runs after every process of dojo-h1 was "
                                   "killed:\n"
                                << job.output();
  EXPECT_NE(*code, 0) << job.output();
  EXPECT_TRUE(wait_until([] { return host_idle("dojo-h0") && host_idle("dojo-h1"); }, 30));
}

}  // namespace
}  // namespace dojo::cluster_test
