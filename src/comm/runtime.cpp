#include "comm/runtime.hpp"

#include <mpi.h>

#include <cstdlib>

#include "comm/local_communicator.hpp"
#include "comm/mpi_communicator.hpp"
#include "core/log.hpp"

namespace dojo::comm {

bool launched_by_launcher() {
  // Open MPI's mpirun, PMIx (srun --mpi=pmix, prterun), and Slurm's PMI2.
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"}) {
    if (std::getenv(var) != nullptr) return true;
  }
  return false;
}

Runtime::Runtime(bool force_mpi) {
  if (!force_mpi && !launched_by_launcher()) {
    world_ = std::make_unique<LocalCommunicator>(LocalWorld::create(1), 0);
    log::set_rank(0, 1);
    return;
  }
  int provided = 0;
  check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
  mpi_initialized_ = true;
  DOJO_CHECK(provided >= MPI_THREAD_SERIALIZED, CommError,
             "MPI_Init_thread: dojo needs MPI_THREAD_SERIALIZED (level {}), the MPI library "
             "provides only level {}",
             MPI_THREAD_SERIALIZED, provided);
  auto world = std::make_unique<MpiCommunicator>(MPI_COMM_WORLD);
  log::set_rank(world->rank(), world->size());
  // Ranks sharing this host, for thread placement.
  MPI_Comm node = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world->rank(), MPI_INFO_NULL,
                                &node),
            "MPI_Comm_split_type");
  MPI_Comm_rank(node, &local_rank_);
  MPI_Comm_size(node, &local_size_);
  MPI_Comm_free(&node);
  world_ = std::move(world);
}

Runtime::~Runtime() {
  world_.reset();
  if (mpi_initialized_) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
}

void Runtime::abort_all_ranks(int code) noexcept {
  if (mpi_initialized_) MPI_Abort(MPI_COMM_WORLD, code);
}

}  // namespace dojo::comm
