#include "comm/allreduce_shm.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "comm/allreduce.hpp"

namespace dojo::comm {
namespace {

const HostTopology& one_host(const HostTopology& topology) {
  DOJO_CHECK(topology.host_count() == 1, InvalidArgument,
             "all-reduce algorithm 'shm' works among the ranks of one host; these ranks span {}: "
             "use 'hierarchical'",
             topology.summary());
  return topology;
}

}  // namespace

void add_in_order(std::span<float> dst, std::span<const float* const> srcs) {
  constexpr std::size_t kBlockElems = 2048;  // 8 KiB of dst
  for (std::size_t begin = 0; begin < dst.size(); begin += kBlockElems) {
    const std::size_t count = std::min(kBlockElems, dst.size() - begin);
    for (const float* src : srcs) {
      add_into(dst.subspan(begin, count), std::span<const float>(src + begin, count));
    }
  }
}

AllreduceShm::AllreduceShm(Communicator& comm, const HostTopology& topology, std::size_t slot_bytes)
    : segment_(comm, one_host(topology), std::max<std::size_t>(1, slot_bytes / sizeof(float))) {}

void AllreduceShm::run(std::span<float> data, ReduceOp op) {
  const int n = segment_.local_size();
  const int me = segment_.local_rank();
  if (n == 1 || data.empty()) return;
  std::vector<const float*> others(static_cast<std::size_t>(n - 1));
  for (std::size_t offset = 0; offset < data.size(); offset += segment_.slot_elems()) {
    const std::size_t count = std::min(segment_.slot_elems(), data.size() - offset);
    auto piece = data.subspan(offset, count);
    if (me == 0) segment_.wait_all();  // everyone has copied the last piece out of slot 0
    std::memcpy(segment_.slot(me).data(), piece.data(), piece.size_bytes());
    segment_.arrive();
    segment_.wait_all();

    const Part mine = split_evenly(count, n, me);
    for (int l = 1; l < n; ++l)
      others[static_cast<std::size_t>(l - 1)] = segment_.slot(l).data() + mine.offset;
    auto result = segment_.slot(0).subspan(mine.offset, mine.count);
    add_in_order(result, others);
    if (op == ReduceOp::kAverage) divide_by(result, n);
    segment_.arrive();
    segment_.wait_all();

    std::memcpy(piece.data(), segment_.slot(0).data(), piece.size_bytes());
    segment_.arrive();
  }
}

}  // namespace dojo::comm
