// Run under `mpiexec -n N`: every rank runs one collective in a loop until the last rank
// kills itself (SIGKILL) or stops itself (SIGSTOP) at iteration 5. Used by dead_peer_test
// and the cluster's stopped-peer tests: the survivors must end with an error naming the
// lost rank, not hang.
//
// Usage: dead_peer_helper BACKEND OP BYTES TIMEOUT_MS kill|stop [PID_FILE]
//   BACKEND  mpi | gloo (gloo bootstrapped through MPI)
//   OP       an all-reduce algorithm (auto, ring, recursive_doubling, mpi, gloo), or
//            barrier, broadcast, all_gather
//   PID_FILE the faulting rank writes its pid here first (so a test can clean up)
// Exit status: 3 when a survivor caught the error (after MPI_Abort of the others).
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "comm/allreduce.hpp"
#include "comm/gloo_communicator.hpp"
#include "comm/mpi_communicator.hpp"
#include "comm/runtime.hpp"
#include "core/log.hpp"

int main(int argc, char** argv) {
  using namespace dojo::comm;
  if (argc < 6) return 2;
  const std::string backend = argv[1], op = argv[2], fault = argv[5];
  const std::size_t bytes = std::strtoull(argv[3], nullptr, 10);
  const Millis timeout(std::atoi(argv[4]));
  Runtime runtime(true);
  auto& mpi = dynamic_cast<MpiCommunicator&>(runtime.world());
  mpi.set_timeout(timeout);
  std::unique_ptr<GlooCommunicator> gloo;
  Communicator* comm = &mpi;
  if (backend == "gloo") {
    gloo = std::make_unique<GlooCommunicator>(mpi, timeout);
    comm = gloo.get();
  }
  const bool is_collective = op == "barrier" || op == "broadcast" || op == "all_gather";
  std::unique_ptr<Allreducer> reducer;
  if (!is_collective) reducer = std::make_unique<Allreducer>(*comm, parse_algorithm(op));
  std::vector<float> data(bytes / sizeof(float), 1.0f);
  const bool faulty = comm->rank() == comm->size() - 1;
  try {
    for (int i = 0; i < 100000; ++i) {
      if (faulty && i == 5) {
        if (argc > 6) std::ofstream(argv[6]) << ::getpid() << "\n";
        std::raise(fault == "stop" ? SIGSTOP : SIGKILL);
      }
      if (op == "barrier") {
        comm->barrier();
      } else if (op == "broadcast") {
        broadcast_span(*comm, std::span(data), comm->size() - 1);
      } else if (op == "all_gather") {
        (void)all_gather_value(*comm, i);
      } else {
        reducer->run(data, ReduceOp::kAverage);
      }
    }
  } catch (const dojo::CommError& e) {
    dojo::log::error("{}", e.what());
    runtime.abort_all_ranks(3);
    return 3;
  }
  return 0;
}
