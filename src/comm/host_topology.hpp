#pragma once
// Which ranks share a host. The topology-aware all-reduces (allreduce_shm.hpp,
// allreduce_hierarchical.hpp) move bytes through shared memory between ranks of one host
// and over the network only between hosts, and errors name a peer's host with its rank.
//
// Words:
//   host        a machine, known by its hostname (gethostname); ranks with the same name
//               share memory. Hosts are numbered in the order of their lowest rank.
//   local rank  a rank's index among the ranks of its host, in rank order.
//
// Grouping by hostname works on every backend (MPI, gloo, ranks as threads) and agrees
// with MPI_Comm_split_type(MPI_COMM_TYPE_SHARED) on a cluster whose nodes have distinct
// names (which Open MPI and Slurm require anyway).
#include <string>
#include <vector>

#include "comm/communicator.hpp"

namespace dojo::comm {

class HostTopology {
 public:
  // From every rank's host name (index = rank), as seen by `rank`.
  HostTopology(std::vector<std::string> host_of_rank_names, int rank);

  int rank() const { return rank_; }
  int size() const { return static_cast<int>(host_of_rank_.size()); }
  int host_count() const { return static_cast<int>(hosts_.size()); }
  int host() const { return host_of_rank_[static_cast<std::size_t>(rank_)]; }
  int host_of(int rank) const { return host_of_rank_.at(static_cast<std::size_t>(rank)); }
  const std::string& host_name(int host) const { return hosts_.at(static_cast<std::size_t>(host)); }
  // The world ranks on `host`, ascending (local rank = index).
  const std::vector<int>& ranks_on(int host) const {
    return ranks_on_host_.at(static_cast<std::size_t>(host));
  }
  int local_rank() const { return local_rank_; }
  int local_size() const { return static_cast<int>(ranks_on(host()).size()); }
  // Fewest and most ranks any host has.
  int min_ranks_per_host() const;
  int max_ranks_per_host() const;

  // "rank 3 on host dojo-h1", for error messages.
  std::string describe(int rank) const;
  // "2 hosts (dojo-h0: ranks 0,1; dojo-h1: ranks 2,3)".
  std::string summary() const;

 private:
  std::vector<std::string> hosts_;
  std::vector<int> host_of_rank_;
  std::vector<std::vector<int>> ranks_on_host_;
  int rank_;
  int local_rank_ = 0;
};

// Every rank's host name, gathered over `comm` (a collective: every rank calls it).
// `my_host` defaults to this_host_name() (communicator.hpp); tests pass made-up names to put ranks-as-threads
// on several "hosts".
HostTopology gather_host_topology(Communicator& comm,
                                  const std::string& my_host = this_host_name());

// Rethrows a transport error `e` of a wait with the host of the rank it names added
// ("...; rank 3 is on host dojo-h1"), keeping its type (Timeout or CommError) and peer.
[[noreturn]] void rethrow_naming_host(const CommError& e, const HostTopology& topology);

}  // namespace dojo::comm
