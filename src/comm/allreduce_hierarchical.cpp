#include "comm/allreduce_hierarchical.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <thread>
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
    segment_ = std::make_unique<ShmSegment>(comm, topology_, 2 * piece_elems_);  // two halves
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
  const std::size_t pieces = (data.size() + piece_elems_ - 1) / piece_elems_;
  auto piece_of = [&](std::size_t k) {
    const std::size_t offset = k * piece_elems_;
    return data.subspan(offset, std::min(piece_elems_, data.size() - offset));
  };
  if (!segment_) {  // alone on this host (so S = 1): ring on the buffer itself
    for (std::size_t k = 0; k < pieces; ++k) across_hosts(piece_of(k), op);
    return;
  }
  const int local_size = topology_.local_size();
  const int me = topology_.local_rank();
  // Piece k is staged in half k % 2 of every slot, so piece k+1 is gathered and piece k-1
  // handed back while piece k crosses the hosts.
  auto staged = [&](int local, std::size_t k) {
    return segment_->slot(local).subspan((k % 2) * piece_elems_, piece_of(k).size());
  };
  std::vector<const float*> others(static_cast<std::size_t>(local_size - 1));
  std::thread ring;  // phase 2 of the piece in flight (this rank's only MPI calls meanwhile)
  std::exception_ptr ring_error;
  struct Join {  // on every way out: the ring ends by its own deadlines
    std::thread& thread;
    ~Join() {
      if (thread.joinable()) thread.join();
    }
  } join{ring};
  // Phase 3 of piece k: once every owner's ring of it is done, copy the result out.
  auto hand_back = [&](std::size_t k) {
    if (ring.joinable()) ring.join();
    if (ring_error) std::rethrow_exception(ring_error);
    segment_->arrive();
    segment_->wait_all();
    std::memcpy(piece_of(k).data(), staged(0, k).data(), piece_of(k).size_bytes());
    segment_->arrive();
  };
  for (std::size_t k = 0; k < pieces; ++k) {
    const auto piece = piece_of(k);
    // 1. reduce-scatter within the host. Local rank 0's slot is where the sum forms, so it
    // waits until everyone has copied piece k-2 (or a piece of the last call) out of this
    // half before writing it.
    if (me == 0) segment_->wait_all();
    std::memcpy(staged(me, k).data(), piece.data(), piece.size_bytes());
    segment_->arrive();
    segment_->wait_all();
    std::span<float> chunk;
    if (stripe_ >= 0) {
      const Part part = split_evenly(piece.size(), stripes_, stripe_);
      for (int l = 1; l < local_size; ++l) {
        others[static_cast<std::size_t>(l - 1)] = staged(l, k).data() + part.offset;
      }
      chunk = staged(0, k).subspan(part.offset, part.count);
      add_in_order(chunk, others);
    }
    if (k > 0) hand_back(k - 1);
    // 2. all-reduce across hosts, on a thread of its own while this one goes on with the
    // next piece (MPI_THREAD_SERIALIZED holds: this thread makes no MPI call meanwhile).
    if (stripe_ >= 0) {
      ring = std::thread([this, chunk, op, &ring_error] {
        try {
          across_hosts(chunk, op);
        } catch (...) {
          ring_error = std::current_exception();
        }
      });
    }
  }
  hand_back(pieces - 1);
}

}  // namespace dojo::comm
