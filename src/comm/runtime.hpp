#pragma once
// The process-wide communication runtime: reads how the process was launched (once, into
// a LaunchInfo), owns MPI's lifetime and the world communicator.
//
// Launchers, in the order they are recognised:
//  - MPI: mpirun/mpiexec (OMPI_COMM_WORLD_SIZE), or srun with PMIx/PMI (PMIX_RANK,
//    PMI_RANK, PMI_SIZE). MPI_Init_thread with MPI_THREAD_SERIALIZED (GradSync's
//    communication thread and the main thread both make MPI calls, never at the same
//    time); the world is an MPI communicator. MPI_Init has no deadline: a watchdog ends
//    the process (exit 4) when it has not returned within startup_timeout(), so a rank
//    stopped before it cannot hang the others.
//  - torchrun-style: WORLD_SIZE > 1 with RANK, MASTER_ADDR, MASTER_PORT (and LOCAL_RANK,
//    LOCAL_WORLD_SIZE when given). The world is a gloo communicator bootstrapped through
//    dojo's TCP rendezvous at MASTER_ADDR:MASTER_PORT (tcp_rendezvous.hpp); no MPI.
//    Under torchrun itself (TORCHELASTIC_USE_AGENT_STORE=True) torchrun's own store
//    already holds MASTER_PORT, so the rendezvous uses MASTER_PORT + 1.
//    DOJO_RENDEZVOUS_PORT overrides the port; DOJO_RENDEZVOUS_TIMEOUT_S (default 300)
//    bounds the rendezvous.
//  - Slurm without an MPI process manager: srun tasks (SLURM_PROCID, SLURM_STEP_NUM_TASKS)
//    join the same TCP rendezvous when MASTER_ADDR and MASTER_PORT are set.
//  - Nothing: `dojo train ...` alone, a single local rank; MPI is not initialised.
// An environment that says several ranks while dojo would run as one (WORLD_SIZE=2
// without MASTER_ADDR, srun tasks without PMIx or MASTER_ADDR, an MPI singleton under a
// launcher that announced more ranks) is an InvalidArgument naming the variables.
#include <functional>
#include <memory>
#include <string>

#include "comm/communicator.hpp"
#include "comm/tcp_rendezvous.hpp"

namespace dojo::comm {

struct LaunchInfo {
  enum class Kind { kNone, kMpi, kTcp };
  Kind kind = Kind::kNone;
  std::string launcher;  // "mpi", "torchrun", "slurm", "none": for messages
  // For kTcp (for kMpi, MPI says):
  int rank = 0, size = 1;
  int local_rank = -1, local_size = -1;  // -1: counted from the ranks' host names
  RendezvousAddress master;
  Millis rendezvous_timeout{300'000};
  // For kMpi: the rank count the launcher announced (0: none), and the variable saying it.
  int announced_size = 0;
  std::string announced_by;
};

// How long MPI's start-up may take (MPI_Init, the world's host exchange) before this rank
// gives up with exit code 4: DOJO_STARTUP_TIMEOUT_S, default 300.
Millis startup_timeout();

// Reads the launch variables through `lookup` (getenv; tests pass their own). Throws
// InvalidArgument naming the variables when they say several ranks that dojo cannot join.
LaunchInfo detect_launch(const std::function<const char*(const char*)>& lookup);
LaunchInfo detect_launch();  // from the process environment

// True when the environment shows a launcher started this process as one of several ranks.
bool launched_by_launcher();

class Runtime {
 public:
  // `force_mpi`: initialise MPI even without a launcher (an MPI singleton); a
  // torchrun-style launch is then an InvalidArgument (the command needs MPI).
  explicit Runtime(bool force_mpi = false);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  Communicator& world() { return *world_; }
  bool uses_mpi() const { return mpi_initialized_; }
  const LaunchInfo& launch() const { return launch_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }

  // Ends every rank of the job: MPI_Abort when MPI runs; without MPI, closes the world's
  // connections so the other ranks fail at once (CommError naming this rank). world() is
  // gone afterwards. For main's error path.
  void abort_all_ranks(int code) noexcept;

 private:
  void start_mpi();
  void start_tcp();
  void count_local_ranks(const Communicator& world);

  LaunchInfo launch_;
  bool mpi_initialized_ = false;
  int local_rank_ = 0;
  int local_size_ = 1;
  std::unique_ptr<Communicator> world_;
};

}  // namespace dojo::comm
