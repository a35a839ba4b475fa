#include "comm/host_topology.hpp"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <string_view>

#include <fmt/ranges.h>

namespace dojo::comm {

HostTopology::HostTopology(std::vector<std::string> names, int rank) : rank_(rank) {
  DOJO_CHECK(rank >= 0 && static_cast<std::size_t>(rank) < names.size(), InvalidArgument,
             "host topology: rank {} outside a world of {} ranks", rank, names.size());
  host_of_rank_.resize(names.size());
  for (std::size_t r = 0; r < names.size(); ++r) {
    DOJO_CHECK(!names[r].empty(), CommError, "host topology: rank {} reported an empty host name",
               r);
    auto it = std::find(hosts_.begin(), hosts_.end(), names[r]);
    if (it == hosts_.end()) {
      hosts_.push_back(names[r]);
      ranks_on_host_.emplace_back();
      it = hosts_.end() - 1;
    }
    const auto host = static_cast<std::size_t>(it - hosts_.begin());
    host_of_rank_[r] = static_cast<int>(host);
    ranks_on_host_[host].push_back(static_cast<int>(r));
  }
  const auto& mine = ranks_on(host());
  local_rank_ = static_cast<int>(std::find(mine.begin(), mine.end(), rank) - mine.begin());
}

int HostTopology::min_ranks_per_host() const {
  std::size_t fewest = SIZE_MAX;
  for (const auto& r : ranks_on_host_) fewest = std::min(fewest, r.size());
  return static_cast<int>(fewest);
}

int HostTopology::max_ranks_per_host() const {
  std::size_t most = 0;
  for (const auto& r : ranks_on_host_) most = std::max(most, r.size());
  return static_cast<int>(most);
}

std::string HostTopology::describe(int rank) const {
  if (rank < 0 || rank >= size()) return fmt::format("rank {}", rank);
  return fmt::format("rank {} on host {}", rank, host_name(host_of(rank)));
}

std::string HostTopology::summary() const {
  std::string out = fmt::format("{} host{} (", host_count(), host_count() == 1 ? "" : "s");
  for (int h = 0; h < host_count(); ++h) {
    out += fmt::format("{}{}: ranks {}", h ? "; " : "", host_name(h), fmt::join(ranks_on(h), ","));
  }
  return out + ")";
}

HostTopology gather_host_topology(Communicator& comm, const std::string& my_host) {
  const auto all = all_gather_bytes(comm, std::as_bytes(std::span(my_host.data(), my_host.size())));
  std::vector<std::string> names;
  names.reserve(all.size());
  for (const auto& bytes : all) {
    names.emplace_back(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  return HostTopology(std::move(names), comm.rank());
}

void rethrow_naming_host(const CommError& e, const HostTopology& topology) {
  const int peer = e.peer();
  std::string what = e.what();
  if (peer >= 0 && peer < topology.size()) {
    what +=
        fmt::format("; rank {} is on host {}", peer, topology.host_name(topology.host_of(peer)));
  }
  if (dynamic_cast<const Timeout*>(&e) != nullptr) throw Timeout(what, peer);
  throw CommError(what, peer);
}

}  // namespace dojo::comm
