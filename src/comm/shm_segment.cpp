#include "comm/shm_segment.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "comm/poll.hpp"

namespace dojo::comm {
namespace {

constexpr int kNameTag = 1101;   // local rank 0 -> peers: the segment's name (or an error)
constexpr int kReadyTag = 1102;  // peers -> local rank 0: mapped
constexpr std::size_t kNameBytes = 256;
constexpr std::size_t kCounterStride = 64;  // one cache line per counter: no false sharing
constexpr std::size_t kPageBytes = 4096;

std::atomic<std::uint64_t> g_segments_made{0};

std::string errno_text() {
  return std::strerror(errno);
}

// Opens (or, with `create`, creates) and maps `name` of `bytes`; nullptr and `error` set
// on failure.
std::byte* map_segment(const std::string& name, std::size_t bytes, bool create,
                       std::string& error) {
  const int fd = ::shm_open(name.c_str(), create ? O_RDWR | O_CREAT | O_EXCL : O_RDWR, 0600);
  if (fd < 0) {
    error = fmt::format("shm_open({}): {}", name, errno_text());
    return nullptr;
  }
  if (create && ::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    error = fmt::format("ftruncate({}, {} bytes): {} (is /dev/shm large enough?)", name, bytes,
                        errno_text());
    ::close(fd);
    return nullptr;
  }
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) {
    error = fmt::format("mmap({}, {} bytes): {}", name, bytes, errno_text());
    return nullptr;
  }
  return static_cast<std::byte*>(p);
}

}  // namespace

Part split_evenly(std::size_t total, int parts, int index) {
  const auto n = static_cast<std::size_t>(parts);
  const auto i = static_cast<std::size_t>(index);
  const std::size_t base = total / n, rem = total % n;
  return {i * base + std::min(i, rem), base + (i < rem ? 1 : 0)};
}

ShmSegment::ShmSegment(Communicator& comm, const HostTopology& topology, std::size_t slot_elems)
    : comm_(comm),
      topology_(topology),
      local_rank_(topology.local_rank()),
      local_size_(topology.local_size()),
      slot_elems_(slot_elems) {
  header_bytes_ = (static_cast<std::size_t>(local_size_) * kCounterStride + kPageBytes - 1) /
                  kPageBytes * kPageBytes;
  mapped_bytes_ =
      header_bytes_ + static_cast<std::size_t>(local_size_) * slot_elems_ * sizeof(float);
  const auto& host_ranks = topology.ranks_on(topology.host());
  std::array<char, kNameBytes> message{};
  std::string error;
  if (local_rank_ == 0) {
    const std::string name = fmt::format("/dojo-allreduce-{}-{}-r{}", ::getpid(),
                                         g_segments_made.fetch_add(1), comm.rank());
    base_ = map_segment(name, mapped_bytes_, true, error);
    // A failure goes to the peers as "!<reason>" so that every rank throws it.
    const std::string text = base_ != nullptr ? name : "!" + error;
    std::memcpy(message.data(), text.data(), std::min(text.size(), kNameBytes - 1));
    std::vector<Request> sends;
    for (int l = 1; l < local_size_; ++l) {
      sends.push_back(comm.isend(std::as_bytes(std::span(message)), host_ranks[l], kNameTag));
    }
    for (auto& s : sends) comm.wait(s);
    if (base_ == nullptr) {
      throw CommError(fmt::format("rank {}: shared memory for the ranks of host {}: {}",
                                  comm.rank(), topology.host_name(topology.host()), error));
    }
    std::byte ack{};
    try {
      for (int l = 1; l < local_size_; ++l) {
        Request r = comm.irecv(std::span(&ack, 1), host_ranks[l], kReadyTag);
        comm.wait(r);
      }
    } catch (...) {
      ::shm_unlink(name.c_str());
      throw;
    }
    ::shm_unlink(name.c_str());  // every local rank has it mapped
  } else {
    Request r = comm.irecv(std::as_writable_bytes(std::span(message)), host_ranks[0], kNameTag);
    comm.wait(r);
    const std::string text(message.data());
    if (text.starts_with("!")) {
      throw CommError(fmt::format(
          "rank {}: shared memory for the ranks of host {} (made by {}): {}", comm.rank(),
          topology.host_name(topology.host()), topology.describe(host_ranks[0]), text.substr(1)));
    }
    base_ = map_segment(text, mapped_bytes_, false, error);
    DOJO_CHECK(base_ != nullptr, CommError, "rank {}: shared memory of host {}: {}", comm.rank(),
               topology.host_name(topology.host()), error);
    const std::byte ack{1};
    Request s = comm.isend(std::span(&ack, 1), host_ranks[0], kReadyTag);
    comm.wait(s);
  }
}

ShmSegment::~ShmSegment() {
  if (base_ != nullptr) ::munmap(base_, mapped_bytes_);
}

std::span<float> ShmSegment::slot(int local) const {
  auto* first = reinterpret_cast<float*>(base_ + header_bytes_);
  return {first + static_cast<std::size_t>(local) * slot_elems_, slot_elems_};
}

std::uint64_t* ShmSegment::counter(int local) const {
  return reinterpret_cast<std::uint64_t*>(base_ + static_cast<std::size_t>(local) * kCounterStride);
}

void ShmSegment::arrive() {
  ++arrivals_;
  std::atomic_ref<std::uint64_t>(*counter(local_rank_)).store(arrivals_, std::memory_order_release);
}

void ShmSegment::wait_all() {
  for (int l = 0; l < local_size_; ++l) {
    if (l != local_rank_) wait_for(l);
  }
}

void ShmSegment::wait_for(int local) {
  std::atomic_ref<std::uint64_t> theirs(*counter(local));
  if (poll_until([&] { return theirs.load(std::memory_order_acquire) >= arrivals_; },
                 comm_.timeout(), comm_.wait_policy())) {
    return;
  }
  const int peer = topology_.ranks_on(topology_.host())[static_cast<std::size_t>(local)];
  throw Timeout(
      fmt::format("rank {}: {} did not reach shared-memory barrier {} within {} ms (it is at {}); "
                  "it may have died, been stopped or fallen out of step",
                  comm_.rank(), topology_.describe(peer), arrivals_, comm_.timeout().count(),
                  theirs.load(std::memory_order_acquire)),
      peer);
}

}  // namespace dojo::comm
