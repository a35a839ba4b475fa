#include "train/run_folder.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "train/checkpoint.hpp"

namespace dojo::train {
namespace fs = std::filesystem;

namespace {

std::string host_name() {
  char name[256] = {};
  return ::gethostname(name, sizeof(name) - 1) == 0 ? std::string(name) : std::string("?");
}

}  // namespace

RunFolder::RunFolder(std::string path) : path_(std::move(path)) {
  std::error_code ec;
  fs::create_directories(fs::path(path_) / "samples", ec);
  DOJO_CHECK(!ec, IoError, "run folder {}: cannot create it: {}", path_, ec.message());
  const fs::path lock_path = fs::path(path_) / ".lock";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  DOJO_CHECK(lock_fd_ >= 0, IoError, "run folder {} is not writable: {}", path_,
             std::strerror(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    std::ifstream in(lock_path);
    std::string holder;
    std::getline(in, holder);
    ::close(lock_fd_);
    lock_fd_ = -1;
    DOJO_CHECK(err != EWOULDBLOCK, IoError,
               "run folder {} is in use by another trainer ({}); wait for it to finish, stop it, "
               "or choose another --run-dir",
               path_, holder.empty() ? "holder unknown" : holder);
    throw IoError(fmt::format("run folder {}: cannot lock {}: {}", path_, lock_path.string(),
                              std::strerror(err)));
  }
  const std::string me = fmt::format("pid {} on host {}\n", ::getpid(), host_name());
  const bool written = ::ftruncate(lock_fd_, 0) == 0 &&
                       ::pwrite(lock_fd_, me.data(), me.size(), 0) ==
                           static_cast<ssize_t>(me.size());
  if (!written) {
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw IoError(fmt::format("run folder {} is not writable (disk full or no permission)", path_));
  }
}

RunFolder::~RunFolder() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

std::int64_t RunFolder::newest_checkpoint_step() const {
  const auto files = checkpoint_step_files((fs::path(path_) / "checkpoints").string());
  return files.empty() ? -1 : checkpoint_step_of(files.front());
}

void RunFolder::refuse_fresh_start_over_checkpoints() const {
  const std::int64_t step = newest_checkpoint_step();
  DOJO_CHECK(step < 0, InvalidArgument,
             "run folder {} already holds checkpoints (the newest at step {}): pass --resume auto "
             "to continue that run, or choose another --run-dir for a new one (dojo never trains "
             "a fresh run over an earlier one)",
             path_, step);
}

void RunFolder::check_room_for_checkpoint(std::size_t params) const {
  // A lower bound: the three float32 arenas (parameters, two AdamW moments).
  const std::uintmax_t need_bytes = 3 * params * sizeof(float);
  std::error_code ec;
  const auto space = fs::space(path_, ec);
  if (ec) return;  // unknown here; a failing checkpoint write reports itself
  DOJO_CHECK(space.available >= need_bytes, IoError,
             "run folder {}: {:.2f} MiB free, a checkpoint of this model needs at least "
             "{:.2f} MiB (disk full?)",
             path_, static_cast<double>(space.available) / (1 << 20),
             static_cast<double>(need_bytes) / (1 << 20));
}

void RunFolder::write(const std::string& name, const std::string& text) const {
  write_file_atomic(fs::path(path_) / name, text);
}

}  // namespace dojo::train
