#pragma once
// Recursive-doubling all-reduce: latency-optimal for small messages, log2(p) rounds of
// whole-buffer exchanges.
//
// Words:
//   p        the largest power of two <= n (the ranks that take part in the doubling)
//   extra    the n - p ranks beyond it. Before the doubling, rank 2i (i < extra) sends its
//            buffer to rank 2i+1, which adds it in and stands for both; after it, rank 2i+1
//            sends the result back.
//   partner  in round k (mask = 2^k), a rank exchanges its whole buffer with the rank
//            whose doubling index differs in bit k, and both add.
//
// Each addition is `lower-index operand + higher-index operand`: float addition is
// commutative, so partners compute bitwise the same sum, and the tree of sums is fixed,
// so every run and every rank gives the same bits.
#include <span>
#include <vector>

#include "comm/communicator.hpp"

namespace dojo::comm {

class AllreduceRecursiveDoubling {
 public:
  explicit AllreduceRecursiveDoubling(Communicator& comm);
  void run(std::span<float> data, ReduceOp op);

 private:
  // Rank in the doubling group, or -1 for a rank that handed its data to a neighbour.
  int doubling_index() const;
  int rank_of_index(int index) const;

  Communicator& comm_;
  int rank_, size_, p_, extra_;
  std::vector<float> inbox_;
};

}  // namespace dojo::comm
