#pragma once
// The gloo backend: TCP pairs between every two ranks, set up through a rendezvous store
// that the MPI world itself provides (Debian's gloo has no MPI context, and a cluster
// need not share a filesystem for a FileStore).
//
// Point-to-point uses gloo's unbound buffers (tag = gloo slot); barrier, broadcast and
// all-gather use gloo's collectives; the native all-reduce is gloo's AllreduceRing.
// Every wait uses the communicator's timeout and turns gloo's exceptions into
// Timeout/CommError naming the peer.
//
// Network: the TCP device binds to the interface named by DOJO_GLOO_IFACE if set,
// else to the address DOJO_GLOO_HOSTNAME resolves to, else to this host's name.
#include <memory>

#include "comm/communicator.hpp"

namespace dojo::comm {

class MpiCommunicator;

class GlooCommunicator final : public Communicator {
 public:
  // Collective over `bootstrap`: every rank of it must construct one.
  explicit GlooCommunicator(MpiCommunicator& bootstrap, Millis timeout = kDefaultTimeout);
  ~GlooCommunicator() override;

  int rank() const override;
  int size() const override;
  std::string_view backend() const override { return "gloo"; }

  Request isend(std::span<const std::byte> data, int peer, int tag) override;
  Request irecv(std::span<std::byte> data, int peer, int tag) override;

  void barrier() override;
  void broadcast(std::span<std::byte> data, int root) override;
  std::vector<std::byte> all_gather(std::span<const std::byte> mine) override;

  bool has_native_allreduce() const override { return true; }
  void native_allreduce(std::span<float> data, ReduceOp op) override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace dojo::comm
