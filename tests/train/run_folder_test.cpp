// A run folder is never destroyed by accident: one trainer at a time (a lock naming the
// holder), no fresh start over checkpoints, no config change on resume unless named, and
// errors that every rank finds printed once with a documented exit code.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "core/exit_codes.hpp"
#include "testing/command.hpp"
#include "train/checkpoint.hpp"

namespace dojo::train {
namespace {
namespace fs = std::filesystem;
using testing::mpiexec;
using testing::run_command;

std::string dojo() { return testing::dojo_bin(); }

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class RunFolderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / fmt::format("dojo-runfolder-{}", ::getpid());
    fs::remove_all(root_);
    fs::create_directories(root_);
    const std::string r = root_.string();
    for (const auto& cmd :
         {fmt::format("{} synth --out {}/videos --clips 2 --seconds 3 --size 64x48 --fps 15 --seed 3",
                      dojo(), r),
          fmt::format("{} ingest {}/videos --out {}/shards --frames 4 --size 16x16", dojo(), r, r)}) {
      const auto res = run_command(cmd);
      ASSERT_EQ(res.exit_code, 0) << cmd << "\n" << res.output;
    }
    std::ofstream(root_ / "tiny.yaml") << fmt::format(
        "model: tiny\ndata:\n  shards: {0}/shards\n  workers: 1\ntrain:\n  steps: 6\n"
        "  global_batch: 4\n  checkpoint_every: 2\n  keep_checkpoints: 2\neval:\n  clips: 0\n",
        r);
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }
  static std::string train(const std::string& run, const std::string& extra = "") {
    return fmt::format("{} train --config {}/tiny.yaml --run-dir {}/{} {}", dojo(), root_.string(),
                       root_.string(), run, extra);
  }
  static fs::path root_;
};
fs::path RunFolderTest::root_;

TEST_F(RunFolderTest, FreshStartIntoAFolderWithCheckpointsIsRefusedAndNothingIsTouched) {
  ASSERT_EQ(run_command(train("kept")).exit_code, 0);
  const fs::path metrics = root_ / "kept" / "metrics.jsonl";
  const auto size_before = fs::file_size(metrics);
  const auto latest_before = load_latest_checkpoint((root_ / "kept").string());
  ASSERT_TRUE(latest_before.has_value());

  const auto again = run_command(train("kept"));
  EXPECT_EQ(again.exit_code, kExitBadInput) << again.output;
  EXPECT_NE(again.output.find("already holds checkpoints"), std::string::npos) << again.output;
  EXPECT_NE(again.output.find("--resume auto"), std::string::npos) << again.output;
  EXPECT_EQ(fs::file_size(metrics), size_before);
  const auto latest_after = load_latest_checkpoint((root_ / "kept").string());
  ASSERT_TRUE(latest_after.has_value());
  EXPECT_EQ(latest_after->path, latest_before->path);
  EXPECT_EQ(latest_after->params_xxh64, latest_before->params_xxh64);
  // On 2 ranks only rank 0 opens the folder; the other fails with its error, so the job
  // ends with one message and the same exit code, not an abort.
  const auto ranks2 = run_command(mpiexec(2) + train("kept"));
  EXPECT_EQ(ranks2.exit_code, kExitBadInput) << ranks2.output;
  EXPECT_EQ(count_of(ranks2.output, "already holds checkpoints"), 1u) << ranks2.output;
  EXPECT_NE(ranks2.output.find("(every rank reported this)"), std::string::npos) << ranks2.output;
  EXPECT_EQ(ranks2.output.find("MPI_ABORT"), std::string::npos) << ranks2.output;
  EXPECT_EQ(fs::file_size(metrics), size_before);
}

TEST_F(RunFolderTest, ASecondTrainerOnTheSameFolderFailsAtOnceNamingTheHolder) {
  // The first trainer runs (long) in the background; the second must not start.
  const std::string first = train("locked", "--set train.steps=1000000 --set train.checkpoint_every=0");
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", ("exec " + first + " >/dev/null 2>&1").c_str(), nullptr);
    ::_exit(127);
  }
  // Wait until the first one holds the lock (its lock file names it).
  const fs::path lock = root_ / "locked" / ".lock";
  for (int i = 0; i < 300; ++i) {
    std::ifstream in(lock);
    std::string holder;
    if (std::getline(in, holder) && holder.find(fmt::format("pid {}", pid)) != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const auto start = std::chrono::steady_clock::now();
  const auto second = run_command(train("locked", "--resume auto"));
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_EQ(second.exit_code, kExitIo) << second.output;
  EXPECT_NE(second.output.find("in use by another trainer"), std::string::npos) << second.output;
  EXPECT_NE(second.output.find(fmt::format("pid {} on host", pid)), std::string::npos)
      << second.output;
  EXPECT_LT(waited, 30.0) << "the second trainer waited instead of failing at once";
}

TEST_F(RunFolderTest, AConfigChangeOnResumeIsRefusedUnlessNamed) {
  ASSERT_EQ(run_command(train("change", "--stop-after 2")).exit_code, 0);
  const auto refused = run_command(train("change", "--resume auto --set train.lr=0.0001"));
  EXPECT_EQ(refused.exit_code, kExitBadInput) << refused.output;
  EXPECT_NE(refused.output.find("train.lr"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("--allow-config-change"), std::string::npos) << refused.output;
  const auto allowed = run_command(
      train("change", "--resume auto --set train.lr=0.0001 --allow-config-change train.lr"));
  EXPECT_EQ(allowed.exit_code, 0) << allowed.output;
  const auto last = load_latest_checkpoint((root_ / "change").string());
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->meta.step, 6);
}

TEST_F(RunFolderTest, AnErrorEveryRankFindsIsPrintedOnceWithItsExitCode) {
  const auto res = run_command(mpiexec(2) + train("noisy", "--set train.stpes=3"));
  EXPECT_EQ(res.exit_code, kExitBadInput) << res.output;
  EXPECT_EQ(count_of(res.output, "unknown config key 'train.stpes'"), 1u) << res.output;
  EXPECT_EQ(res.output.find("MPI_ABORT"), std::string::npos) << res.output;
  EXPECT_EQ(res.output.find("read past end of buffer"), std::string::npos) << res.output;
}

TEST_F(RunFolderTest, BadValuesAndTypesNameTheirKey) {
  struct Case {
    std::string set, key;
  };
  for (const Case& c : {Case{"train.beta1=1", "train.beta1"},
                        Case{"train.global_batch=1000000000000", "train.global_batch"},
                        Case{"comm.timeout_s=0", "comm.timeout_s"},
                        Case{"train.steps=[1,2]", "train.steps"},
                        Case{"train.lr={a: 1}", "train.lr"},
                        Case{"mesh.preset=/tmp", "mesh.preset"},
                        Case{"model=/tmp", "model"}}) {
    const auto res = run_command(train("badvalue", "--set '" + c.set + "'"));
    EXPECT_EQ(res.exit_code, kExitBadInput) << c.set << "\n" << res.output;
    EXPECT_NE(res.output.find(c.key), std::string::npos) << c.set << "\n" << res.output;
    EXPECT_EQ(res.output.find("bad conversion"), std::string::npos) << res.output;
    EXPECT_EQ(res.output.find("underflow"), std::string::npos) << res.output;
  }
  // A section given as a list names the section.
  std::ofstream(root_ / "listy.yaml") << "train: [1, 2]\n";
  const auto res = run_command(fmt::format("{} train --config {}/listy.yaml --run-dir {}/listy",
                                           dojo(), root_.string(), root_.string()));
  EXPECT_EQ(res.exit_code, kExitBadInput) << res.output;
  EXPECT_NE(res.output.find("'train'"), std::string::npos) << res.output;
}

TEST_F(RunFolderTest, InitFromTakesOnlyTheWeightsAndTrainsOnAnotherDataSet) {
  ASSERT_EQ(run_command(train("source")).exit_code, 0);
  const auto source = load_latest_checkpoint((root_ / "source").string());
  ASSERT_TRUE(source.has_value());
  // Another data set: more videos, so another number of clips, of the same clip shape.
  const std::string r = root_.string();
  for (const auto& cmd :
       {fmt::format("{} synth --out {}/other --clips 3 --seconds 3 --size 64x48 --fps 15 --seed 9 "
                    "--first-index 20",
                    dojo(), r),
        fmt::format("{} ingest {}/other --out {}/other-shards --frames 4 --size 16x16", dojo(), r,
                    r)}) {
    const auto res = run_command(cmd);
    ASSERT_EQ(res.exit_code, 0) << cmd << "\n" << res.output;
  }
  // One step at a negligible learning rate: the result is the source's weights, with a fresh
  // optimizer and schedule (one AdamW step, step 1).
  const auto tuned = run_command(train(
      "tuned", fmt::format("--init-from {} --set data.shards={}/other-shards --set train.steps=1 "
                           "--set train.lr=1e-9 --set train.min_lr=0 --set train.warmup_steps=0",
                           source->path, r)));
  ASSERT_EQ(tuned.exit_code, 0) << tuned.output;
  EXPECT_NE(tuned.output.find("starting from the weights of"), std::string::npos) << tuned.output;
  const auto after = load_latest_checkpoint((root_ / "tuned").string());
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->meta.step, 1);
  EXPECT_EQ(after->meta.adam_steps, 1);
  ASSERT_EQ(after->params.size(), source->params.size());
  double worst = 0;
  for (std::size_t i = 0; i < source->params.size(); ++i)
    worst = std::max(worst, double(std::abs(after->params[i] - source->params[i])));
  EXPECT_LT(worst, 1e-6);
  // Another architecture is refused, naming the checkpoint.
  std::ofstream(root_ / "wider.yaml") << "frames: 4\nheight: 16\nwidth: 16\ntubelet_frames: 2\n"
                                         "patch: 4\nencoder_dim: 48\nencoder_depth: 2\n"
                                         "encoder_heads: 2\ndecoder_dim: 16\ndecoder_depth: 1\n"
                                         "decoder_heads: 2\n";
  const auto wider = run_command(
      train("wider", fmt::format("--init-from {} --set model={}/wider.yaml", source->path, r)));
  EXPECT_EQ(wider.exit_code, kExitBadData) << wider.output;
  EXPECT_NE(wider.output.find(source->path), std::string::npos) << wider.output;
  // The error names each field that differs, with both values, not the whole configs.
  EXPECT_NE(wider.output.find("encoder_dim: 32 in the checkpoint, 48 here"), std::string::npos)
      << wider.output;
  EXPECT_EQ(wider.output.find("mlp_ratio"), std::string::npos) << wider.output;
  // Fine-tuning may mask another share of the clip: the weights are the same shape.
  std::ofstream(root_ / "tiny-mask50.yaml") << "name: tiny-mask50\nframes: 4\nheight: 16\n"
                                               "width: 16\ntubelet_frames: 2\npatch: 4\n"
                                               "mask_ratio: 0.5\nencoder_dim: 32\n"
                                               "encoder_depth: 2\nencoder_heads: 2\n"
                                               "decoder_dim: 16\ndecoder_depth: 1\n"
                                               "decoder_heads: 2\n";
  const auto masked = run_command(train(
      "mask50", fmt::format("--init-from {} --set model={}/tiny-mask50.yaml --set train.steps=1",
                            source->path, r)));
  EXPECT_EQ(masked.exit_code, 0) << masked.output;
  // ...but a resume continues the run it was, masked as it was.
  const auto resumed = run_command(train(
      "source", fmt::format("--resume {} --set model={}/tiny-mask50.yaml --allow-config-change "
                            "model",
                            source->path, r)));
  EXPECT_EQ(resumed.exit_code, kExitBadData) << resumed.output;
  EXPECT_NE(resumed.output.find("mask_ratio: 0.75 in the checkpoint, 0.5 here"),
            std::string::npos)
      << resumed.output;
  EXPECT_NE(resumed.output.find("--init-from starts from its weights"), std::string::npos)
      << resumed.output;
  EXPECT_EQ(wider.output.find("--init-from starts from its weights"), std::string::npos)
      << wider.output;
  // The refused resume left the run's files as they were.
  std::ifstream model_yaml(root_ / "source" / "model.yaml");
  const std::string kept((std::istreambuf_iterator<char>(model_yaml)),
                         std::istreambuf_iterator<char>());
  EXPECT_NE(kept.find("mask_ratio: 0.75"), std::string::npos) << kept;
}

TEST_F(RunFolderTest, AMicroBatchTooLargeForMemoryIsRefusedBeforeAllocating) {
  const auto res = run_command(train(
      "huge", "--set model=bench --set train.global_batch=65536 --set train.micro_batch=65536"));
  EXPECT_EQ(res.exit_code, kExitBadInput) << res.output;
  EXPECT_NE(res.output.find("train.micro_batch"), std::string::npos) << res.output;
  EXPECT_EQ(res.output.find("bad_alloc"), std::string::npos) << res.output;
}

}  // namespace
}  // namespace dojo::train
