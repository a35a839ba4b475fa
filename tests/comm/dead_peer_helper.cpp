// Run under `mpiexec -n 3`: every rank all-reduces in a loop on the chosen backend until
// rank 2 kills itself (SIGKILL) mid-run. Used by dead_peer_test: the survivors must not
// hang. Usage: dead_peer_helper mpi|gloo TIMEOUT_MS
#include <csignal>
#include <cstdlib>
#include <memory>
#include <string>

#include "comm/allreduce.hpp"
#include "comm/gloo_communicator.hpp"
#include "comm/mpi_communicator.hpp"
#include "comm/runtime.hpp"
#include "core/log.hpp"

int main(int argc, char** argv) {
  using namespace dojo::comm;
  if (argc != 3) return 2;
  Runtime runtime(true);
  auto& mpi = dynamic_cast<MpiCommunicator&>(runtime.world());
  const Millis timeout(std::atoi(argv[2]));
  mpi.set_timeout(timeout);
  std::unique_ptr<GlooCommunicator> gloo;
  Communicator* comm = &mpi;
  Algorithm algorithm = Algorithm::kRing;
  if (std::string(argv[1]) == "gloo") {
    gloo = std::make_unique<GlooCommunicator>(mpi, timeout);
    comm = gloo.get();
  }
  std::vector<float> data(1 << 20, 1.0f);
  try {
    for (int i = 0; i < 100000; ++i) {
      if (comm->rank() == 2 && i == 5) std::raise(SIGKILL);
      Allreducer(*comm, algorithm).run(data, ReduceOp::kAverage);
    }
  } catch (const dojo::Error& e) {
    dojo::log::error("{}", e.what());
    runtime.abort_all_ranks(3);
    return 3;
  }
  return 0;
}
