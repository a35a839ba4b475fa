#pragma once
// The one way dojo replaces a file: write a temporary file next to it, fsync it, rename it
// over the final name, fsync the folder. A reader sees the old file or the new one, never
// a half-written one, and after a crash the rename is durable.
#include <filesystem>
#include <string>
#include <string_view>

namespace dojo {

// Writes `bytes` to `path` atomically (see above). Throws IoError naming the file (disk
// full, no permission); the old file, if any, is then untouched.
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

// For writers that need a path to write to (HDF5, libavformat):
//   AtomicFile file(final_path);         // temp name: "<final>.partial"
//   write everything to file.temp_path();
//   file.commit();                        // fsync, rename, fsync the folder
// An AtomicFile destroyed without commit() removes its temporary file.
class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path final_path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  const std::filesystem::path& temp_path() const { return temp_; }
  const std::filesystem::path& final_path() const { return final_; }
  void commit();

 private:
  std::filesystem::path final_, temp_;
  bool committed_ = false;
};

// fsync of a file or a folder by path; throws IoError naming it.
void fsync_path(const std::filesystem::path& path);

}  // namespace dojo
