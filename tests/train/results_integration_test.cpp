// What a user takes away from a run, end to end through the CLI and from another working
// folder: eval (held-out clips spread over the source videos), embed, export.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "testing/command.hpp"
#include "train/embed.hpp"
#include "train/export.hpp"
#include "train/run_model.hpp"
#include "train/safetensors.hpp"

namespace dojo::train {
namespace {
namespace fs = std::filesystem;

using testing::run_command;

class ResultsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / fmt::format("dojo-results-{}", ::getpid());
    fs::remove_all(root_);
    fs::create_directories(root_ / "elsewhere");
    const std::string r = root_.string(), dojo = testing::dojo_bin();
    std::ofstream(root_ / "tiny.yaml") << fmt::format(
        "model: tiny\ndata:\n  shards: {0}/shards\n  eval_shards: {0}/eval\n  workers: 1\n"
        "train:\n  steps: 20\n  global_batch: 8\n  lr: 0.003\n  warmup_steps: 5\n"
        "  checkpoint_every: 20\neval:\n  clips: 12\n  samples: 2\nmesh:\n  preset: tile\n",
        r);
    for (const auto& cmd :
         {fmt::format("{} synth --out {}/videos --clips 3 --seconds 4 --size 96x64 --fps 15 "
                      "--seed 1",
                      dojo, r),
          fmt::format("{} synth --out {}/heldout --clips 2 --seconds 4 --size 96x64 --fps 15 "
                      "--seed 77 --first-index 50",
                      dojo, r),
          fmt::format("{} ingest {}/videos --out {}/shards --frames 4 --size 16x16", dojo, r, r),
          fmt::format("{} ingest {}/heldout --out {}/eval --frames 4 --size 16x16", dojo, r, r),
          fmt::format("{} train --config {}/tiny.yaml --run-dir {}/run", dojo, r, r)}) {
      const auto res = run_command(cmd);
      ASSERT_EQ(res.exit_code, 0) << cmd << "\n" << res.output;
    }
    checkpoint_ = (root_ / "run" / "checkpoints" / "step-000020.h5").string();
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }
  // Runs a dojo subcommand from a folder that holds nothing of the run.
  static testing::CommandResult elsewhere(const std::string& args, bool keep_stderr = true) {
    return run_command(
        fmt::format("cd {} && {} {}", (root_ / "elsewhere").string(), testing::dojo_bin(), args),
        keep_stderr);
  }
  static fs::path root_;
  static std::string checkpoint_;
};
fs::path ResultsTest::root_;
std::string ResultsTest::checkpoint_;

TEST_F(ResultsTest, EvalFromAnotherFolderSpreadsClipsOverEverySourceAndMatchesEvalJson) {
  const auto res = elsewhere(
      fmt::format("eval --checkpoint {} --data {}/eval --json", checkpoint_, root_.string()),
      false);
  ASSERT_EQ(res.exit_code, 0) << res.output;
  const auto j = nlohmann::json::parse(res.output);
  EXPECT_EQ(j["clips"].get<int>(), 12);
  ASSERT_EQ(j["per_source"].size(), 2u);
  for (const auto& [name, s] : j["per_source"].items()) {
    EXPECT_EQ(s["clips"].get<int>(), 6) << name;  // 15 clips per video: an even split
  }
  // The same numbers the trainer wrote at the end of the run.
  const auto written = nlohmann::json::parse(std::ifstream(root_ / "run" / "eval.json"));
  for (const char* key : {"loss", "baseline_zero_loss", "baseline_copy_loss", "mse_oracle_stats",
                          "baseline_oracle_mean_mse", "mse_visible_stats",
                          "baseline_zero_mse_visible_stats", "baseline_copy_mse_visible_stats"}) {
    EXPECT_NEAR(j[key].get<double>(), written[key].get<double>(), 1e-9) << key;
  }
  EXPECT_EQ(j["checkpoint"].get<std::string>(), checkpoint_);
  const auto from_run = elsewhere(fmt::format("eval --run-dir {}/run --json", root_.string()), false);
  ASSERT_EQ(from_run.exit_code, 0) << from_run.output;
  EXPECT_EQ(nlohmann::json::parse(from_run.output)["checkpoint"].get<std::string>(), checkpoint_);
  EXPECT_EQ(j["step"].get<int>(), written["step"].get<int>());
  EXPECT_EQ(j["data"].get<std::string>(), root_.string() + "/eval");
  // The printed verdict names what it compared, and which checkpoint: a run folder is
  // resolved to its newest checkpoint file.
  const auto text = elsewhere(fmt::format("eval --run-dir {}/run", root_.string()));
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_NE(text.output.find(fmt::format("checkpoint {} (step {}), held-out shards", checkpoint_,
                                         written["step"].get<int>())),
            std::string::npos)
      << text.output;
  EXPECT_NE(text.output.find("nearest visible tubelet's mean and std"), std::string::npos)
      << text.output;
  EXPECT_NE(text.output.find("TRUE mean and std"), std::string::npos) << text.output;
}

TEST_F(ResultsTest, EmbedFromAnotherFolderWritesTheEncodersMeanTokenPerClip) {
  const std::string out = (root_ / "emb.h5").string();
  const auto res = elsewhere(fmt::format("embed --checkpoint {} --data {}/eval --out {}",
                                         checkpoint_, root_.string(), out));
  ASSERT_EQ(res.exit_code, 0) << res.output;
  const Embeddings e = read_embeddings(out);
  EXPECT_EQ(e.clips, 30);
  EXPECT_EQ(e.dim, 32);
  EXPECT_EQ(e.sources.size(), 2u);
  EXPECT_EQ(e.step, 20);
  // Row 17 is model.embed of clip 17.
  LoadedModel m = load_model(checkpoint_, 1);
  const ClipBatches clips((root_ / "eval").string(), m.model_config);
  const auto row = m.model->embed(clips.read(17, 1));
  for (std::int64_t d = 0; d < e.dim; ++d) {
    EXPECT_FLOAT_EQ(e.values[std::size_t(17 * e.dim + d)], row[std::size_t(d)]);
  }
}

TEST_F(ResultsTest, EmbedAndProbeReadTheLayerAskedAndRefuseOneTheEncoderHasNot) {
  const std::string out = (root_ / "emb-layer0.h5").string();
  const auto res = elsewhere(fmt::format("embed --checkpoint {} --data {}/eval --out {} --layer 0",
                                         checkpoint_, root_.string(), out));
  ASSERT_EQ(res.exit_code, 0) << res.output;
  const Embeddings e = read_embeddings(out);
  EXPECT_EQ(e.layer, 0);
  EXPECT_EQ(e.checkpoint, checkpoint_);
  // Given the run folder, the file records the checkpoint it resolved to.
  const std::string from_run = (root_ / "emb-run.h5").string();
  ASSERT_EQ(elsewhere(fmt::format("embed --checkpoint {}/run --data {}/eval --out {}",
                                  root_.string(), root_.string(), from_run))
                .exit_code,
            0);
  EXPECT_EQ(read_embeddings(from_run).checkpoint, checkpoint_);
  LoadedModel m = load_model(checkpoint_, 1);
  const ClipBatches clips((root_ / "eval").string(), m.model_config);
  const auto row = m.model->embed(clips.read(5, 1), 0);
  for (std::int64_t d = 0; d < e.dim; ++d) {
    EXPECT_FLOAT_EQ(e.values[std::size_t(5 * e.dim + d)], row[std::size_t(d)]);
  }
  const auto probe =
      elsewhere(fmt::format("probe --checkpoint {}/run --train {}/shards --test {}/eval --json "
                            "--layer 1",  // the run folder: its newest checkpoint
                            root_.string(), root_.string(), root_.string()),
                false);
  ASSERT_EQ(probe.exit_code, 0) << probe.output;
  EXPECT_EQ(nlohmann::json::parse(probe.output)["layer"].get<int>(), 1) << probe.output;
  // inspect takes the run folder and its `latest` pointer as the checkpoint they mean.
  for (const char* where : {"run", "run/checkpoints/latest"}) {
    const auto inspect = elsewhere(fmt::format("inspect {}/{} --json", root_.string(), where));
    ASSERT_EQ(inspect.exit_code, 0) << where << ": " << inspect.output;
    EXPECT_NE(inspect.output.find("\"step\":20"), std::string::npos) << inspect.output;
  }
  const auto bad = elsewhere(fmt::format("embed --checkpoint {} --data {}/eval --out {} --layer 3",
                                         checkpoint_, root_.string(),
                                         (root_ / "emb-layer3.h5").string()));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("(--layer) 3 is not in [0, 2]"), std::string::npos) << bad.output;
  EXPECT_FALSE(fs::exists(root_ / "emb-layer3.h5"));
}

TEST_F(ResultsTest, ExportFromAnotherFolderHoldsTheCheckpointsParameters) {
  const std::string out = (root_ / "model.safetensors").string();
  const auto res = elsewhere(fmt::format("export {} --out {}", checkpoint_, out));
  ASSERT_EQ(res.exit_code, 0) << res.output;
  const SafeTensors file = read_safetensors(out);
  LoadedModel m = load_model(checkpoint_, 1);
  ASSERT_EQ(file.tensors.size(), m.model->tensors().size());
  for (const auto& t : m.model->tensors()) {
    const auto v = as_f32(file.at(torch_name(t.name)));
    ASSERT_EQ(v.size(), t.size);
    EXPECT_EQ(std::memcmp(v.data(), m.checkpoint.params.data() + t.offset, t.size * 4), 0)
        << t.name;
  }
  EXPECT_EQ(file.metadata.at("name"), "tiny");
}

TEST_F(ResultsTest, ProbeFromAnotherFolderScoresEverySynthLabel) {
  const auto res =
      elsewhere(fmt::format("probe --checkpoint {} --train {}/shards --test {}/eval --json",
                            checkpoint_, root_.string(), root_.string()),
                false);
  ASSERT_EQ(res.exit_code, 0) << res.output;
  const auto j = nlohmann::json::parse(res.output);
  ASSERT_EQ(j["labels"].size(), 5u) << res.output;
  for (const char* name : {"curvature", "ego_speed", "lane_change", "cars_in_view", "light"}) {
    ASSERT_TRUE(j["labels"].contains(name)) << name;
    const auto& l = j["labels"][name];
    for (const char* key : {"metric", "pretrained", "random_init", "pixels"}) {
      EXPECT_TRUE(l.contains(key)) << name << " " << key;
    }
    EXPECT_EQ(l["test_clips"].get<int>(), 30) << name;
  }
  EXPECT_EQ(j["labels"]["curvature"]["metric"], "r2");
}

}  // namespace
}  // namespace dojo::train
