#pragma once
// One host's shared memory for the topology-aware all-reduces: a slot of floats per local
// rank and an arrival counter per local rank, mapped by every rank of the host, so ranks
// read and add each other's data in place with no copy through the kernel.
//
// Setup (the constructor, a collective of the ranks of one host): local rank 0 creates a
// POSIX shared-memory object (shm_open) under a fresh name and sends the name to its local
// peers over the communicator; each maps it and answers; when all have answered, local
// rank 0 unlinks the name, so the memory goes away with the last rank that maps it, however
// the job ends. A failure to create or map is sent to the peers and thrown on every rank.
//
// Synchronisation: arrive() raises this rank's counter by one; wait_all() returns once
// every local rank has arrived at least as often as this one, wait_for(l) once local rank
// l has. Counters are stored with release and loaded with acquire order, so what a rank
// wrote into the slots before it arrived is visible to a rank that waited for that
// arrival. Waits spin briefly, then yield the core, then nap (ranks may outnumber cores),
// and give up at the communicator's timeout() with dojo::Timeout naming the late rank and
// its host.
#include <cstddef>
#include <cstdint>
#include <span>

#include "comm/communicator.hpp"
#include "comm/host_topology.hpp"

namespace dojo::comm {

// Part `index` of `total` elements cut into `parts` contiguous parts whose sizes differ by at
// most one (the first total % parts parts are one longer).
struct Part {
  std::size_t offset;
  std::size_t count;
};
Part split_evenly(std::size_t total, int parts, int index);

class ShmSegment {
 public:
  ShmSegment(Communicator& comm, const HostTopology& topology, std::size_t slot_elems);
  ~ShmSegment();
  ShmSegment(const ShmSegment&) = delete;
  ShmSegment& operator=(const ShmSegment&) = delete;

  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  std::size_t slot_elems() const { return slot_elems_; }
  // Local rank `local`'s slot (slot_elems() floats), writable by any rank of the host.
  std::span<float> slot(int local) const;

  void arrive();
  void wait_all();
  void wait_for(int local);

 private:
  std::uint64_t* counter(int local) const;

  Communicator& comm_;
  HostTopology topology_;
  int local_rank_, local_size_;
  std::size_t slot_elems_;
  std::uint64_t arrivals_ = 0;  // this rank's counter, as last stored
  std::byte* base_ = nullptr;
  std::size_t mapped_bytes_ = 0;
  std::size_t header_bytes_ = 0;
};

}  // namespace dojo::comm
