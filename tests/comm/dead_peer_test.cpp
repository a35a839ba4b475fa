// A rank killed with SIGKILL in the middle of a run of all-reduces: the job must end with
// a non-zero status well within a minute, on the MPI backend and on gloo.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <string>

namespace {

int run_and_time(const std::string& command, double* seconds) {
  const auto start = std::chrono::steady_clock::now();
  const int status = std::system(command.c_str());
  *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return status;
}

std::string helper_command(const std::string& backend) {
  const char* bin_dir = std::getenv("DOJO_TEST_BIN_DIR");
  const char* mpiexec = std::getenv("DOJO_MPIEXEC");
  EXPECT_NE(bin_dir, nullptr);
  EXPECT_NE(mpiexec, nullptr);
  return std::string(mpiexec) + " -n 3 " + bin_dir + "/dead_peer_helper " + backend +
         " 5000 > dead_peer_" + backend + ".log 2>&1";
}

TEST(DeadPeerTest, KilledRankEndsMpiJobWithErrorWithinAMinute) {
  double seconds = 0;
  const int status = run_and_time(helper_command("mpi"), &seconds);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << "status " << status;
  EXPECT_LT(seconds, 60.0);
}

TEST(DeadPeerTest, KilledRankEndsGlooJobWithErrorWithinAMinute) {
  double seconds = 0;
  const int status = run_and_time(helper_command("gloo"), &seconds);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << "status " << status;
  EXPECT_LT(seconds, 60.0);
}

}  // namespace
