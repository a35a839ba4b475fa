#include "comm/allreduce_recursive_doubling.hpp"

#include "comm/allreduce.hpp"

namespace dojo::comm {
namespace {
constexpr int kFoldTag = 1011;
constexpr int kExchangeTag = 1012;
constexpr int kUnfoldTag = 1013;
}  // namespace

AllreduceRecursiveDoubling::AllreduceRecursiveDoubling(Communicator& comm)
    : comm_(comm), rank_(comm.rank()), size_(comm.size()), p_(1) {
  while (p_ * 2 <= size_) p_ *= 2;
  extra_ = size_ - p_;
}

int AllreduceRecursiveDoubling::doubling_index() const {
  if (rank_ < 2 * extra_) return rank_ % 2 == 1 ? rank_ / 2 : -1;
  return rank_ - extra_;
}

int AllreduceRecursiveDoubling::rank_of_index(int index) const {
  return index < extra_ ? 2 * index + 1 : index + extra_;
}

void AllreduceRecursiveDoubling::run(std::span<float> data, ReduceOp op) {
  if (size_ == 1 || data.empty()) return;
  auto bytes = [](std::span<float> s) { return std::as_writable_bytes(s); };
  inbox_.resize(data.size());
  std::span<float> inbox(inbox_);

  // Fold the extra ranks into their odd neighbours.
  if (rank_ < 2 * extra_) {
    if (rank_ % 2 == 0) {
      Request s = comm_.isend(std::as_bytes(data), rank_ + 1, kFoldTag);
      comm_.wait(s);
    } else {
      Request r = comm_.irecv(bytes(inbox), rank_ - 1, kFoldTag);
      comm_.wait(r);
      add_into(data, inbox);  // commutative: same bits as inbox + data
    }
  }

  const int index = doubling_index();
  if (index >= 0) {
    for (int mask = 1; mask < p_; mask <<= 1) {
      const int partner = rank_of_index(index ^ mask);
      Request r = comm_.irecv(bytes(inbox), partner, kExchangeTag);
      Request s = comm_.isend(std::as_bytes(data), partner, kExchangeTag);
      comm_.wait(r);
      comm_.wait(s);
      add_into(data, inbox);
    }
    if (op == ReduceOp::kAverage) divide_by(data, size_);
  }

  // Hand the result back to the folded ranks.
  if (rank_ < 2 * extra_) {
    if (rank_ % 2 == 1) {
      Request s = comm_.isend(std::as_bytes(data), rank_ - 1, kUnfoldTag);
      comm_.wait(s);
    } else {
      Request r = comm_.irecv(bytes(data), rank_ + 1, kUnfoldTag);
      comm_.wait(r);
    }
  }
}

}  // namespace dojo::comm
