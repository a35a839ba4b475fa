#include "comm/allreduce_ring.hpp"

#include <algorithm>

#include "comm/allreduce.hpp"

namespace dojo::comm {
namespace {
constexpr int kReduceScatterTag = 1001;
constexpr int kAllGatherTag = 1002;

int mod(int a, int n) {
  return ((a % n) + n) % n;
}

}  // namespace

AllreduceRing::AllreduceRing(Communicator& comm, std::size_t segment_bytes)
    : comm_(comm),
      rank_(comm.rank()),
      size_(comm.size()),
      next_(mod(comm.rank() + 1, comm.size())),
      prev_(mod(comm.rank() - 1, comm.size())),
      segment_elems_(std::max<std::size_t>(1, segment_bytes / sizeof(float))) {
  if (size_ > 1) {
    inbox_[0].resize(segment_elems_);
    inbox_[1].resize(segment_elems_);
  }
}

AllreduceRing::Chunk AllreduceRing::chunk(std::size_t total, int index) const {
  const auto n = static_cast<std::size_t>(size_);
  const auto i = static_cast<std::size_t>(index);
  const std::size_t base = total / n, rem = total % n;
  return {i * base + std::min(i, rem), base + (i < rem ? 1 : 0)};
}

void AllreduceRing::run(std::span<float> data, ReduceOp op) {
  if (size_ == 1 || data.empty()) return;  // the sum (and average) of one rank is itself
  const std::size_t total = data.size();
  auto segments = [&](const Chunk& c) { return (c.count + segment_elems_ - 1) / segment_elems_; };
  auto segment = [&](const Chunk& c, std::size_t k) {
    const std::size_t begin = k * segment_elems_;
    return data.subspan(c.offset + begin, std::min(segment_elems_, c.count - begin));
  };

  // All-gather receives land directly in their final place and never overlap anything
  // this rank reads or writes before they arrive, so all of them are posted up front:
  // step s receives chunk (r - s).
  std::vector<Request> gather_recvs;
  for (int step = 0; step < size_ - 1; ++step) {
    const Chunk c = chunk(total, mod(rank_ - step, size_));
    for (std::size_t k = 0; k < segments(c); ++k) {
      gather_recvs.push_back(
          comm_.irecv(std::as_writable_bytes(segment(c, k)), prev_, kAllGatherTag));
    }
  }
  std::vector<Request> sends;

  for (int step = 0; step < size_ - 1; ++step) {
    const bool last = step == size_ - 2;
    const Chunk send = chunk(total, mod(rank_ - step, size_));
    const Chunk recv = chunk(total, mod(rank_ - step - 1, size_));
    // The chunk being sent is not written during this step: post all its segments.
    for (std::size_t k = 0; k < segments(send); ++k) {
      sends.push_back(comm_.isend(std::as_bytes(segment(send, k)), next_, kReduceScatterTag));
    }
    // Receive into a double buffer: segment k+1 arrives while segment k is added in.
    const std::size_t n_recv = segments(recv);
    Request inbox_recv[2];
    auto post_recv = [&](std::size_t k) {
      const std::size_t count = segment(recv, k).size();
      inbox_recv[k % 2] = comm_.irecv(std::as_writable_bytes(std::span(inbox_[k % 2]).first(count)),
                                      prev_, kReduceScatterTag);
    };
    for (std::size_t k = 0; k < std::min<std::size_t>(2, n_recv); ++k) post_recv(k);
    for (std::size_t k = 0; k < n_recv; ++k) {
      comm_.wait(inbox_recv[k % 2]);
      auto dst = segment(recv, k);
      add_into(dst, std::span<const float>(inbox_[k % 2]).first(dst.size()));
      if (k + 2 < n_recv) post_recv(k + 2);
      if (last) {
        // This segment is now fully reduced: start its all-gather at once (step 0 of the
        // all-gather sends chunk r + 1, the chunk just finished).
        if (op == ReduceOp::kAverage) divide_by(dst, size_);
        sends.push_back(comm_.isend(std::as_bytes(dst), next_, kAllGatherTag));
      }
    }
  }

  // All-gather steps 1..n-2 forward what the previous step received, segment by segment.
  std::size_t index = 0;
  for (int step = 0; step < size_ - 1; ++step) {
    const Chunk c = chunk(total, mod(rank_ - step, size_));
    for (std::size_t k = 0; k < segments(c); ++k, ++index) {
      comm_.wait(gather_recvs[index]);
      if (step + 1 < size_ - 1) {
        sends.push_back(comm_.isend(std::as_bytes(segment(c, k)), next_, kAllGatherTag));
      }
    }
  }
  for (auto& s : sends) comm_.wait(s);
}

}  // namespace dojo::comm
