#pragma once
// Executors run a job's command as a process tree outside the server, and find it again
// after a restart from what the database kept (executor_id, start_ticks). Like the
// communicator backends, each lives behind this one small interface in its own file:
//   local_executor.cpp  fork/exec (mpirun for more than one rank) within N CPU slots
//   slurm_executor.cpp  sbatch --parsable, squeue/scontrol, scancel
//
// Threading: called from the scheduler thread only.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "serve/store.hpp"

namespace dojo::serve {

struct LaunchRequest {
  std::int64_t job_id = 0;
  std::string kind;               // train | ingest
  std::vector<std::string> argv;  // the dojo command for one rank ({dojo, train, ...})
  std::int64_t ranks = 1;
  std::string dir;       // the job folder (working directory)
  std::string log_path;  // stdout and stderr go here (appended)
};

struct Launched {
  std::string id;                // process group id or Slurm job id
  std::int64_t start_ticks = 0;  // local: the process's start time, to tell a reused pid
  std::vector<std::string> command;  // what was run (for the job's record)
};

struct Probe {
  enum class State { kRunning, kExited, kLost } state = State::kRunning;
  // kRunning: false while the job still waits in the executor's own queue (Slurm's
  // PENDING); the job's started_s is set when it is first seen started.
  bool started = true;
  int exit_code = -1;
  std::string reason;  // kLost: why
};

class Executor {
 public:
  virtual ~Executor() = default;
  virtual std::string name() const = 0;
  // CPU slots a job of `ranks` ranks takes from the executor's budget (0: none, Slurm
  // schedules them itself).
  virtual std::int64_t slots_for(std::int64_t ranks) const = 0;
  // True when a launched job may still wait in a queue of the executor's own (Slurm).
  virtual bool queues_jobs() const { return false; }
  virtual Launched launch(const LaunchRequest& request) = 0;
  virtual Probe probe(const JobRecord& job) = 0;
  // Asks the job to checkpoint and stop (SIGUSR1).
  virtual void request_stop(const JobRecord& job) = 0;
  // Stops it now.
  virtual void kill(const JobRecord& job) = 0;
  // A job marked running whose launch was not recorded (the server died during launch):
  // its process, if one was started.
  virtual std::optional<Launched> find_started(const JobRecord& job) = 0;
};

// Runs argv (no shell; PATH searched) and waits: its exit code (128 + signal when killed)
// and its stdout; stderr goes to ours.
struct CommandOutput {
  int exit_code = -1;
  std::string text;
};
CommandOutput run_command(const std::vector<std::string>& argv);

struct LocalExecutorOptions {
  std::string jobs_root;  // job N's folder is jobs_root/N
  std::string mpirun;     // "" = found on PATH
  // Jobs run at this nice value (setpriority), so the server on the same cores stays
  // responsive while they train; 0 = the server's own priority.
  int nice = 10;
};
std::unique_ptr<Executor> make_local_executor(const LocalExecutorOptions& options);

struct SlurmExecutorOptions {
  std::string jobs_root;
  std::string scripts_dir;  // train.sbatch and ingest.sbatch (scripts/slurm)
};
std::unique_ptr<Executor> make_slurm_executor(const SlurmExecutorOptions& options);


// The path of `program` on $PATH ("" if none).
std::string find_on_path(const std::string& program);

}  // namespace dojo::serve
