// `dojo mesh` and `dojo sim` from the outside: JSON keys the issue promises, a trace file
// that parses, a typed error for an unknown preset.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace {

struct Run {
  int status = -1;
  std::string out;
};

Run run(const std::string& args) {
  const char* bin = std::getenv("DOJO_BIN");
  EXPECT_NE(bin, nullptr) << "DOJO_BIN not set";
  Run r;
  FILE* pipe = popen((std::string(bin) + " " + args + " 2>/dev/null").c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buffer{};
  while (fgets(buffer.data(), buffer.size(), pipe) != nullptr) r.out += buffer.data();
  const int status = pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST(MeshCli, MeshJsonHasTheTotalsKeys) {
  const auto r = run("mesh --preset exapod --json");
  ASSERT_EQ(r.status, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  for (const char* key :
       {"nodes", "chips", "peak_flops_bf16", "peak_flops_fp32", "sram_bytes", "dram_bytes"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j.at("chips"), 3000);
  EXPECT_EQ(j.at("nodes"), 1062000);
}

TEST(MeshCli, UnknownPresetIsAUsageError) {
  const auto r = run("mesh --preset nosuchmesh");
  EXPECT_EQ(r.status, 2);
}

TEST(MeshCli, SimJsonHasTheIssueKeysAndTheTraceParses) {
  const auto trace = (std::filesystem::temp_directory_path() / "dojo_sim_cli_trace.json").string();
  const auto r = run("sim --preset tile --model bench --json --trace " + trace);
  ASSERT_EQ(r.status, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
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
  const std::string mpiexec =
      std::string(DOJO_MPIEXEC) + " --allow-run-as-root --oversubscribe -n 2 ";
  const char* bin = std::getenv("DOJO_BIN");
  ASSERT_NE(bin, nullptr);
  std::string out;
  FILE* pipe =
      popen((mpiexec + bin + " sim --preset tile --model bench --json 2>/dev/null").c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::array<char, 4096> buffer{};
  while (fgets(buffer.data(), buffer.size(), pipe) != nullptr) out += buffer.data();
  ASSERT_EQ(pclose(pipe), 0) << out;
  const auto j = nlohmann::json::parse(out);  // only rank 0 prints
  EXPECT_EQ(j.at("ranks"), 2);
  EXPECT_GE(j.at("replicas").get<int>(), 2);
  EXPECT_GT(j.at("cross_block_comm_s").get<double>(), 0);
  EXPECT_GE(j.at("step_s").get<double>(), j.at("compute_s").get<double>());
}

}  // namespace
