// `dojo mesh` and `dojo sim` from the outside: JSON keys the issue promises, a trace file
// that parses, a typed error for an unknown preset; `dojo bench validate --quick` gives every
// row and `dojo bench calibrate` refuses what it cannot measure.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "testing/command.hpp"

namespace {

// stdout only: the commands print JSON there and log to stderr.
dojo::testing::CommandResult run(const std::string& args, const std::string& launcher = "") {
  return dojo::testing::run_command(launcher + dojo::testing::dojo_bin() + " " + args,
                                    /*keep_stderr=*/false);
}

TEST(MeshCli, MeshJsonHasTheTotalsKeys) {
  const auto r = run("mesh --preset exapod --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  for (const char* key :
       {"nodes", "chips", "peak_flops_bf16", "peak_flops_fp32", "sram_bytes", "dram_bytes"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j.at("chips"), 3000);
  EXPECT_EQ(j.at("nodes"), 1062000);
}

TEST(MeshCli, UnknownPresetIsAUsageError) {
  const auto r = run("mesh --preset nosuchmesh");
  EXPECT_EQ(r.exit_code, 2);
}

TEST(MeshCli, SimJsonHasTheIssueKeysAndTheTraceParses) {
  const auto trace = (std::filesystem::temp_directory_path() / "dojo_sim_cli_trace.json").string();
  const auto r = run("sim --preset tile --model bench --json --trace " + trace);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  for (const char* key :
       {"replicas", "region_nodes", "step_s", "clips_per_s", "utilization", "compute_s", "comm_s"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_GE(j.at("replicas").get<int>(), 1);
  EXPECT_GT(j.at("step_s").get<double>(), 0);
  std::ifstream in(trace);
  const auto t = nlohmann::json::parse(in);
  std::filesystem::remove(trace);
  EXPECT_FALSE(t.at("traceEvents").empty());
}

TEST(MeshCli, SimUnderTwoRanksCombinesBothBlocks) {
  const auto r = run("sim --preset tile --model bench --json", dojo::testing::mpiexec(2));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);  // only rank 0 prints
  EXPECT_EQ(j.at("ranks"), 2);
  EXPECT_GE(j.at("replicas").get<int>(), 2);
  EXPECT_GT(j.at("cross_block_comm_s").get<double>(), 0);
  EXPECT_GE(j.at("step_s").get<double>(), j.at("compute_s").get<double>());
}

}  // namespace

namespace {

bool finite_positive(const nlohmann::json& v) {
  return v.is_number() && std::isfinite(v.get<double>()) && v.get<double>() > 0;
}

TEST(BenchValidate, QuickUnderTwoRanksGivesEveryRowFiniteAndTheJsonComplete) {
  const auto r = run("bench validate --quick --json", dojo::testing::mpiexec(2));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j.at("ranks"), 2);
  EXPECT_EQ(j.at("rounds"), 1);
  std::set<std::string> names;
  for (const auto& row : j.at("rows")) {
    const std::string name = row.at("group").get<std::string>() + ": " + row.at("name").get<std::string>();
    names.insert(name);
    EXPECT_TRUE(finite_positive(row.at("measured_s"))) << name;
    EXPECT_TRUE(finite_positive(row.at("predicted_s"))) << name;
    EXPECT_TRUE(row.at("error").is_number() && std::isfinite(row.at("error").get<double>())) << name;
    EXPECT_EQ(row.at("measured_rounds_s").size(), 1u) << name;
  }
  // Every row the quick mode promises: tiny x fp32/bf16 x 1 thread, 2 sizes x 5 algorithms,
  // one 2-rank training step (CPU and wall time).
  for (const char* precision : {"fp32", "bf16"})
    EXPECT_TRUE(names.count(fmt::format("step: tiny {} 1 thread", precision))) << precision;
  for (const char* algo : {"ring", "recursive_doubling", "auto", "mpi", "gloo"})
    for (const char* size : {"64 KiB", "1 MiB"})
      EXPECT_TRUE(names.count(fmt::format("allreduce: {} {}", algo, size))) << algo << " " << size;
  for (const char* timing : {"cpu", "wall"})
    EXPECT_TRUE(names.count(fmt::format("train: tiny fp32, 2 ranks x 1 thread ({})", timing)));
  EXPECT_EQ(names.size(), 14u);
  for (const char* group : {"step", "allreduce", "train", "all"})
    EXPECT_TRUE(j.at("median_abs_error").contains(group)) << group;
  // The calibration it predicted from: every class at one thread, both transports.
  const auto& cal = j.at("calibration").at("host_calibration");
  EXPECT_EQ(cal.at("threads").size(), 1u);
  EXPECT_EQ(cal.at("threads")[0].at("streams_bytes_per_s").size(), 6u);
  EXPECT_EQ(cal.at("links").size(), 2u);
}

TEST(BenchCalibrate, RefusesMoreRanksThanCores) {
  const int ranks = static_cast<int>(std::thread::hardware_concurrency()) + 1;
  const auto r = dojo::testing::run_command(
      dojo::testing::mpiexec(ranks) + dojo::testing::dojo_bin() + " bench calibrate --quick --out /dev/null");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("would share cores"), std::string::npos) << r.output;
}

TEST(BenchCalibrate, RefusesFiguresWhoseRepeatsDisagree) {
  // A spread limit of 1.0 means the quartiles must be equal: no real repeats are.
  const auto out = (std::filesystem::temp_directory_path() / "dojo_calibrate_refused.yaml").string();
  const auto r = dojo::testing::run_command(dojo::testing::dojo_bin() +
                                            " bench calibrate --quick --max-spread 1 --out " + out);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("too busy to be measured"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(out));
}

}  // namespace
