#include "comm/local_communicator.hpp"

#include <cstring>

namespace dojo::comm {

std::shared_ptr<LocalWorld> LocalWorld::create(int size) {
  DOJO_CHECK(size >= 1, InvalidArgument, "LocalWorld: size must be at least 1, got {}", size);
  return std::shared_ptr<LocalWorld>(new LocalWorld(size));
}

class LocalRecvRequest final : public RequestImpl {
 public:
  LocalRecvRequest(std::shared_ptr<LocalWorld> world, int source, int dest, int tag,
                   std::uint64_t seq, std::span<std::byte> out)
      : world_(std::move(world)), source_(source), dest_(dest), tag_(tag), seq_(seq), out_(out) {}

  void wait(Millis timeout, WaitPolicy) override {
    const auto key = std::make_tuple(source_, dest_, tag_, seq_);
    std::unique_lock lock(world_->mutex_);
    const bool arrived =
        world_->arrived_.wait_for(lock, timeout, [&] { return world_->mailbox_.count(key) != 0; });
    if (!arrived) {
      const std::string host = this_host_name();
      throw Timeout(fmt::format("rank {} (host {}): no message from rank {} (host {}) (tag {}) "
                                "within {} ms; rank {} may be stopped, dead or out of step",
                                dest_, host, source_, host, tag_, timeout.count(), source_),
                    source_);
    }
    auto node = world_->mailbox_.extract(key);
    lock.unlock();
    const auto& payload = node.mapped();
    DOJO_CHECK(payload.size() == out_.size(), CommError,
               "rank {}: message from rank {} (tag {}) has {} bytes, the receive expects {}", dest_,
               source_, tag_, payload.size(), out_.size());
    if (!payload.empty()) std::memcpy(out_.data(), payload.data(), payload.size());
  }
  int peer() const override { return source_; }

 private:
  std::shared_ptr<LocalWorld> world_;
  int source_, dest_, tag_;
  std::uint64_t seq_;
  std::span<std::byte> out_;
};

LocalCommunicator::LocalCommunicator(std::shared_ptr<LocalWorld> world, int rank)
    : world_(std::move(world)), rank_(rank) {
  DOJO_CHECK(rank >= 0 && rank < world_->size(), InvalidArgument,
             "LocalCommunicator: rank {} outside a world of {} ranks", rank, world_->size());
  set_hosts(std::vector<std::string>(static_cast<std::size_t>(world_->size()), this_host_name()));
}

Request LocalCommunicator::isend(std::span<const std::byte> data, int peer, int tag) {
  DOJO_CHECK(peer >= 0 && peer < size(), InvalidArgument,
             "isend: peer rank {} outside a world of {} ranks", peer, size());
  std::vector<std::byte> payload(data.begin(), data.end());
  {
    std::lock_guard lock(world_->mutex_);
    const auto channel = std::make_tuple(rank_, peer, tag);
    const std::uint64_t seq = world_->sends_posted_[channel]++;
    world_->mailbox_.emplace(std::make_tuple(rank_, peer, tag, seq), std::move(payload));
  }
  world_->arrived_.notify_all();
  return Request();  // eager: already complete
}

Request LocalCommunicator::irecv(std::span<std::byte> data, int peer, int tag) {
  DOJO_CHECK(peer >= 0 && peer < size(), InvalidArgument,
             "irecv: peer rank {} outside a world of {} ranks", peer, size());
  std::uint64_t seq = 0;
  {
    std::lock_guard lock(world_->mutex_);
    seq = world_->recvs_posted_[std::make_tuple(peer, rank_, tag)]++;
  }
  return Request(std::make_unique<LocalRecvRequest>(world_, peer, rank_, tag, seq, data));
}

std::vector<std::unique_ptr<Communicator>> make_local_world(int size) {
  auto world = LocalWorld::create(size);
  std::vector<std::unique_ptr<Communicator>> comms;
  for (int r = 0; r < size; ++r) comms.push_back(std::make_unique<LocalCommunicator>(world, r));
  return comms;
}

}  // namespace dojo::comm
