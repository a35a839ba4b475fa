// The dojo executable as a user meets it: --help, --version, subcommand help, usage
// errors, and the all-reduce benchmark's JSON under a real launcher.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "testing/command.hpp"

namespace {

using dojo::testing::CommandResult;

CommandResult run(const std::string& args, const std::string& launcher = "") {
  return dojo::testing::run_command(launcher + dojo::testing::dojo_bin() + " " + args);
}

TEST(CliTest, VersionAndHelpWork) {
  auto r = run("--version");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("dojo "), std::string::npos) << r.output;
  r = run("--help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("bench"), std::string::npos) << r.output;
  r = run("bench allreduce --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("--sizes"), std::string::npos) << r.output;
}

TEST(CliTest, UnknownSubcommandOrBadValueIsAUsageError) {
  auto r = run("frobnicate");
  EXPECT_NE(r.exit_code, 0);
  r = run("bench allreduce --algo butterfly");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("butterfly"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[rank 0/1]"), std::string::npos) << r.output;
  r = run("bench allreduce --sizes 4Q");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("4Q"), std::string::npos) << r.output;
}

TEST(CliTest, BenchAllreduceJsonIsCorrectForEveryAlgorithmOnTwoRanks) {
  const auto r =
      run("bench allreduce --algo all --sizes 4K,1M --iters 3 --json", dojo::testing::mpiexec(2));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::istringstream lines(r.output);
  int rows = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] != '{') continue;
    const auto j = nlohmann::json::parse(line);
    for (const char* key :
         {"algo", "bytes", "ranks", "time_us_median", "algbw_GBps", "busbw_GBps", "correct"}) {
      EXPECT_TRUE(j.contains(key)) << key << " in " << line;
    }
    EXPECT_TRUE(j["correct"].get<bool>()) << line;
    EXPECT_EQ(j["ranks"].get<int>(), 2);
    EXPECT_GT(j["time_us_median"].get<double>(), 0.0);
    ++rows;
  }
  // two sizes x (ring, recursive_doubling, auto, mpi, gloo, shm, hierarchical): on one host
  EXPECT_EQ(rows, 2 * 7);
}

}  // namespace
