// The Slurm executor: a job is a batch job of the project's scripts/slurm/train.sbatch or
// ingest.sbatch, submitted with `sbatch --parsable` (an argv, never a shell), followed with
// `squeue` while Slurm lists it and `scontrol show job` once it has left the queue, asked to
// stop with `scancel --signal=USR1` (the ranks checkpoint and exit) and stopped with
// `scancel`. The job name is dojo-<state hash>-<job id>, so a server that died during
// sbatch finds the job again by name; Slurm's job id is the executor id, so a restarted
// server re-attaches to it.
//
// Slurm schedules the CPUs itself: a job takes none of the server's --slots. A probe runs
// the Slurm commands at most once a second per job.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/log.hpp"
#include "serve/auth.hpp"
#include "serve/executor.hpp"

namespace dojo::serve {
namespace fs = std::filesystem;
namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

// The value after `flag` in argv ("" if absent).
std::string flag_value(const std::vector<std::string>& argv, const std::string& flag) {
  for (std::size_t i = 0; i + 1 < argv.size(); ++i)
    if (argv[i] == flag) return argv[i + 1];
  return "";
}

// A field of `scontrol show job -o ID` ("" if the job is unknown).
std::string scontrol_field(const std::string& text, const std::string& field) {
  std::istringstream words(text);
  for (std::string word; words >> word;) {
    if (word.rfind(field + "=", 0) == 0) return word.substr(field.size() + 1);
  }
  return "";
}

// Slurm's states of a job that has not started running yet.
bool waiting_in_slurm(const std::string& state) {
  return state == "PENDING" || state == "CONFIGURING" || state == "REQUEUED";
}

class SlurmExecutor final : public Executor {
 public:
  SlurmExecutor(std::string jobs_root, std::string scripts_dir)
      : jobs_root_(std::move(jobs_root)), scripts_dir_(std::move(scripts_dir)) {
    prefix_ = "dojo-" + hash_secret(fs::weakly_canonical(jobs_root_).string()).substr(0, 8) + "-";
  }
  std::string name() const override { return "slurm"; }
  std::int64_t slots_for(std::int64_t) const override { return 0; }
  bool queues_jobs() const override { return true; }

  Launched launch(const LaunchRequest& r) override {
    DOJO_CHECK(r.argv.size() >= 2, InternalError, "job {}: empty command", r.job_id);
    std::vector<std::string> argv = {"sbatch",
                                     "--parsable",
                                     "--chdir=" + r.dir,
                                     "--output=" + r.log_path,
                                     "--open-mode=append",
                                     "--job-name=" + prefix_ + std::to_string(r.job_id),
                                     "--nodes=1",
                                     fmt::format("--ntasks-per-node={}", r.ranks),
                                     "--export=ALL,DOJO_BIN=" + r.argv[0]};
    if (r.kind == "train") {
      argv.push_back((fs::path(scripts_dir_) / "train.sbatch").string());
      argv.push_back(flag_value(r.argv, "--config"));
      argv.push_back(flag_value(r.argv, "--run-dir"));
    } else {
      // dojo ingest INPUT --out OUT [options]: ingest.sbatch INPUT OUT [options].
      argv.push_back((fs::path(scripts_dir_) / "ingest.sbatch").string());
      argv.push_back(r.argv.at(2));
      argv.push_back(flag_value(r.argv, "--out"));
      for (std::size_t i = 3; i + 1 < r.argv.size(); i += 2) {
        if (r.argv[i] == "--out" || r.argv[i] == "--threads") continue;
        argv.push_back(r.argv[i]);
        argv.push_back(r.argv[i + 1]);
      }
    }
    const auto out = run_command(argv);
    const auto id = trim(out.text.substr(0, out.text.find(';')));
    DOJO_CHECK(out.exit_code == 0 && !id.empty() &&
                   id.find_first_not_of("0123456789") == std::string::npos,
               IoError, "job {}: sbatch failed (exit {}): {}", r.job_id, out.exit_code, out.text);
    Launched l;
    l.id = id;
    l.command = argv;
    return l;
  }

  Probe probe(const JobRecord& job) override {
    const auto now = std::chrono::steady_clock::now();
    auto& cached = cache_[job.id];
    // A job waiting for Slurm is asked about 10 times a second (its start is what a user
    // waits for), a started one once a second.
    const auto max_age = cached.first.started ? std::chrono::milliseconds(1000)
                                              : std::chrono::milliseconds(100);
    if (cached.second.time_since_epoch().count() != 0 && now - cached.second < max_age) {
      return cached.first;
    }
    Probe p;
    const auto queue = run_command({"squeue", "-h", "-j", job.executor_id, "-o", "%T"});
    const auto state = trim(queue.text);
    if (queue.exit_code == 0 && !state.empty()) {
      p.state = Probe::State::kRunning;  // PENDING, RUNNING, COMPLETING, ...
      p.started = !waiting_in_slurm(state);
    } else {
      const auto info = run_command({"scontrol", "show", "job", "-o", job.executor_id});
      const auto final_state = scontrol_field(info.text, "JobState");
      const auto exit = scontrol_field(info.text, "ExitCode");  // "code:signal"
      if (final_state.empty()) {
        p.state = Probe::State::kLost;
        p.reason = fmt::format("Slurm no longer knows job {}", job.executor_id);
      } else if (final_state == "PENDING" || final_state == "RUNNING" ||
                 final_state == "COMPLETING" || final_state == "CONFIGURING" ||
                 final_state == "REQUEUED" || final_state == "SUSPENDED") {
        p.state = Probe::State::kRunning;
        p.started = !waiting_in_slurm(final_state);
      } else {
        p.state = Probe::State::kExited;
        const int code = exit.empty() ? 1 : std::atoi(exit.c_str());
        p.exit_code = final_state == "COMPLETED" ? code : (code != 0 ? code : 1);
        if (final_state != "COMPLETED")
          log::info("job {}: Slurm job {} ended {} (ExitCode {})", job.id, job.executor_id,
                    final_state, exit);
      }
    }
    cached = {p, now};
    return p;
  }

  void request_stop(const JobRecord& job) override {
    cache_.erase(job.id);
    run_command({"scancel", "--signal=USR1", job.executor_id});
  }
  void kill(const JobRecord& job) override {
    cache_.erase(job.id);
    run_command({"scancel", "--signal=KILL", job.executor_id});
    run_command({"scancel", job.executor_id});
  }
  std::optional<Launched> find_started(const JobRecord& job) override {
    const auto out = run_command({"squeue", "-h", "-n", prefix_ + std::to_string(job.id), "-o", "%i"});
    const auto id = trim(out.text);
    if (out.exit_code != 0 || id.empty() || id.find_first_not_of("0123456789") != std::string::npos)
      return std::nullopt;
    Launched l;
    l.id = id;
    return l;
  }

 private:
  std::string jobs_root_, scripts_dir_, prefix_;
  std::map<std::int64_t, std::pair<Probe, std::chrono::steady_clock::time_point>> cache_;
};

}  // namespace

CommandOutput run_command(const std::vector<std::string>& argv) {
  int fds[2];
  DOJO_CHECK(::pipe(fds) == 0, IoError, "pipe for {}", argv.at(0));
  std::vector<char*> c;
  for (const auto& a : argv) c.push_back(const_cast<char*>(a.c_str()));
  c.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execvp(c[0], c.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  CommandOutput out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof(buf))) > 0;) out.text.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return out;
}

std::unique_ptr<Executor> make_slurm_executor(const SlurmExecutorOptions& options) {
  return std::make_unique<SlurmExecutor>(options.jobs_root, options.scripts_dir);
}

}  // namespace dojo::serve
