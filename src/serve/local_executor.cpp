// The local executor: a job is a process tree on this machine.
//
// launch() forks the *keeper*, which calls setsid() (a new session and process group,
// whose id is the job's id, so the job outlives the server), ignores the stop signals,
// forks the job (default signal dispositions, stdout/stderr to the log, execve of the
// argv — never a shell), waits for it and writes its exit status to <dir>/exit_status
// (via a temporary name and rename), then exits. The process group therefore lives exactly as long as the job: probe() sees
// it with kill(-pgid, 0), and reads exit_status once it is gone. A group that vanished
// without writing that file was killed from outside (kill -9, reboot).
//
// The keeper also writes keeper.pid (before it forks the job: a server that died during
// launch finds the job through it) and job.pid. request_stop() sends SIGUSR1 to the job
// process (mpirun forwards it; ranks checkpoint and exit); kill() sends SIGKILL to the
// whole group. The job runs at nice `nice` (10 by default), so the server sharing its
// cores answers quickly while it trains. Between fork and exec only async-signal-safe
// calls are made: every string and array the children need is built before the fork.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/log.hpp"
#include "serve/executor.hpp"

extern char** environ;

namespace dojo::serve {
namespace fs = std::filesystem;
namespace {

// /proc/PID/stat field 22 (start time in clock ticks since boot); 0 if the process is gone.
std::int64_t process_start_ticks(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  // Field 3 (state) is the first after ')'; field 22 is the 20th from there.
  for (int i = 3; i <= 22 && fields >> field; ++i) {
    if (i == 22) return std::stoll(field);
  }
  return 0;
}

void write_all(int fd, const char* text) {
  std::size_t n = std::strlen(text);
  while (n > 0) {
    const ssize_t w = ::write(fd, text, n);
    if (w <= 0) return;
    text += w;
    n -= static_cast<std::size_t>(w);
  }
}

// Decimal of a non-negative int into `buf` (async-signal-safe).
void format_int(int value, char* buf) {
  char tmp[16];
  int n = 0;
  if (value < 0) value = 0;
  do {
    tmp[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value > 0 && n < 15);
  for (int i = 0; i < n; ++i) buf[i] = tmp[n - 1 - i];
  buf[n] = '\n';
  buf[n + 1] = '\0';
}

// Writes "value\n" to `path`, fsynced (async-signal-safe).
void write_int_file(const char* path, int value) {
  const int fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  char buf[20];
  format_int(value, buf);
  write_all(fd, buf);
  ::fsync(fd);
  ::close(fd);
}

std::int64_t read_int_file(const fs::path& path) {
  std::ifstream in(path);
  std::int64_t value = 0;
  return in >> value ? value : 0;
}

class LocalExecutor final : public Executor {
 public:
  explicit LocalExecutor(const LocalExecutorOptions& options)
      : mpirun_(options.mpirun), jobs_root_(options.jobs_root), nice_(options.nice) {
    if (mpirun_.empty()) mpirun_ = find_on_path("mpirun");
  }
  std::string name() const override { return "local"; }
  std::int64_t slots_for(std::int64_t ranks) const override { return ranks; }

  Launched launch(const LaunchRequest& request) override {
    Launched out;
    if (request.ranks > 1) {
      DOJO_CHECK(!mpirun_.empty(), IoError, "job {}: {} ranks need mpirun, not found on PATH",
                 request.job_id, request.ranks);
      out.command = {mpirun_,      "-np",       std::to_string(request.ranks), "--oversubscribe",
                     "--bind-to", "none"};
    }
    out.command.insert(out.command.end(), request.argv.begin(), request.argv.end());

    // Everything the children touch is prepared here, before fork.
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry = *e;
      if (entry.rfind("OMPI_ALLOW_RUN_AS_ROOT", 0) == 0) continue;
      env.push_back(entry);
    }
    env.emplace_back("OMPI_ALLOW_RUN_AS_ROOT=1");
    env.emplace_back("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1");
    std::vector<char*> envp, argv;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    for (auto& a : out.command) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string keeper_pid_path = (fs::path(request.dir) / "keeper.pid").string();
    const std::string job_pid_path = (fs::path(request.dir) / "job.pid").string();
    const std::string status_tmp = (fs::path(request.dir) / "exit_status.tmp").string();
    const std::string status_path = (fs::path(request.dir) / "exit_status").string();
    std::error_code ec;
    for (const auto& stale : {status_path, keeper_pid_path, job_pid_path}) fs::remove(stale, ec);
    const int log_fd =
        ::open(request.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    DOJO_CHECK(log_fd >= 0, IoError, "job {}: cannot open log '{}': {}", request.job_id,
               request.log_path, std::strerror(errno));
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
      ::close(log_fd);
      throw IoError(fmt::format("job {}: pipe: {}", request.job_id, std::strerror(errno)));
    }
    const char* dir = request.dir.c_str();
    const int nice = nice_;
    const char* exec_error = "dojo serve: could not start the job's command (execve failed)\n";

    const pid_t keeper = ::fork();
    if (keeper < 0) {
      ::close(log_fd), ::close(pipe_fds[0]), ::close(pipe_fds[1]);
      throw IoError(fmt::format("job {}: fork: {}", request.job_id, std::strerror(errno)));
    }
    if (keeper == 0) {
      // The keeper: a new session whose id is the job's process group id.
      ::setsid();
      struct sigaction ignore {};
      ignore.sa_handler = SIG_IGN;
      for (int sig : {SIGUSR1, SIGTERM, SIGINT, SIGHUP, SIGPIPE}) ::sigaction(sig, &ignore, nullptr);
      write_int_file(keeper_pid_path.c_str(), ::getpid());
      const char ready = 1;
      (void)!::write(pipe_fds[1], &ready, 1);
      // Nothing of the server's (its listening socket, the database) stays open in the job.
      const unsigned log_u = static_cast<unsigned>(log_fd);
      if (log_u > 3) ::close_range(3, log_u - 1, 0);
      ::close_range(log_u + 1, ~0U, 0);
      const pid_t job = ::fork();
      if (job == 0) {
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        for (int sig : {SIGUSR1, SIGTERM, SIGINT, SIGHUP, SIGPIPE}) ::sigaction(sig, &dfl, nullptr);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        const int null_fd = ::open("/dev/null", O_RDONLY);
        if (null_fd >= 0) ::dup2(null_fd, 0);
        ::dup2(log_fd, 1);
        ::dup2(log_fd, 2);
        ::close_range(3, ~0U, 0);
        if (::chdir(dir) != 0) ::_exit(126);
        if (nice > 0) (void)::setpriority(PRIO_PROCESS, 0, nice);  // a plain system call
        ::execve(argv[0], argv.data(), envp.data());
        write_all(2, exec_error);
        ::_exit(127);
      }
      ::close(log_fd);
      if (job > 0) write_int_file(job_pid_path.c_str(), job);
      int status = 0;
      int code = 127;
      if (job > 0) {
        while (::waitpid(job, &status, 0) < 0 && errno == EINTR) {
        }
        code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      write_int_file(status_tmp.c_str(), code);
      ::rename(status_tmp.c_str(), status_path.c_str());
      ::_exit(0);
    }
    ::close(pipe_fds[1]);
    ::close(log_fd);
    char ready = 0;
    const ssize_t got = ::read(pipe_fds[0], &ready, 1);
    ::close(pipe_fds[0]);
    DOJO_CHECK(got == 1, IoError, "job {}: starting the job's process failed", request.job_id);
    out.id = std::to_string(keeper);
    out.start_ticks = process_start_ticks(keeper);
    return out;
  }

  Probe probe(const JobRecord& job) override {
    Probe p;
    const pid_t pgid = static_cast<pid_t>(std::stoll(job.executor_id));
    // The keeper is our child unless the server restarted since: reap it if it is done.
    int status = 0;
    ::waitpid(pgid, &status, WNOHANG);
    const bool group_alive = ::kill(-pgid, 0) == 0 || errno == EPERM;
    // The keeper's start time tells our job from a reused id.
    const auto ticks = process_start_ticks(pgid);
    const bool reused = ticks != 0 && job.start_ticks != 0 && ticks != job.start_ticks;
    if (group_alive && !reused) {
      p.state = Probe::State::kRunning;
      return p;
    }
    std::ifstream in(fs::path(jobs_root_) / std::to_string(job.id) / "exit_status");
    int code = -1;
    if (in >> code) {
      p.state = Probe::State::kExited;
      p.exit_code = code;
      return p;
    }
    p.state = Probe::State::kLost;
    p.reason = reused ? fmt::format("process group {} now belongs to another program", pgid)
                      : fmt::format(
                            "the job's processes (group {}) are gone and left no exit status "
                            "(killed from outside)",
                            pgid);
    return p;
  }

  // The job's own process (mpirun forwards SIGUSR1 to its ranks; the rest of the group,
  // e.g. an MPI singleton's helper, must not get it).
  void request_stop(const JobRecord& job) override {
    const auto pid = read_int_file(fs::path(jobs_root_) / std::to_string(job.id) / "job.pid");
    if (pid <= 0 || !group_is_ours(job)) return;
    if (::kill(static_cast<pid_t>(pid), SIGUSR1) != 0 && errno != ESRCH)
      log::warn("job {}: SIGUSR1 to pid {}: {}", job.id, pid, std::strerror(errno));
  }
  void kill(const JobRecord& job) override {
    const pid_t pgid = static_cast<pid_t>(std::stoll(job.executor_id));
    if (!group_is_ours(job)) return;
    if (::kill(-pgid, SIGKILL) != 0 && errno != ESRCH)
      log::warn("job {}: SIGKILL to process group {}: {}", job.id, pgid, std::strerror(errno));
  }
  std::optional<Launched> find_started(const JobRecord& job) override {
    const auto pid = read_int_file(fs::path(jobs_root_) / std::to_string(job.id) / "keeper.pid");
    if (pid <= 0) return std::nullopt;
    Launched out;
    out.id = std::to_string(pid);
    out.start_ticks = process_start_ticks(static_cast<pid_t>(pid));
    return out;
  }

 private:
  bool group_is_ours(const JobRecord& job) const {
    const auto ticks = process_start_ticks(static_cast<pid_t>(std::stoll(job.executor_id)));
    return ticks == 0 || job.start_ticks == 0 || ticks == job.start_ticks;
  }

  std::string mpirun_;
  std::string jobs_root_;
  int nice_ = 0;
};

}  // namespace

std::string find_on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    auto end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const auto candidate = fs::path(dirs.substr(start, end - start)) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  return "";
}

std::unique_ptr<Executor> make_local_executor(const LocalExecutorOptions& options) {
  return std::make_unique<LocalExecutor>(options);
}

}  // namespace dojo::serve
