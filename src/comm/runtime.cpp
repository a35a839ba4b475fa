#include "comm/runtime.hpp"

#include <mpi.h>

#include <charconv>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "comm/allreduce_ring.hpp"
#include "comm/gloo_communicator.hpp"
#include "comm/local_communicator.hpp"
#include "comm/mpi_communicator.hpp"
#include "core/exit_codes.hpp"
#include "core/log.hpp"

namespace dojo::comm {
namespace {

using Lookup = std::function<const char*(const char*)>;

// The integer value of variable `name`, or `fallback` when unset; InvalidArgument naming
// the variable when it is set to something else.
int int_var(const Lookup& lookup, const char* name, int fallback, int min_value) {
  const char* text = lookup(name);
  if (text == nullptr) return fallback;
  const std::string_view s(text);
  int value = 0;
  const auto [end, error] = std::from_chars(s.data(), s.data() + s.size(), value);
  DOJO_CHECK(error == std::errc() && end == s.data() + s.size() && value >= min_value,
             InvalidArgument, "environment variable {}='{}': expected an integer >= {}", name, s,
             min_value);
  return value;
}

bool has(const Lookup& lookup, const char* name) {
  const char* v = lookup(name);
  return v != nullptr && *v != '\0';
}

// MASTER_ADDR/MASTER_PORT (or DOJO_RENDEZVOUS_PORT) into `info`; the names of the missing
// variables otherwise.
std::vector<std::string> read_master(const Lookup& lookup, LaunchInfo& info) {
  std::vector<std::string> missing;
  if (!has(lookup, "MASTER_ADDR")) missing.emplace_back("MASTER_ADDR");
  if (!has(lookup, "MASTER_PORT") && !has(lookup, "DOJO_RENDEZVOUS_PORT")) {
    missing.emplace_back("MASTER_PORT");
  }
  if (!missing.empty()) return missing;
  info.master.host = lookup("MASTER_ADDR");
  if (has(lookup, "DOJO_RENDEZVOUS_PORT")) {
    info.master.port = int_var(lookup, "DOJO_RENDEZVOUS_PORT", 0, 1);
  } else {
    info.master.port = int_var(lookup, "MASTER_PORT", 0, 1);
    // torchrun's agent serves its own store on MASTER_PORT: take the next port.
    const char* agent = lookup("TORCHELASTIC_USE_AGENT_STORE");
    if (agent != nullptr && std::string_view(agent) == "True") ++info.master.port;
  }
  DOJO_CHECK(info.master.port < 65536, InvalidArgument,
             "rendezvous port {} (MASTER_PORT or DOJO_RENDEZVOUS_PORT) is not a TCP port",
             info.master.port);
  const int timeout_s = int_var(lookup, "DOJO_RENDEZVOUS_TIMEOUT_S", 300, 1);
  info.rendezvous_timeout = Millis(std::int64_t{timeout_s} * 1000);
  return missing;
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " and " : ", ";
    out += names[i];
  }
  return out;
}

// Ends the process if the call it guards has not returned within `timeout`. For MPI's
// start-up, which has no deadline of its own: MPI_Init waits for every rank of the job, so
// one rank stopped or never started would hang all the others there for ever. The exit
// (code 4, peer lost) makes the launcher end the job.
class StartupWatchdog {
 public:
  StartupWatchdog(Millis timeout, std::string what) {
    thread_ = std::thread([this, timeout, what = std::move(what)] {
      std::unique_lock lock(mutex_);
      if (done_changed_.wait_for(lock, timeout, [&] { return done_; })) return;
      log::error("{} did not complete within {} ms (DOJO_STARTUP_TIMEOUT_S): a rank of this "
                 "job is stopped, dead or was never started",
                 what, timeout.count());
      std::_Exit(kExitPeerLost);
    });
  }
  ~StartupWatchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    done_changed_.notify_all();
    thread_.join();
  }
  StartupWatchdog(const StartupWatchdog&) = delete;
  StartupWatchdog& operator=(const StartupWatchdog&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable done_changed_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace

Millis startup_timeout() {
  const int seconds = int_var([](const char* name) { return std::getenv(name); },
                              "DOJO_STARTUP_TIMEOUT_S", 300, 1);
  return Millis(std::int64_t{seconds} * 1000);
}

LaunchInfo detect_launch(const Lookup& lookup) {
  LaunchInfo info;
  // Slurm's task count for this srun step (the batch script itself is not a step).
  const int slurm_tasks = has(lookup, "SLURM_STEP_NUM_TASKS")
                              ? int_var(lookup, "SLURM_STEP_NUM_TASKS", 1, 1)
                              : 1;

  // MPI: Open MPI's mpirun, PMIx (srun --mpi=pmix, prterun), and Slurm's PMI2.
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"}) {
    if (lookup(var) != nullptr) {
      info.kind = LaunchInfo::Kind::kMpi;
      info.launcher = "mpi";
      for (const char* size_var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
        if (has(lookup, size_var)) {
          info.announced_size = int_var(lookup, size_var, 1, 1);
          info.announced_by = size_var;
          break;
        }
      }
      if (info.announced_size == 0 && slurm_tasks > 1) {
        info.announced_size = slurm_tasks;
        info.announced_by = "SLURM_STEP_NUM_TASKS";
      }
      return info;
    }
  }

  // torchrun-style.
  const int world_size = int_var(lookup, "WORLD_SIZE", 1, 1);
  if (world_size > 1) {
    std::vector<std::string> missing = read_master(lookup, info);
    if (!has(lookup, "RANK")) missing.insert(missing.begin(), "RANK");
    DOJO_CHECK(missing.empty(), InvalidArgument,
               "WORLD_SIZE={} says this process is one of {} ranks (a torchrun-style launch), "
               "but {} {} not set: dojo would run as a single rank. Set RANK, MASTER_ADDR and "
               "MASTER_PORT (torchrun does), or unset WORLD_SIZE to run alone",
               world_size, world_size, join(missing), missing.size() == 1 ? "is" : "are");
    info.kind = LaunchInfo::Kind::kTcp;
    info.launcher = "torchrun";
    info.size = world_size;
    info.rank = int_var(lookup, "RANK", 0, 0);
    DOJO_CHECK(info.rank < world_size, InvalidArgument,
               "environment variable RANK={} is outside WORLD_SIZE={}", info.rank, world_size);
    info.local_rank = int_var(lookup, "LOCAL_RANK", -1, 0);
    info.local_size = int_var(lookup, "LOCAL_WORLD_SIZE", -1, 1);
    return info;
  }

  // srun tasks without an MPI process manager.
  if (slurm_tasks > 1) {
    const std::vector<std::string> missing = read_master(lookup, info);
    DOJO_CHECK(missing.empty(), InvalidArgument,
               "SLURM_STEP_NUM_TASKS={} says srun started {} tasks, but there is no MPI process "
               "manager (no PMIX_RANK or PMI_RANK) and {} {} not set: every task would run "
               "alone as rank 0. Use `srun --mpi=pmix`, or set MASTER_ADDR and MASTER_PORT",
               slurm_tasks, slurm_tasks, join(missing), missing.size() == 1 ? "is" : "are");
    DOJO_CHECK(has(lookup, "SLURM_PROCID"), InvalidArgument,
               "SLURM_STEP_NUM_TASKS={} is set but SLURM_PROCID is not", slurm_tasks);
    info.kind = LaunchInfo::Kind::kTcp;
    info.launcher = "slurm";
    info.size = slurm_tasks;
    info.rank = int_var(lookup, "SLURM_PROCID", 0, 0);
    DOJO_CHECK(info.rank < slurm_tasks, InvalidArgument,
               "SLURM_PROCID={} is outside SLURM_STEP_NUM_TASKS={}", info.rank, slurm_tasks);
    info.local_rank = int_var(lookup, "SLURM_LOCALID", -1, 0);
    return info;
  }
  info.launcher = "none";
  return info;
}

LaunchInfo detect_launch() {
  return detect_launch([](const char* name) { return std::getenv(name); });
}

bool launched_by_launcher() {
  try {
    return detect_launch().kind != LaunchInfo::Kind::kNone;
  } catch (const InvalidArgument&) {
    return true;  // it says several ranks, however badly
  }
}

Runtime::Runtime(bool force_mpi) : launch_(detect_launch()) {
  if (launch_.kind == LaunchInfo::Kind::kTcp) {
    DOJO_CHECK(!force_mpi, InvalidArgument,
               "this command needs MPI (mpirun, or srun --mpi=pmix); the environment is a "
               "{}-style launch of {} ranks without MPI (WORLD_SIZE/RANK or SLURM_* with "
               "MASTER_ADDR)",
               launch_.launcher, launch_.size);
    start_tcp();
  } else if (launch_.kind == LaunchInfo::Kind::kMpi || force_mpi) {
    start_mpi();
  } else {
    world_ = std::make_unique<LocalCommunicator>(LocalWorld::create(1), 0);
    log::set_rank(0, 1);
  }
}

namespace {

// Open MPI's TCP transport sends a message above btl_tcp_eager_limit (64 KiB by default)
// only after the receiver has answered its first fragment. Between two hosts that answer
// travels in the one TCP stream of the pair, behind every byte of bulk data the receiver is
// sending the other way, so on a busy link each ring segment waited for a queue's worth of
// data: the 2-host ring reached 66-78% of a 1 Gbit/s link, against 95% for plain TCP. With
// the limit above the ring's segment size, a segment goes at once into the receive it was
// posted for (the ring posts them ahead), and the ring runs at the TCP ceiling. Settings of
// the user's own (environment, mpirun --mca) win.
void tune_mpi_transport() {
  const std::string limit = std::to_string(AllreduceRing::kDefaultSegmentBytes + (64u << 10));
  for (const char* name : {"OMPI_MCA_btl_tcp_eager_limit", "OMPI_MCA_btl_tcp_rndv_eager_limit"}) {
    ::setenv(name, limit.c_str(), /*overwrite=*/0);
  }
}

}  // namespace

void Runtime::start_mpi() {
  const Millis deadline = startup_timeout();
  int provided = 0;
  tune_mpi_transport();
  {
    // Which rank this is, before MPI can say: from the launcher's variables.
    const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
    if (rank == nullptr) rank = std::getenv("PMIX_RANK");
    if (rank == nullptr) rank = std::getenv("PMI_RANK");
    StartupWatchdog watchdog(deadline, fmt::format("rank {} (host {}): MPI start-up (MPI_Init)",
                                                   rank ? rank : "?", this_host_name()));
    check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided),
              "MPI_Init_thread");
  }
  mpi_initialized_ = true;
  DOJO_CHECK(provided >= MPI_THREAD_SERIALIZED, CommError,
             "MPI_Init_thread: dojo needs MPI_THREAD_SERIALIZED (level {}), the MPI library "
             "provides only level {}",
             MPI_THREAD_SERIALIZED, provided);
  // The world's set-up (duplicate, host names) has deadlines of its own.
  auto world = std::make_unique<MpiCommunicator>(MPI_COMM_WORLD, deadline);
  world->set_timeout(kDefaultTimeout);
  DOJO_CHECK(launch_.announced_size <= 1 || world->size() == launch_.announced_size,
             InvalidArgument,
             "{}={} says this process is one of {} ranks, but MPI started a world of {}: the "
             "launcher's process manager (PMIx) was not reached. Launch with mpirun, or srun "
             "--mpi=pmix",
             launch_.announced_by, launch_.announced_size, launch_.announced_size, world->size());
  log::set_rank(world->rank(), world->size());
  count_local_ranks(*world);
  world_ = std::move(world);
}

// Ranks sharing this host (for thread placement), counted from the gathered host names:
// no blocking collective (MPI_Comm_split_type has no deadline).
void Runtime::count_local_ranks(const Communicator& world) {
  local_rank_ = 0;
  local_size_ = 0;
  for (int r = 0; r < world.size(); ++r) {
    if (world.host_of(r) != world.host_of(world.rank())) continue;
    if (r < world.rank()) ++local_rank_;
    ++local_size_;
  }
}

void Runtime::start_tcp() {
  log::set_rank(launch_.rank, launch_.size);
  TcpRendezvous rendezvous(launch_.master, launch_.rank, launch_.size, launch_.rendezvous_timeout);
  auto world = std::make_unique<GlooCommunicator>(rendezvous);
  // Ranks sharing this host: as the launcher says, else counted from the host names.
  count_local_ranks(*world);
  if (launch_.local_rank >= 0) local_rank_ = launch_.local_rank;
  if (launch_.local_size >= 1) local_size_ = launch_.local_size;
  log::info0("{} launch: {} ranks joined through the rendezvous at {} (gloo backend)",
             launch_.launcher, world->size(), launch_.master.describe());
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
  // Without MPI: close this rank's connections, so that peers blocked on it fail at once
  // with a CommError naming it instead of waiting for their timeout.
  try {
    world_.reset();
  } catch (...) {
    // Best effort on the way out.
  }
}

}  // namespace dojo::comm
