#pragma once
// `dojo bench allreduce`: nccl-tests-style measurement of every all-reduce algorithm on
// the communicators given. For each (size, algorithm): fill the buffer with values whose
// sum is exact in float, run once and check every element against the exact sum, warm
// up, then time `iters` runs (each starts after a barrier; an iteration's time is the
// slowest rank's) and report the median.
//   algbw = bytes / time,  busbw = algbw * 2(n-1)/n  (what each rank's links carry)
#include <cstddef>
#include <string>
#include <vector>

#include "comm/allreduce.hpp"

namespace dojo::comm {

struct AllreduceBenchOptions {
  std::vector<Algorithm> algorithms;
  std::vector<std::size_t> sizes_bytes;
  int iters = 0;  // 0: chosen per size (more for small messages)
  int warmup = 3;
};

struct AllreduceBenchRow {
  Algorithm algorithm;
  std::size_t bytes;
  int ranks;
  double time_us_median;
  double algbw_gbps;
  double busbw_gbps;
  bool correct;
};

// `mpi` runs ring, recursive_doubling, auto and mpi; `gloo` (may be null) runs gloo.
// Collective: every rank calls it with the same options; every rank gets the rows.
std::vector<AllreduceBenchRow> bench_allreduce(Communicator& mpi, Communicator* gloo,
                                               const AllreduceBenchOptions& options);

// "4K,64K,1M" -> bytes (K/M/G = 2^10/2^20/2^30); throws InvalidArgument naming the item.
std::vector<std::size_t> parse_sizes(const std::string& list);
std::string format_bytes(std::size_t bytes);

}  // namespace dojo::comm
