#pragma once
// Logging with a `[rank r/N]` prefix on every line. Lines go to stderr, each written
// whole (thread-safe). The rank is set once by the CLI after the communicator exists.
#include <string_view>

#include <fmt/format.h>

namespace dojo::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void set_rank(int rank, int size);
int rank();
int size();
void set_level(Level level);
Level level();

// Writes one prefixed line. Prefer the typed helpers below.
void write(Level level, std::string_view message);

template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::kDebug) write(Level::kDebug, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::kInfo) write(Level::kInfo, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::kWarn, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::kError, fmt::format(f, std::forward<Args>(args)...));
}
// Only rank 0 writes: for progress and summaries that every rank would repeat.
template <typename... Args>
void info0(fmt::format_string<Args...> f, Args&&... args) {
  if (rank() == 0) info(f, std::forward<Args>(args)...);
}

}  // namespace dojo::log
