#pragma once
// A communicator over some of another communicator's ranks: rank i of the sub-communicator
// is parent rank members[i]. Messages go through the parent with the same tags, so the
// sub-communicator adds no cost and keeps the parent's deadlines; errors name parent ranks
// (the requests are the parent's). Used for the per-stripe rings of the hierarchical
// all-reduce.
//
// Two sub-communicators whose member pairs overlap must not carry messages with the same
// tags at the same time (nothing tells them apart). Used by one thread at a time, like
// its parent.
#include <vector>

#include "comm/communicator.hpp"

namespace dojo::comm {

class SubCommunicator final : public Communicator {
 public:
  // `members`: distinct parent ranks, the parent's own rank among them.
  SubCommunicator(Communicator& parent, std::vector<int> members);

  int rank() const override { return rank_; }
  int size() const override { return static_cast<int>(members_.size()); }
  std::string_view backend() const override { return parent_.backend(); }
  int parent_rank(int rank) const { return members_.at(static_cast<std::size_t>(rank)); }

  Request isend(std::span<const std::byte> data, int peer, int tag) override;
  Request irecv(std::span<std::byte> data, int peer, int tag) override;

 private:
  Communicator& parent_;
  std::vector<int> members_;
  int rank_ = -1;
};

}  // namespace dojo::comm
