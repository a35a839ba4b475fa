// A rank killed with SIGKILL in the middle of a run of all-reduces: the job must end with
// a non-zero status well within a minute, on the MPI backend and on gloo, and a survivor's
// error names the dead rank and its host. (A stopped rank: tests/cluster/stopped_peer_test.)
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "testing/command.hpp"

namespace {

struct Outcome {
  dojo::testing::CommandResult result;
  double seconds;
};

// Runs dead_peer_helper on 3 ranks (rank 2 kills itself mid-run). mpiexec is told not to
// end the job itself when a rank dies (as it cannot when a whole host is lost): the
// survivors must find the loss and end the job, and their error is what is checked; with
// mpiexec's own teardown racing them, their message was sometimes cut off (1 run in ~20).
Outcome run_helper(const std::string& backend) {
  const auto start = std::chrono::steady_clock::now();
  auto result = dojo::testing::run_command(
      dojo::testing::mpiexec(3) + "--mca orte_abort_on_non_zero_status 0 " +
      dojo::testing::env_or_empty("DOJO_TEST_BIN_DIR") + "/dead_peer_helper " + backend +
      " ring 4194304 5000 kill");
  return {std::move(result),
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()};
}

TEST(DeadPeerTest, KilledRankEndsMpiJobWithErrorWithinAMinute) {
  const auto o = run_helper("mpi");
  EXPECT_NE(o.result.exit_code, 0) << o.result.output;
  EXPECT_LT(o.seconds, 60.0);
}

TEST(DeadPeerTest, KilledRankEndsGlooJobWithErrorNamingThePeerWithinAMinute) {
  const auto o = run_helper("gloo");
  EXPECT_NE(o.result.exit_code, 0) << o.result.output;
  EXPECT_LT(o.seconds, 60.0);
  // A survivor's error names the dead rank (2) and its host.
  EXPECT_NE(o.result.output.find("rank 2 (host "), std::string::npos) << o.result.output;
}

}  // namespace
