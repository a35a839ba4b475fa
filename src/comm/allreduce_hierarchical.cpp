#include "comm/allreduce_hierarchical.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "comm/allreduce.hpp"
#include "comm/allreduce_shm.hpp"

namespace dojo::comm {

AllreduceHierarchical::AllreduceHierarchical(Communicator& comm, const HostTopology& topology,
                                             std::size_t slot_bytes)
    : comm_(comm),
      topology_(topology),
      stripes_(topology.min_ranks_per_host()),
      stripe_(topology.local_rank() < stripes_ ? topology.local_rank() : -1),
      piece_elems_(std::max<std::size_t>(1, slot_bytes / sizeof(float))) {
  DOJO_CHECK(topology.size() == comm.size() && topology.rank() == comm.rank(), InvalidArgument,
             "hierarchical all-reduce: the topology is of rank {} of {}, the communicator's "
             "rank {} of {}",
             topology.rank(), topology.size(), comm.rank(), comm.size());
  if (topology.local_size() > 1) {
    segment_ = std::make_unique<ShmSegment>(comm, topology_, piece_elems_);
  }
  if (stripe_ >= 0 && topology.host_count() > 1) {
    std::vector<int> owners;
    for (int h = 0; h < topology.host_count(); ++h) {
      owners.push_back(topology.ranks_on(h)[static_cast<std::size_t>(stripe_)]);
    }
    stripe_comm_ = std::make_unique<SubCommunicator>(comm, std::move(owners));
    stripe_ring_ = std::make_unique<AllreduceRing>(*stripe_comm_);
  }
}

void AllreduceHierarchical::across_hosts(std::span<float> chunk, ReduceOp op) {
  if (stripe_ring_) {
    stripe_comm_->set_timeout(comm_.timeout());
    stripe_comm_->set_wait_policy(comm_.wait_policy());
    try {
      stripe_ring_->run(chunk, ReduceOp::kSum);
    } catch (const CommError& e) {
      rethrow_naming_host(e, topology_);
    }
  }
  if (op == ReduceOp::kAverage) divide_by(chunk, comm_.size());
}

void AllreduceHierarchical::run(std::span<float> data, ReduceOp op) {
  if (comm_.size() == 1 || data.empty()) return;
  const int local_size = topology_.local_size();
  const int me = topology_.local_rank();
  std::vector<const float*> others(static_cast<std::size_t>(std::max(local_size - 1, 0)));
  for (std::size_t offset = 0; offset < data.size(); offset += piece_elems_) {
    const std::size_t count = std::min(piece_elems_, data.size() - offset);
    auto piece = data.subspan(offset, count);
    if (!segment_) {  // alone on this host (so S = 1): ring on the buffer itself
      across_hosts(piece, op);
      continue;
    }
    // 1. reduce-scatter within the host.
    if (me == 0) segment_->wait_all();  // everyone has copied the last piece out of slot 0
    std::memcpy(segment_->slot(me).data(), piece.data(), piece.size_bytes());
    segment_->arrive();
    segment_->wait_all();
    if (stripe_ >= 0) {
      const Part part = split_evenly(count, stripes_, stripe_);
      for (int l = 1; l < local_size; ++l) {
        others[static_cast<std::size_t>(l - 1)] = segment_->slot(l).data() + part.offset;
      }
      auto chunk = segment_->slot(0).subspan(part.offset, part.count);
      add_in_order(chunk, others);
      // 2. all-reduce across hosts.
      across_hosts(chunk, op);
    }
    // 3. all-gather within the host.
    segment_->arrive();
    segment_->wait_all();
    std::memcpy(piece.data(), segment_->slot(0).data(), piece.size_bytes());
    segment_->arrive();
  }
}

}  // namespace dojo::comm
