#include "comm/sub_communicator.hpp"

#include <algorithm>

namespace dojo::comm {

SubCommunicator::SubCommunicator(Communicator& parent, std::vector<int> members)
    : parent_(parent), members_(std::move(members)) {
  for (std::size_t i = 0; i < members_.size(); ++i) {
    DOJO_CHECK(members_[i] >= 0 && members_[i] < parent.size(), InvalidArgument,
               "sub-communicator: member {} is not a rank of the parent (size {})", members_[i],
               parent.size());
    DOJO_CHECK(std::count(members_.begin(), members_.end(), members_[i]) == 1, InvalidArgument,
               "sub-communicator: rank {} listed twice", members_[i]);
    if (members_[i] == parent.rank()) rank_ = static_cast<int>(i);
  }
  DOJO_CHECK(rank_ >= 0, InvalidArgument, "sub-communicator: parent rank {} is not a member",
             parent.rank());
  set_timeout(parent.timeout());
  set_wait_policy(parent.wait_policy());
}

Request SubCommunicator::isend(std::span<const std::byte> data, int peer, int tag) {
  return parent_.isend(data, parent_rank(peer), tag);
}

Request SubCommunicator::irecv(std::span<std::byte> data, int peer, int tag) {
  return parent_.irecv(data, parent_rank(peer), tag);
}

}  // namespace dojo::comm
