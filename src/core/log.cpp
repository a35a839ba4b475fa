#include "core/log.hpp"

#include <unistd.h>

#include <atomic>
#include <mutex>
#include <string>

namespace dojo::log {
namespace {

std::atomic<int> g_rank{0};
std::atomic<int> g_size{1};
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::mutex g_write_mutex;

const char* level_tag(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug: ";
    case Level::kWarn:
      return "warning: ";
    case Level::kError:
      return "error: ";
    default:
      return "";
  }
}

}  // namespace

void set_rank(int rank, int size) {
  g_rank = rank;
  g_size = size;
}
int rank() {
  return g_rank;
}
int size() {
  return g_size;
}
void set_level(Level level) {
  g_level = static_cast<int>(level);
}
Level level() {
  return static_cast<Level>(g_level.load());
}

void write(Level level, std::string_view message) {
  std::string line =
      fmt::format("[rank {}/{}] {}{}\n", g_rank.load(), g_size.load(), level_tag(level), message);
  std::lock_guard lock(g_write_mutex);
  // One write(2) per line so lines from different ranks sharing a terminal do not interleave.
  std::size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace dojo::log
