#pragma once
// All-reduce of float32 buffers in place, by name:
//   ring                our own reduce-scatter + all-gather, chunked and pipelined
//                       (allreduce_ring.hpp); bandwidth-optimal for large messages
//   recursive_doubling  log2(n) full-buffer exchanges (allreduce_recursive_doubling.hpp);
//                       latency-optimal for small messages
//   mpi                 MPI's own (MPI_Iallreduce against the deadline; needs the MPI backend)
//   gloo                gloo's ring (needs the gloo backend)
//   shm                 through shared memory among the ranks of one host
//                       (allreduce_shm.hpp; all ranks on one host)
//   hierarchical        shared memory within each host, one ring per local-rank stripe
//                       across hosts (allreduce_hierarchical.hpp)
//   auto                picks one of the above by message size, rank count, backend, ranks
//                       per host and host count, from crossover points measured with
//                       `dojo bench allreduce` (below 256 KiB on one host: recursive_doubling)
// Every algorithm, on every backend, waits at most the communicator's timeout() for a
// peer and then throws Timeout (a CommError) naming the rank and its host.
// Every algorithm accepts any element count (including 0) and any rank count (including
// 1 and non-powers of two). ring, recursive_doubling, shm and hierarchical sum in a fixed
// order, so repeated runs give bitwise identical results, identical on every rank.
// Hosts: shm, hierarchical and auto group ranks by hostname (host_topology.hpp), gathered
// on the first run() that needs it (a collective, like every run()).
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "comm/communicator.hpp"
#include "comm/host_topology.hpp"

namespace dojo::comm {

enum class Algorithm { kAuto, kRing, kRecursiveDoubling, kMpi, kGloo, kShm, kHierarchical };

std::string_view to_string(Algorithm algorithm);
// Accepts the names above; throws InvalidArgument naming the value otherwise.
Algorithm parse_algorithm(std::string_view name);

// What `auto` runs for a message of `bytes` on `comm` (never kAuto).
Algorithm choose_algorithm(const Communicator& comm, std::size_t bytes);
// The same knowing which ranks share a host (never kAuto).
Algorithm choose_algorithm(const Communicator& comm, const HostTopology& topology,
                           std::size_t bytes);

class AllreduceRing;
class AllreduceRecursiveDoubling;
class AllreduceShm;
class AllreduceHierarchical;

// Runs all-reduces on one communicator with one algorithm, reusing scratch buffers
// between calls. Use from one thread at a time.
class Allreducer {
 public:
  Allreducer(Communicator& comm, Algorithm algorithm);
  // With the ranks' hosts given instead of gathered (tests put ranks-as-threads on
  // made-up hosts).
  Allreducer(Communicator& comm, Algorithm algorithm, HostTopology topology);
  ~Allreducer();
  Allreducer(const Allreducer&) = delete;
  Allreducer& operator=(const Allreducer&) = delete;

  // Every rank calls with the same element count and op.
  void run(std::span<float> data, ReduceOp op);
  Algorithm algorithm() const { return algorithm_; }

 private:
  void run_own(Algorithm algorithm, std::span<float> data, ReduceOp op);

  Communicator& comm_;
  Algorithm algorithm_;
  std::unique_ptr<AllreduceRing> ring_;
  std::unique_ptr<AllreduceRecursiveDoubling> doubling_;
  const HostTopology& topology();  // gathered on first use
  std::unique_ptr<HostTopology> topology_;
  std::unique_ptr<AllreduceShm> shm_;
  std::unique_ptr<AllreduceHierarchical> hierarchical_;
};

// One-shot convenience (allocates scratch each call).
void allreduce(Communicator& comm, std::span<float> data, ReduceOp op,
               Algorithm algorithm = Algorithm::kAuto);

// Reduction kernels shared by the algorithms.
// dst[i] = dst[i] + src[i]
void add_into(std::span<float> dst, std::span<const float> src);
// data[i] /= ranks (for ReduceOp::kAverage, after the sum)
void divide_by(std::span<float> data, int ranks);

}  // namespace dojo::comm
