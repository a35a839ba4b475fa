#include "core/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.hpp"

namespace dojo {
namespace fs = std::filesystem;

void fsync_path(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  DOJO_CHECK(fd >= 0, IoError, "{}: cannot open to fsync: {}", path.string(), std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  DOJO_CHECK(rc == 0, IoError, "{}: fsync failed: {}", path.string(), std::strerror(err));
}

namespace {

fs::path folder_of(const fs::path& path) {
  return path.has_parent_path() ? path.parent_path() : fs::path(".");
}

}  // namespace

void write_file_atomic(const fs::path& path, std::string_view bytes) {
  AtomicFile file(path);
  const int fd = ::open(file.temp_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  DOJO_CHECK(fd >= 0, IoError, "{}: cannot create: {}", file.temp_path().string(),
             std::strerror(errno));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      throw IoError(fmt::format("{}: write failed after {} of {} bytes: {} (disk full?)",
                                file.temp_path().string(), done, bytes.size(),
                                std::strerror(err)));
    }
    done += static_cast<std::size_t>(n);
  }
  DOJO_CHECK(::close(fd) == 0, IoError, "{}: close failed: {}", file.temp_path().string(),
             std::strerror(errno));
  file.commit();
}

AtomicFile::AtomicFile(fs::path final_path)
    : final_(std::move(final_path)), temp_(final_.string() + ".partial") {}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    std::error_code ec;
    fs::remove(temp_, ec);
  }
}

void AtomicFile::commit() {
  DOJO_ASSERT(!committed_, "{} committed twice", final_.string());
  fsync_path(temp_);
  DOJO_CHECK(std::rename(temp_.c_str(), final_.c_str()) == 0, IoError, "rename {} -> {}: {}",
             temp_.string(), final_.string(), std::strerror(errno));
  committed_ = true;
  fsync_path(folder_of(final_));
}

}  // namespace dojo
