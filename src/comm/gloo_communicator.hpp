#pragma once
// The gloo backend: TCP pairs between every two ranks, set up through a rendezvous store:
// the MPI world's own (Debian's gloo has no MPI context, and a cluster need not share a
// filesystem for a FileStore), or dojo's TCP rendezvous at MASTER_ADDR:MASTER_PORT for
// torchrun-style launches without MPI (tcp_rendezvous.hpp).
//
// Point-to-point uses gloo's unbound buffers (tag = gloo slot); barrier, broadcast and
// all-gather are the Communicator defaults on top of them (so a timeout names the peer
// it waited for); the native all-reduce is gloo's ring (gloo::allreduce). Every wait
// uses the communicator's timeout() at the time of the call and turns gloo's exceptions
// into Timeout/CommError naming the peer and its host.
//
// gloo closes every pair of a context when one wait in it times out, so a roll call after
// a timeout (Communicator::roll_call) could not reach anyone over the same pairs: it runs
// on a second context of its own, connected at setup.
//
// Network: the TCP device binds to the interface named by DOJO_GLOO_IFACE if set,
// else to the address DOJO_GLOO_HOSTNAME resolves to, else to this host's name.
#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.hpp"

namespace gloo::rendezvous {
class Store;
}

namespace dojo::comm {

class MpiCommunicator;
class TcpRendezvous;

class GlooCommunicator final : public Communicator {
 public:
  // Collective over `bootstrap`: every rank of it must construct one.
  explicit GlooCommunicator(MpiCommunicator& bootstrap, Millis timeout = kDefaultTimeout);
  // Collective over the ranks meeting at `rendezvous` (its rank, size and timeout); the
  // store is closed once every rank is connected.
  explicit GlooCommunicator(TcpRendezvous& rendezvous);
  ~GlooCommunicator() override;

  int rank() const override;
  int size() const override;
  std::string_view backend() const override { return "gloo"; }

  Request isend(std::span<const std::byte> data, int peer, int tag) override;
  Request irecv(std::span<std::byte> data, int peer, int tag) override;

  bool has_native_allreduce() const override { return true; }
  void native_allreduce(std::span<float> data, ReduceOp op) override;

 protected:
  Communicator& roll_call_channel() override;

 private:
  struct State;
  // The roll-call channel: a second gloo context on the same device, with pairs of its own.
  GlooCommunicator(std::unique_ptr<State> state, std::vector<std::string> hosts, Millis timeout);
  void connect(int rank, int size, gloo::rendezvous::Store& store, std::vector<std::string> hosts);
  void divide(std::span<float> data) const;
  std::unique_ptr<State> state_;
  std::unique_ptr<GlooCommunicator> roll_call_;
};

}  // namespace dojo::comm
