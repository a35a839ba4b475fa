// `dojo serve --executor slurm` on the project's local single-node Slurm cluster
// (scripts/slurm/local-cluster.sh, started and stopped here): a training job submitted
// through the API runs as train.sbatch and succeeds; a running one survives a kill -9 of
// the server, is found again by its Slurm id, and cancels (scancel --signal=USR1) into
// `cancelled` with a checkpoint.
#include "serve/fixture.hpp"

namespace dojo::serve_test {
namespace {

class SlurmServeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / fmt::format("dojo-serve-slurm-{}", ::getpid());
    fs::remove_all(root_);
    fs::create_directories(root_);
    cluster_ = root_ / "cluster";
    const auto script = dojo::testing::env_or_empty("DOJO_SOURCE_DIR") + "/scripts/slurm/local-cluster.sh";
    // Stop the daemons even if this process dies before TearDownTestSuite.
    std::system(fmt::format("setsid sh -c 'while kill -0 {} 2>/dev/null; do sleep 1; done; "
                            "[ -d {} ] && {} stop {}' > /dev/null 2>&1 < /dev/null &",
                            ::getpid(), cluster_.string(), script, cluster_.string())
                    .c_str());
    const auto r = dojo::testing::run_command(fmt::format("{} start {}", script, cluster_.string()));
    if (r.exit_code != 0) error_ = fmt::format("exit {}: {}", r.exit_code, r.output);
    ::setenv("SLURM_CONF", (cluster_ / "slurm.conf").c_str(), 1);
    ::setenv("DOJO_SLURM_PORT", "16917", 0);
  }
  static void TearDownTestSuite() {
    const auto r = dojo::testing::run_command(
        fmt::format("{}/scripts/slurm/local-cluster.sh stop {}",
                    dojo::testing::env_or_empty("DOJO_SOURCE_DIR"), cluster_.string()));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    fs::remove_all(root_);
  }
  void SetUp() override {
    if (!error_.empty())
      GTEST_SKIP() << "the local Slurm cluster did not start (Slurm cannot run here): " << error_;
  }
  static inline fs::path root_, cluster_;
  static inline std::string error_;
};

TEST_F(SlurmServeTest, JobsRunAsBatchJobsAndAreFoundAgainAfterAKillNine) {
  const auto state = root_ / "state";
  const auto token = add_user(state, "u", "--max-running 2 --max-ranks 2");
  ServerProcess server(state, {"--executor", "slurm", "--poll-interval", "0.2"});
  server.start();
  ApiClient c(server.url(), token);
  const auto dataset = ingested_dataset(c, "d", videos_in(synth_clips(root_ / "synth", 3)));
  const auto short_job = submit_tiny(c, dataset, 4, json::object(), 2);
  ASSERT_EQ(short_job.status, 201) << short_job.body;
  const auto j1 = short_job.json()["id"].get<std::int64_t>();
  const auto done = wait_state(c, j1, "succeeded", 180);
  ASSERT_FALSE(done.is_null()) << job_of(c, j1).dump() << c.get(fmt::format("/v1/jobs/{}/logs", j1)).body;
  EXPECT_EQ(done["executor"], "slurm");
  EXPECT_EQ(done["step"], 4);

  const auto j2 = submit_tiny(c, dataset, 5000, {{"train.checkpoint_every", 100000}})
                      .json()["id"]
                      .get<std::int64_t>();
  ASSERT_TRUE(wait_until([&] { return job_of(c, j2).value("step", 0) >= 2; }, 180, 300))
      << c.get(fmt::format("/v1/jobs/{}/logs", j2)).body;
  const auto slurm_id = job_of(c, j2)["executor_id"];
  server.kill9();
  server.start();
  ApiClient c2(server.url(), token);
  const auto again = job_of(c2, j2);
  EXPECT_EQ(again["state"], "running");
  EXPECT_EQ(again["executor_id"], slurm_id);
  const auto step = again["step"].get<std::int64_t>();
  EXPECT_TRUE(wait_until([&] { return job_of(c2, j2).value("step", 0) > step; }, 60, 300));
  ASSERT_EQ(c2.post(fmt::format("/v1/jobs/{}/cancel", j2), json::object()).status, 200);
  const auto cancelled = wait_state(c2, j2, "cancelled", 120);
  ASSERT_FALSE(cancelled.is_null()) << job_of(c2, j2).dump();
  const auto artifacts = c2.get(fmt::format("/v1/jobs/{}/artifacts", j2)).body;
  EXPECT_NE(artifacts.find(fmt::format("step-{:06d}.h5", cancelled["step"].get<std::int64_t>())),
            std::string::npos)
      << artifacts;
  EXPECT_EQ(server.terminate(20), 0);
}

// A job Slurm keeps waiting (every CPU taken by another batch job) is launched but not
// started: its record has no started_s until Slurm runs it, so "submit -> running" is the
// time to Slurm's RUNNING, not to sbatch's return.
TEST_F(SlurmServeTest, StartedIsWhenSlurmRunsTheJobNotWhenSbatchReturns) {
  const auto state = root_ / "state-pending";
  const auto token = add_user(state, "p", "--max-running 2 --max-ranks 2");
  ServerProcess server(state, {"--executor", "slurm", "--poll-interval", "0.2"});
  server.start();
  ApiClient c(server.url(), token);
  const auto dataset = ingested_dataset(c, "d", videos_in(synth_clips(root_ / "synth-p", 3)));
  // Every CPU of the node, for as long as this test needs.
  const auto cpus = dojo::testing::run_command("nproc").output;
  const auto blocker = dojo::testing::run_command(fmt::format(
      "sbatch --parsable --nodes=1 --ntasks={} --output=/dev/null --wrap 'sleep 300'", std::stoi(cpus)));
  ASSERT_EQ(blocker.exit_code, 0) << blocker.output;
  const std::string blocker_id = blocker.output.substr(0, blocker.output.find_first_of(";\n"));
  ASSERT_TRUE(wait_until(
      [&] {
        return dojo::testing::run_command("squeue -h -j " + blocker_id + " -o %T").output.rfind(
                   "RUNNING", 0) == 0;
      },
      60, 100));
  const auto r = submit_tiny(c, dataset, 2);
  ASSERT_EQ(r.status, 201) << r.body;
  const auto id = r.json()["id"].get<std::int64_t>();
  ASSERT_TRUE(wait_until([&] { return !job_of(c, id)["executor_id"].is_null(); }, 60, 100))
      << job_of(c, id).dump();
  std::this_thread::sleep_for(std::chrono::seconds(2));  // several probes of the waiting job
  const auto waiting = job_of(c, id);
  EXPECT_EQ(waiting["state"], "running") << waiting.dump();
  EXPECT_TRUE(waiting["started_s"].is_null()) << "started while Slurm kept it PENDING: "
                                              << waiting.dump();
  const double released = std::chrono::duration<double>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
  dojo::testing::run_command("scancel " + blocker_id);
  const auto done = wait_state(c, id, "succeeded", 180);
  ASSERT_FALSE(done.is_null()) << job_of(c, id).dump();
  ASSERT_TRUE(done["started_s"].is_number()) << done.dump();
  EXPECT_GE(done["started_s"].get<double>(), released - 1.0) << done.dump();
  EXPECT_EQ(server.terminate(20), 0);
}

}  // namespace
}  // namespace dojo::serve_test
