#pragma once
// The process-wide communication runtime: owns MPI's lifetime and the world communicator.
//
// Under a launcher (mpirun/mpiexec, or srun with PMIx/PMI) it calls MPI_Init_thread with
// MPI_THREAD_SERIALIZED (GradSync's communication thread and the main thread both make
// MPI calls, never at the same time) and the world is an MPI communicator. Started
// without a launcher (`dojo train ...` alone), the world is a single local rank and MPI
// is not initialised at all.
#include <memory>

#include "comm/communicator.hpp"

namespace dojo::comm {

// True when the environment shows a launcher started this process as one of several ranks.
bool launched_by_launcher();

class Runtime {
 public:
  // `force_mpi`: initialise MPI even without a launcher (an MPI singleton).
  explicit Runtime(bool force_mpi = false);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  Communicator& world() { return *world_; }
  bool uses_mpi() const { return mpi_initialized_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }

  // Ends every rank of the job (MPI_Abort when MPI runs). For main's error path.
  void abort_all_ranks(int code) noexcept;

 private:
  bool mpi_initialized_ = false;
  int local_rank_ = 0;
  int local_size_ = 1;
  std::unique_ptr<Communicator> world_;
};

}  // namespace dojo::comm
