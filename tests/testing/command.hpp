#pragma once
// Running dojo (or any shell command) from a test: exit status and captured output.
// Integration tests get DOJO_BIN (the built executable) and DOJO_MPIEXEC (mpiexec with the
// root and oversubscribe flags) from CTest.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace dojo::testing {

struct CommandResult {
  int exit_code = -1;  // 128 + signal when the shell was killed
  std::string output;  // stdout, and stderr unless discarded
};

// Runs `command` through /bin/sh. With `keep_stderr`, stderr is captured with stdout;
// otherwise it is discarded (for commands whose stdout is JSON).
inline CommandResult run_command(const std::string& command, bool keep_stderr = true) {
  CommandResult r;
  FILE* pipe = ::popen((command + (keep_stderr ? " 2>&1" : " 2>/dev/null")).c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe) != nullptr) r.output += buffer.data();
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

inline std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

// The dojo executable under test.
inline std::string dojo_bin() {
  return env_or_empty("DOJO_BIN");
}
// "mpiexec ... -n N " ready to prefix a command.
inline std::string mpiexec(int ranks) {
  return env_or_empty("DOJO_MPIEXEC") + " -n " + std::to_string(ranks) + " ";
}

}  // namespace dojo::testing
