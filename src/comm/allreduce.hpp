#pragma once
// All-reduce of float32 buffers in place, by name:
//   ring                our own reduce-scatter + all-gather, chunked and pipelined
//                       (allreduce_ring.hpp); bandwidth-optimal for large messages
//   recursive_doubling  log2(n) full-buffer exchanges (allreduce_recursive_doubling.hpp);
//                       latency-optimal for small messages
//   mpi                 MPI's own (MPI_Iallreduce against the deadline; needs the MPI backend)
//   gloo                gloo's ring (needs the gloo backend)
//   auto                recursive_doubling below 256 KiB, ring above (crossover measured
//                       with `dojo bench allreduce`); both name a stopped peer
// Every algorithm, on every backend, waits at most the communicator's timeout() for a
// peer and then throws Timeout (a CommError) naming the rank and its host.
// Every algorithm accepts any element count (including 0) and any rank count (including
// 1 and non-powers of two). ring and recursive_doubling sum in a fixed order, so repeated
// runs give bitwise identical results, identical on every rank.
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "comm/communicator.hpp"

namespace dojo::comm {

enum class Algorithm { kAuto, kRing, kRecursiveDoubling, kMpi, kGloo };

std::string_view to_string(Algorithm algorithm);
// Accepts the names above; throws InvalidArgument naming the value otherwise.
Algorithm parse_algorithm(std::string_view name);

// What `auto` runs for a message of `bytes` on `comm` (never kAuto).
Algorithm choose_algorithm(const Communicator& comm, std::size_t bytes);

class AllreduceRing;
class AllreduceRecursiveDoubling;

// Runs all-reduces on one communicator with one algorithm, reusing scratch buffers
// between calls. Use from one thread at a time.
class Allreducer {
 public:
  Allreducer(Communicator& comm, Algorithm algorithm);
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
