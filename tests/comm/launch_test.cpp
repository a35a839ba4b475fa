// How comm::Runtime reads its launcher from the environment (detect_launch over a map):
// MPI, torchrun-style, Slurm without MPI, nothing; and the environments that say several
// ranks where dojo would run as one, which must stop with an error naming the variables.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "comm/runtime.hpp"

namespace dojo::comm {
namespace {

using Env = std::map<std::string, std::string>;

LaunchInfo detect(const Env& env) {
  return detect_launch([&env](const char* name) -> const char* {
    const auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

// The InvalidArgument message detect() throws for `env` ("" if none).
std::string error_for(const Env& env) {
  try {
    detect(env);
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "";
}

TEST(LaunchTest, NoLauncherIsOneLocalRank) {
  EXPECT_EQ(detect({}).kind, LaunchInfo::Kind::kNone);
  EXPECT_EQ(detect({{"WORLD_SIZE", "1"}, {"RANK", "0"}}).kind, LaunchInfo::Kind::kNone);
  // The batch script of an sbatch job is not an srun step.
  EXPECT_EQ(detect({{"SLURM_NTASKS", "4"}, {"SLURM_PROCID", "0"}}).kind, LaunchInfo::Kind::kNone);
}

TEST(LaunchTest, MpirunAndPmixAreMpiWithTheAnnouncedSize) {
  const auto mpirun = detect({{"OMPI_COMM_WORLD_SIZE", "4"}, {"OMPI_COMM_WORLD_RANK", "1"}});
  EXPECT_EQ(mpirun.kind, LaunchInfo::Kind::kMpi);
  EXPECT_EQ(mpirun.announced_size, 4);
  EXPECT_EQ(mpirun.announced_by, "OMPI_COMM_WORLD_SIZE");
  const auto srun = detect({{"PMIX_RANK", "0"}, {"SLURM_STEP_NUM_TASKS", "2"}});
  EXPECT_EQ(srun.kind, LaunchInfo::Kind::kMpi);
  EXPECT_EQ(srun.announced_size, 2);
  // MPI wins over torchrun variables a user left in the shell.
  EXPECT_EQ(detect({{"PMI_RANK", "0"}, {"WORLD_SIZE", "8"}}).kind, LaunchInfo::Kind::kMpi);
}

TEST(LaunchTest, TorchrunVariablesGiveATcpRendezvousAtMasterAddrAndPort) {
  const auto info = detect({{"RANK", "3"},
                            {"WORLD_SIZE", "4"},
                            {"LOCAL_RANK", "1"},
                            {"LOCAL_WORLD_SIZE", "2"},
                            {"MASTER_ADDR", "10.0.0.7"},
                            {"MASTER_PORT", "29500"},
                            {"DOJO_RENDEZVOUS_TIMEOUT_S", "7"}});
  EXPECT_EQ(info.kind, LaunchInfo::Kind::kTcp);
  EXPECT_EQ(info.launcher, "torchrun");
  EXPECT_EQ(info.rank, 3);
  EXPECT_EQ(info.size, 4);
  EXPECT_EQ(info.local_rank, 1);
  EXPECT_EQ(info.local_size, 2);
  EXPECT_EQ(info.master.describe(), "10.0.0.7:29500");
  EXPECT_EQ(info.rendezvous_timeout, Millis(7000));
}

TEST(LaunchTest, UnderTorchrunsAgentStoreTheRendezvousTakesTheNextPort) {
  Env env = {{"RANK", "0"},
             {"WORLD_SIZE", "2"},
             {"MASTER_ADDR", "127.0.0.1"},
             {"MASTER_PORT", "29500"},
             {"TORCHELASTIC_USE_AGENT_STORE", "True"}};
  EXPECT_EQ(detect(env).master.port, 29501);
  env["DOJO_RENDEZVOUS_PORT"] = "40000";
  EXPECT_EQ(detect(env).master.port, 40000);
}

TEST(LaunchTest, WorldSizeAboveOneWithoutMasterAddrIsAnErrorNamingTheMissingVariables) {
  const std::string e = error_for({{"RANK", "0"}, {"WORLD_SIZE", "2"}});
  EXPECT_NE(e.find("WORLD_SIZE=2"), std::string::npos) << e;
  EXPECT_NE(e.find("MASTER_ADDR"), std::string::npos) << e;
  EXPECT_NE(e.find("MASTER_PORT"), std::string::npos) << e;
  EXPECT_NE(e.find("single rank"), std::string::npos) << e;
  const std::string no_rank =
      error_for({{"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}});
  EXPECT_NE(no_rank.find("RANK is not set"), std::string::npos) << no_rank;
}

TEST(LaunchTest, SrunTasksWithoutPmixOrMasterAddrAreAnErrorNamingTheVariables) {
  const std::string e = error_for({{"SLURM_STEP_NUM_TASKS", "2"}, {"SLURM_PROCID", "1"}});
  EXPECT_NE(e.find("SLURM_STEP_NUM_TASKS=2"), std::string::npos) << e;
  EXPECT_NE(e.find("PMIX_RANK"), std::string::npos) << e;
  EXPECT_NE(e.find("--mpi=pmix"), std::string::npos) << e;
}

TEST(LaunchTest, SrunTasksWithMasterAddrJoinTheTcpRendezvous) {
  const auto info = detect({{"SLURM_STEP_NUM_TASKS", "3"},
                            {"SLURM_PROCID", "2"},
                            {"SLURM_LOCALID", "0"},
                            {"MASTER_ADDR", "node01"},
                            {"MASTER_PORT", "29400"}});
  EXPECT_EQ(info.kind, LaunchInfo::Kind::kTcp);
  EXPECT_EQ(info.launcher, "slurm");
  EXPECT_EQ(info.rank, 2);
  EXPECT_EQ(info.size, 3);
  EXPECT_EQ(info.master.describe(), "node01:29400");
}

TEST(LaunchTest, MalformedValuesAreErrorsNamingTheVariable) {
  const std::string bad_size = error_for({{"WORLD_SIZE", "two"}});
  EXPECT_NE(bad_size.find("WORLD_SIZE='two'"), std::string::npos) << bad_size;
  const std::string bad_rank = error_for(
      {{"RANK", "5"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}});
  EXPECT_NE(bad_rank.find("RANK=5 is outside WORLD_SIZE=2"), std::string::npos) << bad_rank;
  const std::string bad_port = error_for(
      {{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "70000"}});
  EXPECT_NE(bad_port.find("70000"), std::string::npos) << bad_port;
}

}  // namespace
}  // namespace dojo::comm
