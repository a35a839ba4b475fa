#pragma once
// The MPI backend. Point-to-point calls are MPI_Isend/MPI_Irecv; waits poll MPI_Test so
// that they can give up at the deadline; barrier/broadcast/all-gather use MPI's
// non-blocking collectives for the same reason (MPI_Iallreduce for the native all-reduce
// too). The communicator is a duplicate of the one given, with MPI_ERRORS_RETURN so every
// failure becomes a CommError; every rank's host name is gathered once, for messages.
//
// Threading: MPI must be initialised with at least MPI_THREAD_SERIALIZED; one thread at
// a time uses a given MpiCommunicator (see grad_sync.hpp for the hand-over).
#include <mpi.h>

#include <string_view>

#include "comm/communicator.hpp"

namespace dojo::comm {

// Throws CommError("<what>: <MPI error string>") unless rc == MPI_SUCCESS.
void check_mpi(int rc, std::string_view what);

class MpiCommunicator final : public Communicator {
 public:
  // Collective over `comm`; `timeout` bounds the setup (duplicate, host names) and is
  // the communicator's timeout() afterwards.
  explicit MpiCommunicator(MPI_Comm comm, Millis timeout = kDefaultTimeout);
  ~MpiCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string_view backend() const override { return "mpi"; }
  MPI_Comm handle() const { return comm_; }

  Request isend(std::span<const std::byte> data, int peer, int tag) override;
  Request irecv(std::span<std::byte> data, int peer, int tag) override;

  void barrier() override;
  void broadcast(std::span<std::byte> data, int root) override;
  std::vector<std::byte> all_gather(std::span<const std::byte> mine) override;

  bool has_native_allreduce() const override { return true; }
  // MPI's own all-reduce (MPI_Iallreduce polled against the deadline). MPI cannot say
  // which rank is missing; a timeout names the ranks that miss a roll call.
  void native_allreduce(std::span<float> data, ReduceOp op) override;

 private:
  // Polls a collective's request to completion or throws collective_timeout(what).
  void wait_collective(MPI_Request& request, std::string_view what);
  void gather_hosts();

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace dojo::comm
