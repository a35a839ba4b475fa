#pragma once
// Ranks as threads in one process: N LocalCommunicators share one LocalWorld.
//
// isend copies the payload into the world's mailbox and completes at once (eager);
// irecv completes when the message with its sequence number has arrived. Messages are
// matched per (source, destination, tag) in posting order, as in MPI. This backend exists
// for tests (many rank counts in one process, a peer that stops answering) and for the
// single-rank world of an unlaunched process.
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "comm/communicator.hpp"

namespace dojo::comm {

class LocalWorld {
 public:
  static std::shared_ptr<LocalWorld> create(int size);
  int size() const { return size_; }

 private:
  friend class LocalCommunicator;
  friend class LocalRecvRequest;
  explicit LocalWorld(int size) : size_(size) {}

  using Channel = std::tuple<int, int, int>;  // (source, destination, tag)
  const int size_;
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::map<Channel, std::uint64_t> sends_posted_;
  std::map<Channel, std::uint64_t> recvs_posted_;
  std::map<std::tuple<int, int, int, std::uint64_t>, std::vector<std::byte>> mailbox_;
};

class LocalCommunicator final : public Communicator {
 public:
  LocalCommunicator(std::shared_ptr<LocalWorld> world, int rank);

  int rank() const override { return rank_; }
  int size() const override { return world_->size(); }
  std::string_view backend() const override { return "local"; }

  Request isend(std::span<const std::byte> data, int peer, int tag) override;
  Request irecv(std::span<std::byte> data, int peer, int tag) override;

 private:
  std::shared_ptr<LocalWorld> world_;
  int rank_;
};

// Communicators for every rank of a new world of `size` ranks, index = rank.
std::vector<std::unique_ptr<Communicator>> make_local_world(int size);

}  // namespace dojo::comm
