// `dojo train` end to end on synthetic clips: outputs, learning, 1 vs N ranks, bit-exact
// resume, and the errors a user meets first.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "testing/command.hpp"
#include "train/checkpoint.hpp"
#include "train/report.hpp"

namespace dojo::train {
namespace {
namespace fs = std::filesystem;

using testing::CommandResult;
using testing::mpiexec;
using testing::run_command;

CommandResult run(const std::string& command) {
  return run_command(command);
}
std::string dojo() {
  return testing::dojo_bin();
}

class TrainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / fmt::format("dojo-train-{}", ::getpid());
    fs::remove_all(root_);
    fs::create_directories(root_);
    const std::string r = root_.string();
    for (const auto& cmd :
         {fmt::format(
              "{} synth --out {}/videos --clips 4 --seconds 4 --size 96x64 --fps 15 --seed 1",
              dojo(), r),
          fmt::format("{} synth --out {}/heldout --clips 2 --seconds 4 --size 96x64 --fps 15 "
                      "--seed 77 --first-index 50",
                      dojo(), r),
          fmt::format("{} ingest {}/videos --out {}/shards --frames 4 --size 16x16", dojo(), r, r),
          fmt::format("{} ingest {}/heldout --out {}/eval --frames 4 --size 16x16", dojo(), r,
                      r)}) {
      const auto res = run(cmd);
      ASSERT_EQ(res.exit_code, 0) << cmd << "\n" << res.output;
    }
    std::ofstream(root_ / "tiny.yaml") << fmt::format(
        "model: tiny\ndata:\n  shards: {0}/shards\n  eval_shards: {0}/eval\n  workers: 1\n"
        "train:\n  steps: 30\n  global_batch: 8\n  lr: 0.003\n  warmup_steps: 5\n"
        "  checkpoint_every: 10\neval:\n  clips: 16\n  samples: 2\nmesh:\n  preset: tile\n",
        r);
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  static std::string train_cmd(const std::string& run_dir, const std::string& extra = "") {
    return fmt::format("{} train --config {}/tiny.yaml --run-dir {}/{} {}", dojo(), root_.string(),
                       root_.string(), run_dir, extra);
  }
  static Checkpoint final_checkpoint(const std::string& run_dir) {
    auto c = load_latest_checkpoint((root_ / run_dir).string());
    EXPECT_TRUE(c.has_value()) << run_dir;
    return c ? *c : Checkpoint{};
  }
  static fs::path root_;
};
fs::path TrainTest::root_;

TEST_F(TrainTest, DemoRunWritesEverythingAndEvalReproducesItsNumbers) {
  const auto res = run(train_cmd("demo"));
  ASSERT_EQ(res.exit_code, 0) << res.output;
  const fs::path dir = root_ / "demo";
  for (const char* f :
       {"config.yaml", "metrics.jsonl", "loss.png", "trace.json", "eval.json",
        "samples/step-000030-oracle-stats.png",
        "samples/step-000030-visible-stats.png", "checkpoints/latest", "checkpoints/step-000030.h5"}) {
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  }
  std::ifstream metrics(dir / "metrics.jsonl");
  int steps = 0;
  nlohmann::json last_eval_row;
  for (std::string line; std::getline(metrics, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.value("kind", "") == "eval") last_eval_row = j;
    if (j.contains("loss")) {
      ++steps;
      for (const char* key : {"step", "lr", "grad_norm", "clips_per_s", "step_s", "data_wait_s",
                              "comm_s", "sim_step_s"}) {
        EXPECT_TRUE(j.contains(key)) << key;
      }
      EXPECT_GT(j["sim_step_s"].get<double>(), 0.0);
    }
  }
  EXPECT_EQ(steps, 30);
  const auto trace = nlohmann::json::parse(std::ifstream(dir / "trace.json"));
  EXPECT_FALSE(trace.empty());
  const auto eval = nlohmann::json::parse(std::ifstream(dir / "eval.json"));
  // 30 steps of the tiny model: the eval reports, it does not promise a win (see
  // docs/train.md); every number is there, and the held-out set spans both videos.
  for (const char* key : {"loss", "baseline_zero_loss", "baseline_copy_loss", "mse_oracle_stats",
                          "baseline_oracle_mean_mse", "mse_visible_stats",
                          "baseline_copy_mse_visible_stats", "per_source"}) {
    EXPECT_TRUE(eval.contains(key)) << key;
  }
  EXPECT_EQ(eval["per_source"].size(), 2u);
  EXPECT_GT(eval["baseline_zero_loss"].get<double>(), 0.5);
  // The final eval row of metrics.jsonl has every key of eval.json but loss (as eval_loss)
  // and per_source, with the same values.
  ASSERT_FALSE(last_eval_row.is_null()) << "no eval row in metrics.jsonl";
  for (const auto& [key, value] : eval.items()) {
    if (key == "per_source") continue;
    const std::string row_key = key == "loss" ? "eval_loss" : key;
    ASSERT_TRUE(last_eval_row.contains(row_key)) << row_key;
    EXPECT_EQ(last_eval_row[row_key], value) << row_key;
  }
  EXPECT_FALSE(last_eval_row.contains("per_source"));
  EXPECT_EQ(last_eval_row["sources"].get<int>(), 2);

  // dojo eval reproduces the same numbers from the checkpoint.
  const auto again = run(fmt::format("{} eval --run-dir {} --json", dojo(), dir.string()));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  const auto j = nlohmann::json::parse(again.output.substr(again.output.find('{')));
  EXPECT_NEAR(j["loss"].get<double>(), eval["loss"].get<double>(), 1e-9);
  EXPECT_NEAR(j["mse_visible_stats"].get<double>(), eval["mse_visible_stats"].get<double>(), 1e-9);
  EXPECT_EQ(j["clips"].get<int>(), 16);

  // dojo inspect shows the checkpoint's step, config hash and parameter hash...
  const std::string ckpt = (dir / "checkpoints" / "step-000030.h5").string();
  const auto shown = run(fmt::format("{} inspect --json {}", dojo(), ckpt));
  ASSERT_EQ(shown.exit_code, 0) << shown.output;
  const auto info = nlohmann::json::parse(shown.output.substr(shown.output.find('{')));
  const auto c = read_checkpoint(ckpt);
  EXPECT_EQ(info["step"].get<int>(), 30);
  EXPECT_EQ(info["config_hash"].get<std::string>(), c.meta.config_hash);
  EXPECT_EQ(info["params_xxh64"].get<std::string>(), fmt::format("{:016x}", c.params_xxh64));
  // ...and refuses a truncated one, naming it.
  fs::copy_file(ckpt, root_ / "broken.h5");
  fs::resize_file(root_ / "broken.h5", fs::file_size(ckpt) - 4096);
  const auto broken = run(fmt::format("{} inspect {}/broken.h5", dojo(), root_.string()));
  EXPECT_NE(broken.exit_code, 0);
  EXPECT_NE(broken.output.find("broken.h5"), std::string::npos) << broken.output;
}

// Also gradient accumulation: 2 ranks x 2 micro-batches of 2 clips is the same global
// batch of 8 ("ranks2x2").
TEST_F(TrainTest, SameGlobalBatchGivesSameParametersOn1And2And4RanksAndWithAccumulation) {
  const std::string steps = "--set train.steps=6 --set train.checkpoint_every=0";
  ASSERT_EQ(run(train_cmd("ranks1", steps)).exit_code, 0);
  for (int n : {2, 4}) {
    const auto res = run(mpiexec(n) + train_cmd(fmt::format("ranks{}", n), steps));
    ASSERT_EQ(res.exit_code, 0) << res.output;
  }
  const auto accum = run(mpiexec(2) + train_cmd("ranks2x2", steps + " --set train.micro_batch=2"));
  ASSERT_EQ(accum.exit_code, 0) << accum.output;
  EXPECT_NE(accum.output.find("2 rank(s) x 2 micro-batch(es) of 2 clips"), std::string::npos)
      << accum.output;
  // Float sums in another order make gradients differ in the last bits. Adam turns a
  // near-zero gradient into an update of about +-lr whatever its size, so a handful of
  // such parameters may move by up to ~lr; everything else must agree closely, and the
  // per-step losses must agree to float precision.
  const auto one = final_checkpoint("ranks1");
  const auto losses = [](const std::string& dir) {
    std::vector<double> out;
    std::ifstream in(root_ / dir / "metrics.jsonl");
    for (std::string line; std::getline(in, line);) {
      const auto j = nlohmann::json::parse(line);
      if (j.contains("loss")) out.push_back(j["loss"].get<double>());
    }
    return out;
  };
  const auto one_losses = losses("ranks1");
  ASSERT_EQ(one_losses.size(), 6u);
  for (const std::string run_name : {"ranks2", "ranks4", "ranks2x2"}) {
    const auto many = final_checkpoint(run_name);
    ASSERT_EQ(many.params.size(), one.params.size());
    double worst = 0;
    std::size_t loose = 0;
    for (std::size_t i = 0; i < one.params.size(); ++i) {
      const double d = std::abs(many.params[i] - one.params[i]);
      worst = std::max(worst, d);
      loose += d > 1e-5;
    }
    EXPECT_LT(worst, 0.003) << run_name << ": max parameter difference " << worst;
    EXPECT_LT(loose, one.params.size() / 200)
        << run_name << ": " << loose << " parameters differ by > 1e-5";
    const auto many_losses = losses(run_name);
    ASSERT_EQ(many_losses.size(), one_losses.size());
    for (std::size_t s = 0; s < one_losses.size(); ++s) {
      EXPECT_NEAR(many_losses[s], one_losses[s], 1e-5 * one_losses[s])
          << run_name << ", step " << s + 1;
    }
  }
}

TEST_F(TrainTest, InterruptedAndResumedRunEndsBitwiseEqualOn1And2Ranks) {
  for (int n : {1, 2}) {
    const std::string launch = n == 1 ? "" : mpiexec(n);
    const std::string full = fmt::format("full{}", n), parts = fmt::format("parts{}", n);
    ASSERT_EQ(run(launch + train_cmd(full, "--set train.steps=16")).exit_code, 0);
    ASSERT_EQ(run(launch + train_cmd(parts, "--set train.steps=16 --stop-after 7")).exit_code, 0);
    EXPECT_EQ(final_checkpoint(parts).meta.step, 7);
    const auto res = run(launch + train_cmd(parts, "--set train.steps=16 --resume auto"));
    ASSERT_EQ(res.exit_code, 0) << res.output;
    EXPECT_NE(res.output.find("resuming from"), std::string::npos) << res.output;
    const auto a = final_checkpoint(full), b = final_checkpoint(parts);
    EXPECT_EQ(b.meta.step, 16);
    EXPECT_EQ(a.params_xxh64, b.params_xxh64) << n << " ranks";
    EXPECT_EQ(a.adam_m, b.adam_m) << n << " ranks";
  }
}

// Resuming from a checkpoint older than the last row abandons the rows after it: the file
// stays append-only (a resume row marks the point), and its readers see each step once,
// with the values of the resumed run.
TEST_F(TrainTest, ResumingFromAnOlderCheckpointAbandonsTheLaterRows) {
  ASSERT_EQ(run(train_cmd("older")).exit_code, 0);
  const fs::path metrics = root_ / "older" / "metrics.jsonl";
  const auto first = read_metrics(metrics.string());
  ASSERT_EQ(first.size(), 31u);  // 30 steps and the final eval
  const auto res = run(train_cmd(
      "older", fmt::format("--resume {}/older/checkpoints/step-000010.h5", root_.string())));
  ASSERT_EQ(res.exit_code, 0) << res.output;
  std::ifstream in(metrics);
  int raw_rows = 0, resume_rows = 0;
  for (std::string line; std::getline(in, line); ++raw_rows) {
    const auto j = nlohmann::json::parse(line);
    if (j.value("kind", "") == "resume") {
      ++resume_rows;
      EXPECT_EQ(j["step"].get<int>(), 10);
    }
  }
  EXPECT_EQ(raw_rows, 31 + 1 + 21);  // the first run, the resume row, steps 11..30 and an eval
  EXPECT_EQ(resume_rows, 1);
  const auto rows = read_metrics(metrics.string());
  ASSERT_EQ(rows.size(), first.size());
  std::vector<int> steps;
  for (const auto& row : rows) {
    if (row.contains("loss")) steps.push_back(row["step"].get<int>());
  }
  ASSERT_EQ(steps.size(), 30u);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(steps[std::size_t(i)], i + 1);
  // A bit-exact resume: the steps it ran again have the losses the first run had.
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].contains("loss")) {
      EXPECT_EQ(rows[i]["loss"], first[i]["loss"]) << "step " << rows[i]["step"];
    }
  }
}

TEST_F(TrainTest, ResumingAFinishedRunDoesNothingAndAddsNoRows) {
  ASSERT_EQ(run(train_cmd("finished", "--set train.steps=10")).exit_code, 0);
  const auto before = fs::file_size(root_ / "finished" / "metrics.jsonl");
  const auto res = run(train_cmd("finished", "--set train.steps=10 --resume auto"));
  ASSERT_EQ(res.exit_code, 0) << res.output;
  EXPECT_NE(res.output.find("nothing to do: the run is already at step 10"), std::string::npos)
      << res.output;
  EXPECT_EQ(res.output.find("final loss"), std::string::npos) << res.output;
  EXPECT_EQ(fs::file_size(root_ / "finished" / "metrics.jsonl"), before);
  EXPECT_TRUE(fs::exists(root_ / "finished" / "eval.json"));
}

TEST_F(TrainTest, ResumeAutoOverOnlyDamagedCheckpointsIsRefusedAndTouchesNothing) {
  ASSERT_EQ(run(train_cmd("damaged", "--set train.steps=20")).exit_code, 0);
  const fs::path dir = root_ / "damaged" / "checkpoints";
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".h5") fs::resize_file(e.path(), 1000);
  }
  const auto metrics_before = fs::file_size(root_ / "damaged" / "metrics.jsonl");
  std::string latest_before;
  std::getline(std::ifstream(dir / "latest"), latest_before);
  const auto res = run(train_cmd("damaged", "--set train.steps=20 --resume auto"));
  EXPECT_NE(res.exit_code, 0) << res.output;
  EXPECT_NE(res.output.find("every checkpoint in"), std::string::npos) << res.output;
  EXPECT_NE(res.output.find("is damaged"), std::string::npos) << res.output;
  EXPECT_EQ(fs::file_size(root_ / "damaged" / "metrics.jsonl"), metrics_before);
  std::string latest_after;
  std::getline(std::ifstream(dir / "latest"), latest_after);
  EXPECT_EQ(latest_after, latest_before);
  // An inspect of the run folder says what is wrong with its newest checkpoint.
  const auto inspect = run(fmt::format("{} inspect {}/damaged", dojo(), root_.string()));
  EXPECT_NE(inspect.exit_code, 0);
  EXPECT_NE(inspect.output.find("no usable checkpoint"), std::string::npos) << inspect.output;
}

TEST_F(TrainTest, AModelFileNamedInAConfigIsFoundNextToTheConfigFromAnyFolder) {
  const fs::path conf = root_ / "conf";
  fs::create_directories(conf);
  const char* source = std::getenv("DOJO_SOURCE_DIR");
  ASSERT_NE(source, nullptr) << "DOJO_SOURCE_DIR is set by CTest";
  fs::copy_file(fs::path(source) / "configs" / "model-tiny.yaml", conf / "m.yaml",
                fs::copy_options::overwrite_existing);
  std::ifstream in(root_ / "tiny.yaml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  text.replace(text.find("model: tiny"), 11, "model: m.yaml");
  std::ofstream(conf / "train.yaml") << text;
  // Run from a folder where m.yaml is not.
  const auto res = run(fmt::format("cd {} && {} train --config {}/train.yaml --run-dir {}/beside "
                                   "--set train.steps=2",
                                   fs::temp_directory_path().string(), dojo(), conf.string(),
                                   root_.string()));
  ASSERT_EQ(res.exit_code, 0) << res.output;
  EXPECT_EQ(final_checkpoint("beside").meta.step, 2);
}

TEST_F(TrainTest, DebugModeChecksGradientsAndLogsPerLayerNorms) {
  const auto res = run(train_cmd("debug", "--debug --set train.steps=1"));
  ASSERT_EQ(res.exit_code, 0) << res.output;
  // Finite differences agree with backward for every parameter it checks.
  EXPECT_NE(res.output.find("gradient check: 8/8 parameters agree"), std::string::npos)
      << res.output;
  EXPECT_EQ(res.output.find("MISMATCH"), std::string::npos) << res.output;
  for (const char* layer : {"embed", "encoder.1", "decoder.0", "head"}) {
    EXPECT_NE(res.output.find(fmt::format("debug: layer {} ", layer)), std::string::npos)
        << layer << "\n"
        << res.output;
  }
  EXPECT_NE(res.output.find("debug: activations of encoder.0"), std::string::npos) << res.output;
}

TEST_F(TrainTest, ConfigErrorsNameTheKey) {
  auto res = run(train_cmd("bad", "--set train.stpes=3"));
  EXPECT_EQ(res.exit_code, 2);
  EXPECT_NE(res.output.find("train.stpes"), std::string::npos) << res.output;
  res = run(train_cmd("bad", "--set train.global_batch=-1"));
  EXPECT_EQ(res.exit_code, 2);
  EXPECT_NE(res.output.find("train.global_batch"), std::string::npos) << res.output;
  res = run(mpiexec(3) + train_cmd("bad3"));  // 8 clips do not split over 3 ranks
  EXPECT_NE(res.exit_code, 0);
  EXPECT_NE(res.output.find("train.global_batch"), std::string::npos) << res.output;
}

TEST_F(TrainTest, MissingDataIsNamedByItsConfigKeyAndLeavesNoRunFolder) {
  for (const char* key : {"data.shards", "data.eval_shards"}) {
    const std::string dir = fmt::format("nodata-{}", key);
    const auto res = run(train_cmd(dir, fmt::format("--set {}={}/no-such-folder", key,
                                                    root_.string())));
    EXPECT_EQ(res.exit_code, 2) << res.output;
    EXPECT_NE(res.output.find(fmt::format("config key '{}': {}/no-such-folder does not exist",
                                          key, root_.string())),
              std::string::npos)
        << res.output;
    EXPECT_FALSE(fs::exists(root_ / dir)) << "a run folder was left behind for " << key;
  }
  const auto video = run(train_cmd(
      "nodata-videos", fmt::format("--set 'data.videos=[{}/no-such.mp4]'", root_.string())));
  EXPECT_EQ(video.exit_code, 2) << video.output;
  EXPECT_NE(video.output.find(fmt::format("config key 'data.videos': {}/no-such.mp4 does not exist",
                                          root_.string())),
            std::string::npos)
      << video.output;
  EXPECT_FALSE(fs::exists(root_ / "nodata-videos"));
}

TEST_F(TrainTest, UnwritableRunDirectoryIsReportedBeforeTraining) {
  const auto res = run(fmt::format("{} train --config {}/tiny.yaml --run-dir /proc/dojo-run",
                                   dojo(), root_.string()));
  EXPECT_NE(res.exit_code, 0);
  EXPECT_NE(res.output.find("/proc/dojo-run"), std::string::npos) << res.output;
  EXPECT_EQ(res.output.find("step 1/"), std::string::npos) << "training started: " << res.output;
}

}  // namespace
}  // namespace dojo::train
