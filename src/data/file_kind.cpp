#include "data/file_kind.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace dojo::data {
namespace {

std::optional<std::string> kind_of(mode_t mode) {
  if (S_ISREG(mode)) return std::nullopt;
  if (S_ISFIFO(mode)) return "a FIFO (named pipe), not a regular file";
  if (S_ISCHR(mode)) return "a character device, not a regular file";
  if (S_ISBLK(mode)) return "a block device, not a regular file";
  if (S_ISSOCK(mode)) return "a socket, not a regular file";
  if (S_ISDIR(mode)) return "a folder, not a regular file";
  return "not a regular file";
}

}  // namespace

std::optional<std::string> not_a_regular_file(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? "does not exist" : std::string("cannot stat: ") + std::strerror(errno);
  }
  if (S_ISLNK(st.st_mode)) {
    if (::stat(path.c_str(), &st) != 0) {
      if (errno == ELOOP) return "a symbolic link loop";
      if (errno == ENOENT) return "a broken symbolic link (its target does not exist)";
      return std::string("a symbolic link whose target cannot be read: ") + std::strerror(errno);
    }
  }
  return kind_of(st.st_mode);
}

std::optional<std::string> confirm_regular_file(const std::string& path) {
  if (auto reason = not_a_regular_file(path)) return reason;
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return std::string("cannot open: ") + std::strerror(errno);
  struct stat st {};
  const bool ok = ::fstat(fd, &st) == 0;
  ::close(fd);
  if (!ok) return std::string("cannot stat: ") + std::strerror(errno);
  return kind_of(st.st_mode);
}

}  // namespace dojo::data
