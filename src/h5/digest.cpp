#include "h5/digest.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "core/error.hpp"

namespace dojo::h5 {
namespace {

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

struct StateDeleter {
  void operator()(XXH64_state_t* s) const noexcept { XXH64_freeState(s); }
};

}  // namespace

FileDigest digest_file(const std::string& path, std::int64_t offset) {
  // O_NONBLOCK: a FIFO put where a file should be must not block the open.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  DOJO_CHECK(fd >= 0, IoError, "{}: cannot open: {}", path, std::strerror(errno));
  FdCloser closer{fd};
  struct stat st {};
  DOJO_CHECK(::fstat(fd, &st) == 0, IoError, "{}: cannot stat: {}", path, std::strerror(errno));
  DOJO_CHECK(S_ISREG(st.st_mode), IoError, "{}: not a regular file", path);
  DOJO_CHECK(offset >= 0 && offset <= st.st_size, FormatError,
             "{}: {} bytes, shorter than its {}-byte header", path,
             static_cast<std::int64_t>(st.st_size), offset);
  DOJO_CHECK(::lseek(fd, offset, SEEK_SET) == offset, IoError, "{}: cannot seek: {}", path,
             std::strerror(errno));
  std::unique_ptr<XXH64_state_t, StateDeleter> state(XXH64_createState());
  DOJO_CHECK(state != nullptr, IoError, "{}: cannot allocate a hash state", path);
  XXH64_reset(state.get(), 0);
  std::vector<char> buffer(1 << 20);
  FileDigest digest;
  while (true) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    DOJO_CHECK(n >= 0, IoError, "{}: read failed after {} bytes: {}", path, digest.bytes,
               std::strerror(errno));
    if (n == 0) break;
    XXH64_update(state.get(), buffer.data(), static_cast<std::size_t>(n));
    digest.bytes += n;
  }
  digest.xxh64 = XXH64_digest(state.get());
  return digest;
}

void check_file_digest(const std::string& path, const FileDigest& expected,
                       const std::string& what, std::int64_t offset) {
  struct stat st {};
  DOJO_CHECK(::stat(path.c_str(), &st) == 0, IoError, "{}: {} cannot be read: {}", path, what,
             std::strerror(errno));
  DOJO_CHECK(S_ISREG(st.st_mode), IoError, "{}: {} is not a regular file", path, what);
  DOJO_CHECK(st.st_size - offset == expected.bytes, FormatError,
             "{}: {} is {} bytes, {} were written (truncated or replaced?)", path, what,
             static_cast<std::int64_t>(st.st_size), expected.bytes);
  const FileDigest actual = digest_file(path, offset);
  DOJO_CHECK(actual.bytes == expected.bytes, FormatError,
             "{}: {} is {} bytes, {} were written (changed while reading?)", path, what,
             actual.bytes, expected.bytes);
  DOJO_CHECK(actual.xxh64 == expected.xxh64, FormatError,
             "{}: {} is damaged: xxh64 {} over its {} bytes, {} when written", path, what,
             to_hex(actual.xxh64), actual.bytes, to_hex(expected.xxh64));
}

std::string to_hex(std::uint64_t value) {
  return fmt::format("{:016x}", value);
}

std::optional<std::uint64_t> from_hex(const std::string& text) {
  if (text.size() != 16) return std::nullopt;
  std::uint64_t value = 0;
  for (const char c : text) {
    int digit = -1;
    if (c >= '0' && c <= '9') digit = c - '0';
    if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
    if (digit < 0) return std::nullopt;
    value = value << 4 | static_cast<std::uint64_t>(digit);
  }
  return value;
}

}  // namespace dojo::h5
