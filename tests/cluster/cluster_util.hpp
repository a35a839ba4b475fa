#pragma once
// Helpers for the cluster tests: shell commands with their output, background processes
// with a PID to signal, polling with a deadline, and the shared tiny training setup.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "train/checkpoint.hpp"

namespace dojo::cluster_test {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

inline std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}
inline std::string dojo() {
  return env("DOJO_BIN");
}
inline std::string source_dir() {
  return env("DOJO_SOURCE_DIR");
}

inline std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

struct Result {
  int exit_code;  // 128 + signal when the shell was killed
  std::string output;
};

// Runs `command` through /bin/sh, stdout and stderr captured together.
inline Result run(const std::string& command, const fs::path& log) {
  const int status = std::system((command + " > '" + log.string() + "' 2>&1").c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), read_text(log)};
}

// Polls `done` every 100 ms until it holds or `seconds` pass; true when it held.
template <typename Done>
bool wait_until(Done done, double seconds) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return true;
}

// A command started in the background (`exec`ed by /bin/sh, so pid() is the command's own
// PID), output to `log`. The destructor kills and reaps it if it is still running.
class Background {
 public:
  Background(const std::string& command, fs::path log) : log_(std::move(log)) {
    pid_ = ::fork();
    if (pid_ == 0) {
      const std::string line = "exec " + command + " > '" + log_.string() + "' 2>&1";
      ::execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~Background() {
    if (pid_ > 0 && !exit_code_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  pid_t pid() const { return pid_; }
  // The exit code once the process ended (128 + signal when killed), else nullopt.
  std::optional<int> poll() {
    if (exit_code_) return exit_code_;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return exit_code_;
  }
  std::optional<int> wait_for(double seconds) {
    wait_until([&] { return poll().has_value(); }, seconds);
    return poll();
  }
  std::string output() const { return read_text(log_); }

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  fs::path log_;
};

// PIDs of the processes whose parent is `parent` (from /proc/<pid>/stat).
inline std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = read_text(entry.path() / "stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) == 2 && ppid == parent) {
      out.push_back(static_cast<pid_t>(std::stoi(name)));
    }
  }
  return out;
}

// The newest complete checkpoint of a run, if any.
inline std::optional<train::Checkpoint> latest(const fs::path& run_dir) {
  if (!fs::exists(run_dir / "checkpoints" / "latest")) return std::nullopt;
  return train::load_latest_checkpoint(run_dir.string());
}
inline std::int64_t latest_step(const fs::path& run_dir) {
  const auto c = latest(run_dir);
  return c ? c->meta.step : 0;
}

// Makes a folder of tiny synthetic shards and a config for the tiny model on it (no eval
// data, so runs are short). Returns the config path.
inline fs::path make_tiny_setup(const fs::path& root) {
  const std::string r = root.string();
  for (const auto& cmd :
       {fmt::format("{} synth --out {}/videos --clips 4 --seconds 4 --size 96x64 --fps 15 --seed 1",
                    dojo(), r),
        fmt::format("{} ingest {}/videos --out {}/shards --frames 4 --size 16x16", dojo(), r, r)}) {
    const auto res = run(cmd, root / "setup.log");
    EXPECT_EQ(res.exit_code, 0) << cmd << "\n" << res.output;
  }
  const fs::path config = root / "tiny.yaml";
  std::ofstream(config) << fmt::format(
      "model: tiny\ndata:\n  shards: {}/shards\n  workers: 1\n"
      "train:\n  steps: 20\n  global_batch: 8\n  lr: 0.003\n  warmup_steps: 5\n"
      "  checkpoint_every: 10\n  threads: 1\nmesh:\n  preset: tile\n",
      r);
  return config;
}

// Settings of a run long enough to interrupt: many cheap steps, a checkpoint every 100.
inline const char* kLongRun =
    "--set train.steps=8000 --set train.checkpoint_every=100 --set train.log_every=100";
inline constexpr std::int64_t kLongRunSteps = 8000;

}  // namespace dojo::cluster_test
