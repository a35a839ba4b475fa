#include "comm/allreduce.hpp"

#include "comm/allreduce_hierarchical.hpp"
#include "comm/allreduce_recursive_doubling.hpp"
#include "comm/allreduce_ring.hpp"
#include "comm/allreduce_shm.hpp"

namespace dojo::comm {

std::string_view to_string(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kAuto:
      return "auto";
    case Algorithm::kRing:
      return "ring";
    case Algorithm::kRecursiveDoubling:
      return "recursive_doubling";
    case Algorithm::kMpi:
      return "mpi";
    case Algorithm::kGloo:
      return "gloo";
    case Algorithm::kShm:
      return "shm";
    case Algorithm::kHierarchical:
      return "hierarchical";
  }
  return "?";
}

Algorithm parse_algorithm(std::string_view name) {
  for (auto a : {Algorithm::kAuto, Algorithm::kRing, Algorithm::kRecursiveDoubling, Algorithm::kMpi,
                 Algorithm::kGloo, Algorithm::kShm, Algorithm::kHierarchical}) {
    if (name == to_string(a)) return a;
  }
  if (name == "rd") return Algorithm::kRecursiveDoubling;
  throw InvalidArgument(fmt::format(
      "all-reduce algorithm '{}' is not one of: auto, ring, recursive_doubling (rd), mpi, gloo, "
      "shm, hierarchical",
      name));
}

// Crossover from `dojo bench allreduce --algo all` on Open MPI 4.1 shared memory (numbers
// in docs/comm.md). Below kSmallBytes a message is latency-bound and recursive doubling's
// log2(n) rounds beat the ring's 2(n-1) steps. MPI's own all-reduce is a few microseconds
// faster still for tiny messages, but it cannot say which rank it waits for when one
// stops, and `auto` is what the trainer's per-step statistics use: a stopped peer there
// must be named. Between 64 KiB and 1 MiB the ring's 2(n-1)/n traffic per rank starts to
// win, and stays ahead.
Algorithm choose_algorithm(const Communicator& comm, std::size_t bytes) {
  constexpr std::size_t kSmallBytes = 256 * 1024;
  if (comm.size() == 1) return Algorithm::kRing;  // a no-op either way
  return bytes < kSmallBytes ? Algorithm::kRecursiveDoubling : Algorithm::kRing;
}

// Hosts: on one host with several ranks, shared memory beats every transfer through the
// MPI library above kSmallBytes (the small rule above stays). Across hosts the host links
// are the bottleneck, and `hierarchical` is the algorithm that puts the least on them; it
// is also chosen for small messages: its cross-host step is a ring over H hosts, 2(H-1)
// steps, no more than recursive doubling's over H*L ranks for the 2-4 hosts measured, and
// its waits have deadlines that name the late rank's host (measured: docs/cluster.md).
Algorithm choose_algorithm(const Communicator& comm, const HostTopology& topology,
                           std::size_t bytes) {
  constexpr std::size_t kSmallBytes = 256 * 1024;
  if (comm.size() == 1) return Algorithm::kRing;
  if (topology.host_count() > 1) return Algorithm::kHierarchical;
  if (bytes >= kSmallBytes && topology.local_size() > 1) return Algorithm::kShm;
  return choose_algorithm(comm, bytes);
}

Allreducer::Allreducer(Communicator& comm, Algorithm algorithm, HostTopology topology)
    : Allreducer(comm, algorithm) {
  topology_ = std::make_unique<HostTopology>(std::move(topology));
}

const HostTopology& Allreducer::topology() {
  if (!topology_) topology_ = std::make_unique<HostTopology>(gather_host_topology(comm_));
  return *topology_;
}

Allreducer::Allreducer(Communicator& comm, Algorithm algorithm)
    : comm_(comm), algorithm_(algorithm) {
  if (algorithm == Algorithm::kMpi || algorithm == Algorithm::kGloo) {
    const std::string_view needed = algorithm == Algorithm::kMpi ? "mpi" : "gloo";
    DOJO_CHECK(comm.backend() == needed && comm.has_native_allreduce(), InvalidArgument,
               "all-reduce algorithm '{}' needs the {} backend, this communicator is {}",
               to_string(algorithm), needed, comm.backend());
  }
}

Allreducer::~Allreducer() = default;

void Allreducer::run(std::span<float> data, ReduceOp op) {
  Algorithm algorithm = algorithm_;
  if (algorithm == Algorithm::kAuto) {
    algorithm = comm_.size() == 1 ? Algorithm::kRing
                                  : choose_algorithm(comm_, topology(), data.size_bytes());
  }
  if (algorithm == Algorithm::kMpi || algorithm == Algorithm::kGloo) {
    comm_.native_allreduce(data, op);  // names the missing ranks itself
    return;
  }
  try {
    run_own(algorithm, data, op);
  } catch (const Timeout& e) {
    // The peer waited for may itself wait for the stopped rank: ask every rank.
    throw comm_.with_roll_call(e);
  } catch (const CommError& e) {
    // A connection closed by a neighbour that timed out first (gloo): ask every rank too.
    throw comm_.with_roll_call(e);
  }
}

void Allreducer::run_own(Algorithm algorithm, std::span<float> data, ReduceOp op) {
  switch (algorithm) {
    case Algorithm::kRing:
      if (!ring_) ring_ = std::make_unique<AllreduceRing>(comm_);
      ring_->run(data, op);
      return;
    case Algorithm::kRecursiveDoubling:
      if (!doubling_) doubling_ = std::make_unique<AllreduceRecursiveDoubling>(comm_);
      doubling_->run(data, op);
      return;
    case Algorithm::kMpi:
    case Algorithm::kGloo:
      break;  // run() handles the backend's own
    case Algorithm::kShm:
      if (!shm_) shm_ = std::make_unique<AllreduceShm>(comm_, topology());
      shm_->run(data, op);
      return;
    case Algorithm::kHierarchical:
      if (!hierarchical_)
        hierarchical_ = std::make_unique<AllreduceHierarchical>(comm_, topology());
      hierarchical_->run(data, op);
      return;
    case Algorithm::kAuto:
      break;
  }
  DOJO_ASSERT(false, "unhandled algorithm {}", static_cast<int>(algorithm));
}

void allreduce(Communicator& comm, std::span<float> data, ReduceOp op, Algorithm algorithm) {
  Allreducer(comm, algorithm).run(data, op);
}

void add_into(std::span<float> dst, std::span<const float> src) {
  DOJO_ASSERT(dst.size() == src.size(), "add_into sizes {} vs {}", dst.size(), src.size());
  float* __restrict d = dst.data();
  const float* __restrict s = src.data();
  const std::size_t n = dst.size();
  for (std::size_t i = 0; i < n; ++i) d[i] += s[i];
}

void divide_by(std::span<float> data, int ranks) {
  const float n = static_cast<float>(ranks);
  for (float& x : data) x /= n;
}

}  // namespace dojo::comm
