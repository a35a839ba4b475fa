// `dojo mesh` and `dojo sim` from the outside: JSON keys the issue promises, a trace file
// that parses, a typed error for an unknown preset.
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
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
