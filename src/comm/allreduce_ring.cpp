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

std::span<const std::byte> bytes_of(std::span<const float> s) {
  return std::as_bytes(s);
}
std::span<std::byte> bytes_of(std::span<float> s) {
  return std::as_writable_bytes(s);
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
  reduce_scatter(data);
  if (op == ReduceOp::kAverage) {
    // Divide the one chunk this rank owns; the all-gather copies it everywhere.
    const Chunk own = chunk(data.size(), mod(rank_ + 1, size_));
    divide_by(data.subspan(own.offset, own.count), size_);
  }
  all_gather(data);
}

void AllreduceRing::reduce_scatter(std::span<float> data) {
  for (int step = 0; step < size_ - 1; ++step) {
    const Chunk send = chunk(data.size(), mod(rank_ - step, size_));
    const Chunk recv = chunk(data.size(), mod(rank_ - step - 1, size_));
    const std::size_t send_segments = (send.count + segment_elems_ - 1) / segment_elems_;
    const std::size_t recv_segments = (recv.count + segment_elems_ - 1) / segment_elems_;
    auto segment = [&](const Chunk& c, std::size_t k) {
      const std::size_t begin = k * segment_elems_;
      return data.subspan(c.offset + begin, std::min(segment_elems_, c.count - begin));
    };
    // The chunk being sent is not written during this step: post all its segments.
    std::vector<Request> sends;
    sends.reserve(send_segments);
    for (std::size_t k = 0; k < send_segments; ++k) {
      sends.push_back(comm_.isend(bytes_of(segment(send, k)), next_, kReduceScatterTag));
    }
    // Receive into a double buffer: segment k+1 arrives while segment k is added in.
    Request recvs[2];
    auto post_recv = [&](std::size_t k) {
      const std::size_t count = segment(recv, k).size();
      recvs[k % 2] =
          comm_.irecv(bytes_of(std::span(inbox_[k % 2]).first(count)), prev_, kReduceScatterTag);
    };
    for (std::size_t k = 0; k < std::min<std::size_t>(2, recv_segments); ++k) post_recv(k);
    for (std::size_t k = 0; k < recv_segments; ++k) {
      comm_.wait(recvs[k % 2]);
      auto dst = segment(recv, k);
      // x_received + x_own: the chunk's running sum comes first, in ring order.
      add_into(dst, std::span<const float>(inbox_[k % 2]).first(dst.size()));
      if (k + 2 < recv_segments) post_recv(k + 2);
    }
    for (auto& s : sends) comm_.wait(s);
  }
}

void AllreduceRing::all_gather(std::span<float> data) {
  for (int step = 0; step < size_ - 1; ++step) {
    const Chunk send = chunk(data.size(), mod(rank_ + 1 - step, size_));
    const Chunk recv = chunk(data.size(), mod(rank_ - step, size_));
    Request r = comm_.irecv(bytes_of(data.subspan(recv.offset, recv.count)), prev_, kAllGatherTag);
    Request s = comm_.isend(bytes_of(std::span<const float>(data.subspan(send.offset, send.count))),
                            next_, kAllGatherTag);
    comm_.wait(r);
    comm_.wait(s);
  }
}

}  // namespace dojo::comm
