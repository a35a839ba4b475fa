// The collectives and every all-reduce algorithm under a real launcher
// (ctest runs this binary with `mpiexec -n 2` and `-n 3`), on the MPI and gloo backends.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>

#include "comm/allreduce.hpp"
#include "comm/allreduce_values.hpp"
#include "comm/gloo_communicator.hpp"
#include "comm/mpi_communicator.hpp"
#include "comm/runtime.hpp"

namespace dojo::comm {
namespace {

Runtime* g_runtime = nullptr;

MpiCommunicator& mpi_world() {
  return dynamic_cast<MpiCommunicator&>(g_runtime->world());
}

Communicator& backend(const std::string& name) {
  static std::unique_ptr<GlooCommunicator> gloo;
  if (name == "mpi") return mpi_world();
  if (!gloo) gloo = std::make_unique<GlooCommunicator>(mpi_world(), Millis(60'000));
  return *gloo;
}

using testing::fnv1a;
using testing::is_average_of_values;
using testing::value;

class MpiAllreduceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(MpiAllreduceTest, EveryAlgorithmMatchesReferenceTwiceOnEveryRank) {
  Communicator& comm = backend(GetParam());
  const int n = comm.size();
  const Algorithm native = GetParam() == "mpi" ? Algorithm::kMpi : Algorithm::kGloo;
  for (Algorithm algorithm :
       {Algorithm::kRing, Algorithm::kRecursiveDoubling, Algorithm::kAuto, native}) {
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
      ASSERT_TRUE(is_average_of_values(data, n)) << to_string(algorithm) << " count " << count;
      if (algorithm != native) {
        // Our algorithms: the same bits on every run and on every rank.
        EXPECT_EQ(hashes[0], hashes[1]) << to_string(algorithm) << " count " << count;
        const auto all = all_gather_value(comm, hashes[0]);
        for (int r = 0; r < n; ++r) {
          EXPECT_EQ(all[r], hashes[0]) << to_string(algorithm) << " rank " << r;
        }
      }
    }
  }
}

TEST_P(MpiAllreduceTest, BroadcastAllGatherAndBarrierWork) {
  Communicator& comm = backend(GetParam());
  for (int root = 0; root < comm.size(); ++root) {
    std::vector<std::int32_t> data(70'000, comm.rank() == root ? root + 1 : -1);
    broadcast_span(comm, std::span(data), root);
    for (auto v : data) ASSERT_EQ(v, root + 1);
  }
  const auto ranks = all_gather_value<int>(comm, comm.rank() * 10);
  for (int r = 0; r < comm.size(); ++r) EXPECT_EQ(ranks[r], r * 10);
  comm.barrier();
}

INSTANTIATE_TEST_SUITE_P(Backends, MpiAllreduceTest, ::testing::Values("mpi", "gloo"));

}  // namespace
}  // namespace dojo::comm

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  dojo::comm::Runtime runtime(/*force_mpi=*/true);
  dojo::comm::g_runtime = &runtime;
  return RUN_ALL_TESTS();
}
