#include "comm/communicator.hpp"

#include <algorithm>
#include <cstdint>

namespace dojo::comm {
namespace {
constexpr int kBarrierTag = kInternalTag + 1;
constexpr int kBroadcastTag = kInternalTag + 2;
constexpr int kAllGatherTag = kInternalTag + 3;
}  // namespace

void Communicator::native_allreduce(std::span<float>, ReduceOp) {
  throw InvalidArgument(fmt::format(
      "the {} backend has no native all-reduce; use algorithm ring or recursive_doubling",
      backend()));
}

// Dissemination barrier: in round k every rank signals rank + 2^k and waits for
// rank - 2^k; after ceil(log2 n) rounds every rank has heard, transitively, from all.
void Communicator::barrier() {
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
  const int n = size();
  DOJO_CHECK(root >= 0 && root < n, InvalidArgument,
             "broadcast: root rank {} outside a world of {} ranks", root, n);
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
