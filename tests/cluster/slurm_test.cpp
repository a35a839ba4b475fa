// scripts/slurm/train.sbatch on a real single-node Slurm cluster (scripts/slurm/
// local-cluster.sh, started and stopped by this test): a job that completes, a job
// cancelled and resubmitted, SIGUSR1 (sent by hand and by the time limit), a rank killed
// with SIGKILL, and ingest.sbatch. Also srun without an MPI process manager: refused
// with the variables named, or joined through MASTER_ADDR/MASTER_PORT.
#include <set>
#include <sstream>

#include "cluster/cluster_util.hpp"

namespace dojo::cluster_test {
namespace {

class SlurmTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / fmt::format("dojo-slurm-{}", ::getpid());
    fs::remove_all(root_);
    fs::create_directories(root_);
    config_ = make_tiny_setup(root_);
    cluster_ = root_ / "cluster";
    const std::string script = source_dir() + "/scripts/slurm/local-cluster.sh";
    // Stop the daemons even if this process dies without reaching TearDownTestSuite.
    std::system(fmt::format("setsid sh -c 'while kill -0 {} 2>/dev/null; do sleep 1; done; "
                            "[ -d {} ] && {} stop {}' > /dev/null 2>&1 < /dev/null &",
                            ::getpid(), cluster_.string(), script, cluster_.string())
                    .c_str());
    const auto res =
        run(fmt::format("{} start {}", script, cluster_.string()), root_ / "start.log");
    if (res.exit_code != 0) {
      cluster_error_ = fmt::format("exit {}: {}", res.exit_code, res.output);
    }
    ::setenv("SLURM_CONF", (cluster_ / "slurm.conf").c_str(), 1);
  }
  static void TearDownTestSuite() {
    const auto res = run(
        fmt::format("{}/scripts/slurm/local-cluster.sh stop {}", source_dir(), cluster_.string()),
        root_ / "stop.log");
    EXPECT_EQ(res.exit_code, 0) << res.output;
    fs::remove_all(root_);
  }
  void SetUp() override {
    if (!cluster_error_.empty()) {
      GTEST_SKIP() << "the local Slurm cluster did not start (Slurm cannot run here): "
                   << cluster_error_;
    }
  }

  // Submits train.sbatch (2 tasks, 1 CPU each, as in its header; `sbatch_options` go before
  // the script) and returns the job id.
  static std::string submit(const fs::path& run_dir, const std::string& extra,
                            const std::string& sbatch_options = "") {
    const auto res = run(fmt::format("sbatch --parsable --chdir={0} --output={0}/job-%j.out {5} "
                                     "{1}/scripts/slurm/train.sbatch {2} {3} {4}",
                                     root_.string(), source_dir(), config_.string(),
                                     run_dir.string(), extra, sbatch_options),
                         root_ / "sbatch.log");
    EXPECT_EQ(res.exit_code, 0) << res.output;
    std::string id = res.output.substr(0, res.output.find_first_of(";\n"));
    EXPECT_FALSE(id.empty() || id.find_first_not_of("0123456789") != std::string::npos)
        << res.output;
    return id;
  }
  // A field of `scontrol show job` (JobState, ExitCode, ...).
  static std::string job_field(const std::string& id, const std::string& field) {
    const auto res = run("scontrol show job -o " + id, root_ / "scontrol.log");
    std::istringstream words(res.output);
    for (std::string word; words >> word;) {
      if (word.rfind(field + "=", 0) == 0) return word.substr(field.size() + 1);
    }
    return "";
  }
  static bool finished(const std::string& id) {
    static const std::set<std::string> kFinal = {"COMPLETED", "CANCELLED", "FAILED",
                                                 "TIMEOUT",   "NODE_FAIL", "OUT_OF_MEMORY",
                                                 "PREEMPTED", "BOOT_FAIL", "DEADLINE"};
    return kFinal.count(job_field(id, "JobState")) != 0;
  }
  // Waits up to `seconds` for the job to end; its final state, or "" if still running.
  static std::string wait_job(const std::string& id, double seconds) {
    wait_until([&] { return finished(id); }, seconds);
    return finished(id) ? job_field(id, "JobState") : "";
  }
  static std::string output(const std::string& id) {
    return read_text(root_ / fmt::format("job-{}.out", id));
  }
  // Submits and waits for a job that must complete.
  static void run_to_completion(const fs::path& run_dir, const std::string& extra) {
    const std::string id = submit(run_dir, extra);
    EXPECT_EQ(wait_job(id, 300), "COMPLETED") << output(id);
    EXPECT_EQ(job_field(id, "ExitCode"), "0:0") << output(id);
  }
  // Waits until the running job's run directory holds a checkpoint of at least `step`.
  static void wait_for_checkpoint(const std::string& id, const fs::path& run_dir,
                                  std::int64_t step) {
    ASSERT_TRUE(wait_until([&] { return latest_step(run_dir) >= step || finished(id); }, 180))
        << "no checkpoint of step " << step << " within 180 s:\n"
        << output(id);
    ASSERT_FALSE(finished(id)) << "the job ended before it could be interrupted:\n" << output(id);
  }

  static fs::path root_, config_, cluster_;
  static std::string cluster_error_;
};
fs::path SlurmTest::root_, SlurmTest::config_, SlurmTest::cluster_;
std::string SlurmTest::cluster_error_;

TEST_F(SlurmTest, BatchJobOnTwoTasksCompletesWithMetricsAndCheckpoints) {
  const fs::path run_dir = root_ / "basic";
  const std::string id = submit(run_dir, "");
  ASSERT_EQ(wait_job(id, 300), "COMPLETED") << output(id);
  EXPECT_EQ(job_field(id, "ExitCode"), "0:0");
  const std::string out = output(id);
  EXPECT_NE(out.find("2 ranks x 1 threads"), std::string::npos) << out;
  EXPECT_NE(out.find("on 2 rank(s)"), std::string::npos) << out;
  std::ifstream metrics(run_dir / "metrics.jsonl");
  int steps = 0;
  for (std::string line; std::getline(metrics, line);) steps += line.find("\"loss\"") != line.npos;
  EXPECT_EQ(steps, 20);
  for (const char* f : {"config.yaml", "checkpoints/latest", "checkpoints/step-000010.h5",
                        "checkpoints/step-000020.h5"}) {
    EXPECT_TRUE(fs::exists(run_dir / f)) << f;
  }
  EXPECT_EQ(latest_step(run_dir), 20);
}

TEST_F(SlurmTest, CancelledJobResubmittedResumesAndEndsEqualToAnUninterruptedRun) {
  const fs::path full = root_ / "uninterrupted", parts = root_ / "cancelled";
  run_to_completion(full, kLongRun);

  const std::string id = submit(parts, kLongRun);
  wait_for_checkpoint(id, parts, 200);
  ASSERT_EQ(run("scancel " + id, root_ / "scancel.log").exit_code, 0);
  ASSERT_EQ(wait_job(id, 120), "CANCELLED") << output(id);
  // scancel sends SIGTERM: the ranks finish their step and checkpoint it.
  EXPECT_NE(output(id).find("stop signal: checkpoint written"), std::string::npos) << output(id);
  const std::int64_t saved = latest_step(parts);
  ASSERT_GE(saved, 200);
  ASSERT_LT(saved, kLongRunSteps);

  const std::string again = submit(parts, kLongRun);
  ASSERT_EQ(wait_job(again, 300), "COMPLETED") << output(again);
  EXPECT_NE(output(again).find(fmt::format("(step {})", saved)), std::string::npos)
      << "expected to resume from step " << saved << ":\n"
      << output(again);
  const auto a = latest(full), b = latest(parts);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(b->meta.step, kLongRunSteps);
  EXPECT_EQ(a->params_xxh64, b->params_xxh64);
  EXPECT_EQ(a->adam_m, b->adam_m);
}

TEST_F(SlurmTest, Sigusr1ToTheJobWritesACheckpointAndTheNextChainedJobContinues) {
  // What Slurm does before the time limit (--signal=USR1@120), sent now, to the first of two
  // jobs chained with --dependency=singleton (the recipe for runs longer than the limit).
  // The run is far longer than the test, so each job ends only by the signal; there are no
  // periodic checkpoints, so the one that appears is the signal's.
  const fs::path run_dir = root_ / "usr1";
  const std::string settings =
      "--set train.steps=100000000 --set train.checkpoint_every=0 --set train.log_every=100";
  const std::string chain =
      fmt::format("--dependency=singleton --job-name=dojo-chain-{}", ::getpid());
  const std::string first = submit(run_dir, settings, chain);
  const std::string second = submit(run_dir, settings, chain);
  const auto metrics_reach = [&](std::int64_t step) {
    return wait_until(
        [&] {
          return read_text(run_dir / "metrics.jsonl").find(fmt::format("\"step\":{}", step)) !=
                 std::string::npos;
        },
        180);
  };
  ASSERT_TRUE(metrics_reach(200)) << output(first);
  ASSERT_FALSE(finished(first)) << output(first);
  ASSERT_FALSE(fs::exists(run_dir / "checkpoints" / "latest"));
  EXPECT_EQ(job_field(second, "JobState"), "PENDING");
  ASSERT_EQ(run("scancel --signal=USR1 " + first, root_ / "scancel.log").exit_code, 0);

  ASSERT_EQ(wait_job(first, 120), "COMPLETED") << output(first);
  EXPECT_EQ(job_field(first, "ExitCode"), "0:0");
  EXPECT_NE(output(first).find("stop signal: checkpoint written at step"), std::string::npos)
      << output(first);
  const std::int64_t step = latest_step(run_dir);
  EXPECT_GE(step, 200);

  // The chained job starts once the first has ended and continues from its checkpoint.
  ASSERT_TRUE(wait_until([&] { return output(second).find("resuming from") != std::string::npos; },
                         120))
      << output(second);
  EXPECT_NE(output(second).find(fmt::format("(step {})", step)), std::string::npos)
      << "expected to resume from step " << step << ":\n"
      << output(second);
  ASSERT_TRUE(metrics_reach((step / 100 + 2) * 100)) << output(second);
  ASSERT_EQ(run("scancel --signal=USR1 " + second, root_ / "scancel2.log").exit_code, 0);
  ASSERT_EQ(wait_job(second, 120), "COMPLETED") << output(second);
  EXPECT_GT(latest_step(run_dir), step);
}

TEST_F(SlurmTest, TimeLimitSignalFromTheHeaderCheckpointsAndTheJobCompletesNotTimesOut) {
  // A 1-minute limit with the header's --signal=USR1@120: Slurm signals at its first
  // time-limit check. The job must end COMPLETED with a checkpoint, not TIMEOUT.
  const fs::path run_dir = root_ / "timelimit";
  const std::string id =
      submit(run_dir,
             "--set train.steps=10000000 --set train.checkpoint_every=0 --set train.log_every=1000",
             "--time=1");
  const std::string state = wait_job(id, 150);
  ASSERT_EQ(state, "COMPLETED") << output(id);
  EXPECT_EQ(job_field(id, "ExitCode"), "0:0");
  EXPECT_NE(output(id).find("stop signal: checkpoint written at step"), std::string::npos)
      << output(id);
  const std::int64_t step = latest_step(run_dir);
  EXPECT_GT(step, 0);
  EXPECT_LT(step, 10000000);
}

TEST_F(SlurmTest, IngestBatchJobSplitsVideosOverTwoRanks) {
  const fs::path out = root_ / "ingested";
  const auto res = run(fmt::format("sbatch --parsable --chdir={0} --output={0}/job-%j.out "
                                   "{1}/scripts/slurm/ingest.sbatch {0}/videos {2} --frames 4 "
                                   "--size 16x16",
                                   root_.string(), source_dir(), out.string()),
                       root_ / "sbatch.log");
  ASSERT_EQ(res.exit_code, 0) << res.output;
  const std::string id = res.output.substr(0, res.output.find_first_of(";\n"));
  ASSERT_EQ(wait_job(id, 300), "COMPLETED") << output(id);
  EXPECT_NE(output(id).find("[rank 1/2] ingest"), std::string::npos) << output(id);
  EXPECT_TRUE(fs::exists(out / "manifest.json"));
  const auto inspect =
      run(fmt::format("{} inspect {}", dojo(), out.string()), root_ / "inspect.log");
  EXPECT_EQ(inspect.exit_code, 0) << inspect.output;
  EXPECT_NE(inspect.output.find("60 clips"), std::string::npos) << inspect.output;
}

TEST_F(SlurmTest, KillNineOfOneRankEndsTheJobWithin60sAndAResubmitResumes) {
  const fs::path run_dir = root_ / "kill9";
  const std::string id = submit(run_dir, kLongRun);
  wait_for_checkpoint(id, run_dir, 200);
  // `scontrol listpids`: PID JOBID STEPID LOCALID GLOBALID; rank 1 of step 0.
  const auto pids = run("scontrol listpids " + id, root_ / "listpids.log");
  pid_t victim = 0;
  std::istringstream lines(pids.output);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream f(line);
    std::string pid, job, step, local;
    if (f >> pid >> job >> step >> local && step == "0" && local == "1") victim = std::stoi(pid);
  }
  ASSERT_GT(victim, 0) << pids.output;
  ASSERT_EQ(::kill(victim, SIGKILL), 0);

  const std::string state = wait_job(id, 60);
  ASSERT_FALSE(state.empty()) << "the job still runs 60 s after kill -9 of rank 1:\n" << output(id);
  EXPECT_EQ(state, "FAILED") << output(id);
  EXPECT_NE(job_field(id, "ExitCode"), "0:0");
  const std::int64_t saved = latest_step(run_dir);
  ASSERT_GE(saved, 200);
  ASSERT_LT(saved, kLongRunSteps);

  const std::string again = submit(run_dir, kLongRun);
  ASSERT_EQ(wait_job(again, 300), "COMPLETED") << output(again);
  EXPECT_NE(output(again).find(fmt::format("(step {})", saved)), std::string::npos)
      << "expected to resume from step " << saved << ":\n"
      << output(again);
  EXPECT_EQ(latest_step(run_dir), kLongRunSteps);
}

TEST_F(SlurmTest, SrunWithoutPmixIsRefusedNamingTheVariablesInsteadOfTwoRankZeros) {
  const auto res = run(fmt::format("srun --mpi=none -n 2 -t 2 {} train --config {} --run-dir {}",
                                   dojo(), config_.string(), (root_ / "nopmix").string()),
                       root_ / "nopmix.log");
  EXPECT_NE(res.exit_code, 0) << res.output;
  EXPECT_NE(res.output.find("SLURM_STEP_NUM_TASKS=2"), std::string::npos) << res.output;
  EXPECT_NE(res.output.find("--mpi=pmix"), std::string::npos) << res.output;
  EXPECT_EQ(res.output.find("step 1/"), std::string::npos) << "training started:\n"
                                                           << res.output;
}

TEST_F(SlurmTest, SrunWithoutPmixButWithMasterAddrTrainsAsTwoRanks) {
  const fs::path run_dir = root_ / "srun-tcp";
  const auto res = run(fmt::format("MASTER_ADDR=127.0.0.1 MASTER_PORT={} srun --mpi=none -n 2 "
                                   "-t 2 {} train --config {} --run-dir {}",
                                   20000 + ::getpid() % 20000, dojo(), config_.string(),
                                   run_dir.string()),
                       root_ / "srun-tcp.log");
  ASSERT_EQ(res.exit_code, 0) << res.output;
  EXPECT_NE(res.output.find("slurm launch: 2 ranks joined through the rendezvous"),
            std::string::npos)
      << res.output;
  EXPECT_EQ(latest_step(run_dir), 20);
}

}  // namespace
}  // namespace dojo::cluster_test
