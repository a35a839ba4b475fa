#pragma once
// Shared-memory all-reduce among the ranks of one host.
//
// Words:
//   slot     each local rank's region of the host's shared segment (shm_segment.hpp),
//            `slot_bytes` long; any rank of the host reads and writes any slot.
//   piece    the part of the buffer that fits in a slot; a run goes piece by piece.
//   chunk    a piece is cut into n contiguous chunks, one per local rank (sizes differ by
//            at most one element); local rank l owns chunk l.
//
// One piece: every rank copies its piece into its own slot and arrives; once all have,
// the owner of chunk c adds chunk c of slots 1..n-1 into chunk c of slot 0 in place
// (divided by n for an average) and arrives; once all have, every rank copies the reduced
// piece out of slot 0 into its buffer and arrives. Local rank 0 waits for those last
// arrivals before it writes slot 0 again; the others may start copying the next piece at
// once (nobody reads their slots any more). So each rank writes the buffer once into
// shared memory, reads 1/n of every slot, and reads the result once: no byte goes through
// the kernel and no rank waits for a message.
//
// Summation order: element i of chunk c is ((x_0 + x_1) + x_2) + ... + x_{n-1}, local rank
// order, the same every run, and every rank copies the one result: bitwise reproducible
// and identical on every rank.
//
// Every wait is a shared-memory barrier with the communicator's deadline; a local peer
// that died or stopped gives dojo::Timeout naming it and its host. Needs every rank of the
// communicator on one host (use `hierarchical` across hosts).
#include <cstddef>
#include <span>

#include "comm/communicator.hpp"
#include "comm/host_topology.hpp"
#include "comm/shm_segment.hpp"

namespace dojo::comm {

class AllreduceShm {
 public:
  static constexpr std::size_t kDefaultSlotBytes = 8u << 20;

  // A collective of every rank of `comm`: maps the host's segment.
  AllreduceShm(Communicator& comm, const HostTopology& topology,
               std::size_t slot_bytes = kDefaultSlotBytes);
  void run(std::span<float> data, ReduceOp op);

 private:
  ShmSegment segment_;
};

// dst[i] = ((dst[i] + srcs[0][i]) + srcs[1][i]) + ...: each element summed in the order of
// `srcs`, a cache-sized block at a time (dst stays in L1 while the sources stream by).
void add_in_order(std::span<float> dst, std::span<const float* const> srcs);

}  // namespace dojo::comm
