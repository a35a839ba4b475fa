#include "data/write_atomic.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.hpp"

namespace dojo::data {

void write_text_atomic(const std::string& path, std::string_view text) {
  const std::string partial = path + ".partial";
  const int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  DOJO_CHECK(fd >= 0, IoError, "{}: cannot create: {}", partial, std::strerror(errno));
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(partial.c_str());
      throw IoError(fmt::format("{}: write failed: {}", partial, std::strerror(err)));
    }
    done += static_cast<std::size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!synced) {
    ::unlink(partial.c_str());
    throw IoError(fmt::format("{}: fsync failed: {}", partial, std::strerror(err)));
  }
  DOJO_CHECK(std::rename(partial.c_str(), path.c_str()) == 0, IoError,
             "{}: cannot rename into place: {}", path, std::strerror(errno));
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const int dfd = ::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace dojo::data
