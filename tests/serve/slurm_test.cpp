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

}  // namespace
}  // namespace dojo::serve_test
