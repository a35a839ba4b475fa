#include "comm/communicator.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdint>

namespace dojo::comm {
namespace {
constexpr int kBarrierTag = kInternalTag + 1;
constexpr int kBroadcastTag = kInternalTag + 2;
constexpr int kAllGatherTag = kInternalTag + 3;
constexpr int kRollCallTag = kInternalTag + 4;
// How long a timed-out collective waits for the other ranks' roll-call tokens.
constexpr Millis kRollCallGrace{3000};
}  // namespace

std::string this_host_name() {
  char name[HOST_NAME_MAX + 1] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "unknown";
  return name;
}

void Communicator::set_hosts(std::vector<std::string> hosts) {
  DOJO_ASSERT(hosts.size() == static_cast<std::size_t>(size()), "{} host names for {} ranks",
              hosts.size(), size());
  hosts_ = std::move(hosts);
}

const std::string& Communicator::host_of(int rank) const {
  static const std::string unknown = "unknown";
  if (rank < 0 || static_cast<std::size_t>(rank) >= hosts_.size()) return unknown;
  return hosts_[static_cast<std::size_t>(rank)];
}

std::string Communicator::describe_rank(int rank) const {
  return fmt::format("rank {} (host {})", rank, host_of(rank));
}

std::string Communicator::describe_ranks(const std::vector<int>& ranks) const {
  if (ranks.empty()) return "none";
  std::string out;
  for (int r : ranks) {
    if (!out.empty()) out += ", ";
    out += describe_rank(r);
  }
  return out;
}

std::vector<int> Communicator::roll_call(Millis grace, int suspect) noexcept {
  using Clock = std::chrono::steady_clock;
  const int n = size();
  std::vector<int> silent;
  try {
    Communicator& channel = roll_call_channel();
    const std::byte token{1};
    std::vector<std::byte> tokens(static_cast<std::size_t>(n));
    std::vector<Request> recvs(static_cast<std::size_t>(n)), sends(static_cast<std::size_t>(n));
    // A peer whose token cannot even be posted (its connection is gone) is silent too;
    // the others are still asked.
    std::vector<char> posted(static_cast<std::size_t>(n), 0);
    for (int peer = 0; peer < n; ++peer) {
      if (peer == rank()) continue;
      const auto p = static_cast<std::size_t>(peer);
      try {
        recvs[p] = channel.irecv(std::span(&tokens[p], 1), peer, kRollCallTag);
        sends[p] = channel.isend(std::span(&token, 1), peer, kRollCallTag);
        posted[p] = 1;
      } catch (const std::exception&) {
        posted[p] = 0;
      }
    }
    std::vector<int> order;
    if (suspect >= 0 && suspect < n && suspect != rank()) order.push_back(suspect);
    for (int peer = 0; peer < n; ++peer) {
      if (peer != rank() && peer != suspect) order.push_back(peer);
    }
    const auto deadline = Clock::now() + grace;
    for (int peer : order) {
      const auto p = static_cast<std::size_t>(peer);
      const auto left =
          std::max(Millis(1), std::chrono::duration_cast<Millis>(deadline - Clock::now()));
      bool failed = !posted[p];
      bool gone = failed;
      if (!failed) {
        try {
          recvs[p].wait(left, WaitPolicy::kLowLatency);
        } catch (const Timeout&) {
          failed = true;
        } catch (const std::exception&) {
          failed = gone = true;
        }
      }
      if (failed) silent.push_back(peer);
      if (gone && peer == suspect) break;  // the connection itself is lost: the answer
    }
    std::sort(silent.begin(), silent.end());
    for (auto& s : sends) {
      try {
        s.wait(Millis(1), WaitPolicy::kLowLatency);
      } catch (const std::exception&) {
        // A token to a stopped peer may stay queued; the request is cancelled below.
      }
    }
  } catch (const std::exception&) {
    // Out of memory for the requests: report what was found so far.
  }
  return silent;
}

std::pair<std::string, int> Communicator::roll_call_finding(int peer) {
  const auto silent = roll_call(std::min(timeout(), kRollCallGrace), peer);
  if (silent.empty()) return {"every rank answered a roll call afterwards", peer};
  return {fmt::format("a roll call of all ranks found no answer from {}", describe_ranks(silent)),
          silent.size() == 1 ? silent.front() : peer};
}

Timeout Communicator::with_roll_call(const Timeout& error) {
  if (size() <= 2) return error;
  const auto [found, peer] = roll_call_finding(error.peer());
  return Timeout(fmt::format("{}; {}", error.what(), found), peer);
}

CommError Communicator::with_roll_call(const CommError& error) {
  if (size() <= 2) return error;
  const auto [found, peer] = roll_call_finding(error.peer());
  return CommError(fmt::format("{}; {}", error.what(), found), peer);
}

Timeout Communicator::collective_timeout(std::string_view what) {
  std::string waiting;
  int peer = -1;
  if (size() == 2) {
    peer = 1 - rank();
    waiting = fmt::format("waiting for {}", describe_rank(peer));
  } else {
    const auto silent = roll_call(std::min(timeout(), kRollCallGrace));
    if (silent.size() == 1) peer = silent.front();
    waiting = silent.empty()
                  ? std::string("every peer answered a roll call afterwards (a rank may be "
                                "running a different collective)")
                  : fmt::format("no answer to a roll call from {}", describe_ranks(silent));
  }
  return Timeout(fmt::format("{}: {} did not complete within {} ms; {}: stopped, dead or out of "
                             "step",
                             describe_rank(rank()), what, timeout().count(), waiting),
                 peer);
}

void Communicator::native_allreduce(std::span<float>, ReduceOp) {
  throw InvalidArgument(fmt::format(
      "the {} backend has no native all-reduce; use algorithm ring or recursive_doubling",
      backend()));
}

// Dissemination barrier: in round k every rank signals rank + 2^k and waits for
// rank - 2^k; after ceil(log2 n) rounds every rank has heard, transitively, from all.
void Communicator::barrier() {
  try {
    dissemination_barrier();
  } catch (const Timeout& e) {
    throw with_roll_call(e);
  } catch (const CommError& e) {
    throw with_roll_call(e);
  }
}

void Communicator::dissemination_barrier() {
  const int n = size();
  std::byte out{1}, in{0};
  for (int step = 1; step < n; step <<= 1) {
    Request recv = irecv(std::span(&in, 1), (rank() - step + n) % n, kBarrierTag);
    Request send = isend(std::span(&out, 1), (rank() + step) % n, kBarrierTag);
    wait(send);
    wait(recv);
  }
}

// Binomial tree rooted at `root`: ceil(log2 n) rounds; in round k, every rank that has
// the data (relative rank < 2^k) sends it to relative rank + 2^k.
void Communicator::broadcast(std::span<std::byte> data, int root) {
  DOJO_CHECK(root >= 0 && root < size(), InvalidArgument,
             "broadcast: root rank {} outside a world of {} ranks", root, size());
  try {
    tree_broadcast(data, root);
  } catch (const Timeout& e) {
    throw with_roll_call(e);
  } catch (const CommError& e) {
    throw with_roll_call(e);
  }
}

void Communicator::tree_broadcast(std::span<std::byte> data, int root) {
  const int n = size();
  const int relative = (rank() - root + n) % n;
  for (int step = 1; step < n; step <<= 1) {
    if (relative < step) {
      const int to = relative + step;
      if (to < n) {
        Request r = isend(data, (to + root) % n, kBroadcastTag);
        wait(r);
      }
    } else if (relative < 2 * step) {
      Request r = irecv(data, (relative - step + root) % n, kBroadcastTag);
      wait(r);
    }
  }
}

// Every rank sends its piece to every other rank directly: n-1 messages each way. The
// pieces are small (metadata, hashes), so latency, not bandwidth, is what matters.
std::vector<std::byte> Communicator::all_gather(std::span<const std::byte> mine) {
  try {
    return direct_all_gather(mine);
  } catch (const Timeout& e) {
    throw with_roll_call(e);
  } catch (const CommError& e) {
    throw with_roll_call(e);
  }
}

std::vector<std::byte> Communicator::direct_all_gather(std::span<const std::byte> mine) {
  const int n = size();
  const std::size_t piece = mine.size();
  std::vector<std::byte> out(piece * static_cast<std::size_t>(n));
  std::copy(mine.begin(), mine.end(), out.begin() + static_cast<std::ptrdiff_t>(piece * rank()));
  std::vector<Request> requests;
  for (int peer = 0; peer < n; ++peer) {
    if (peer == rank()) continue;
    requests.push_back(irecv(std::span(out).subspan(piece * peer, piece), peer, kAllGatherTag));
    requests.push_back(isend(mine, peer, kAllGatherTag));
  }
  for (auto& r : requests) wait(r);
  return out;
}

std::string broadcast_string(Communicator& comm, std::string text, int root) {
  std::uint64_t size = text.size();
  comm.broadcast(std::as_writable_bytes(std::span(&size, 1)), root);
  text.resize(size);
  comm.broadcast(std::as_writable_bytes(std::span(text.data(), text.size())), root);
  return text;
}

std::vector<std::vector<std::byte>> all_gather_bytes(Communicator& comm,
                                                     std::span<const std::byte> mine) {
  const auto sizes = all_gather_value<std::uint64_t>(comm, mine.size());
  const std::uint64_t largest = *std::max_element(sizes.begin(), sizes.end());
  std::vector<std::byte> padded(largest);
  std::copy(mine.begin(), mine.end(), padded.begin());
  const auto all = comm.all_gather(padded);
  std::vector<std::vector<std::byte>> out;
  for (int r = 0; r < comm.size(); ++r) {
    const auto* begin = all.data() + largest * static_cast<std::size_t>(r);
    out.emplace_back(begin, begin + sizes[static_cast<std::size_t>(r)]);
  }
  return out;
}

}  // namespace dojo::comm
