// Every all-reduce algorithm, the topology-aware ones included, under a real launcher.
// CTest runs it with `mpiexec -n 2` and `-n 3` on this host; cluster_multihost_test runs it
// across network-namespace hosts (1-3 hosts x 1-3 ranks per host), with DOJO_EXPECT_HOSTS
// and DOJO_EXPECT_PER_HOST saying what layout the ranks must find.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "comm/allreduce.hpp"
#include "comm/allreduce_values.hpp"
#include "comm/host_topology.hpp"
#include "comm/mpi_communicator.hpp"
#include "comm/runtime.hpp"

namespace dojo::comm {
namespace {

Runtime* g_runtime = nullptr;

using testing::fnv1a;
using testing::is_average_of_values;
using testing::value;

int env_int(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::atoi(v) : 0;
}

TEST(MpiTopologyTest, RanksFindTheHostsTheyWereStartedOn) {
  Communicator& comm = g_runtime->world();
  const HostTopology topology = gather_host_topology(comm);
  EXPECT_EQ(topology.local_size(), g_runtime->local_size()) << topology.summary();
  EXPECT_EQ(topology.local_rank(), g_runtime->local_rank()) << topology.summary();
  if (env_int("DOJO_EXPECT_HOSTS") > 0) {
    EXPECT_EQ(topology.host_count(), env_int("DOJO_EXPECT_HOSTS")) << topology.summary();
    EXPECT_EQ(topology.min_ranks_per_host(), env_int("DOJO_EXPECT_PER_HOST")) << topology.summary();
    EXPECT_EQ(topology.max_ranks_per_host(), env_int("DOJO_EXPECT_PER_HOST")) << topology.summary();
  }
}

TEST(MpiTopologyTest, EveryAlgorithmMatchesReferenceTwiceBitwiseOnEveryRank) {
  Communicator& comm = g_runtime->world();
  const int n = comm.size();
  const HostTopology topology = gather_host_topology(comm);
  std::vector<Algorithm> algorithms = {Algorithm::kRing, Algorithm::kRecursiveDoubling,
                                       Algorithm::kMpi, Algorithm::kHierarchical, Algorithm::kAuto};
  if (topology.host_count() == 1) algorithms.push_back(Algorithm::kShm);
  for (Algorithm algorithm : algorithms) {
    Allreducer reducer(comm, algorithm);
    for (std::size_t count : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{1000},
                              std::size_t{65539}, std::size_t{3 << 18}}) {
      std::vector<float> data(count);
      std::uint64_t hashes[2] = {0, 0};
      for (int run = 0; run < 2; ++run) {
        for (std::size_t i = 0; i < count; ++i) data[i] = value(comm.rank(), i);
        reducer.run(data, ReduceOp::kAverage);
        hashes[run] = fnv1a(data);
      }
      ASSERT_TRUE(is_average_of_values(data, n))
          << to_string(algorithm) << " count " << count << " on " << topology.summary();
      if (algorithm != Algorithm::kMpi) {
        EXPECT_EQ(hashes[0], hashes[1]) << to_string(algorithm) << " count " << count;
        const auto all = all_gather_value(comm, hashes[0]);
        for (int r = 0; r < n; ++r) {
          EXPECT_EQ(all[r], hashes[0])
              << to_string(algorithm) << " count " << count << " " << topology.describe(r)
              << " differs from rank " << comm.rank();
        }
      }
    }
  }
}

}  // namespace
}  // namespace dojo::comm

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  dojo::comm::Runtime runtime(/*force_mpi=*/true);
  dojo::comm::g_runtime = &runtime;
  runtime.world().set_timeout(dojo::comm::Millis(60'000));
  return RUN_ALL_TESTS();
}
