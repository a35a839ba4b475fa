#pragma once
// The shard format: one HDF5 file of fixed-shape uint8 clips.
//
//   /clips        uint8  (N, T, H, W, C), one chunk per clip, no filters
//   /checksum     uint64 (N)   xxhash64 (seed 0) of each clip's T*H*W*C bytes
//   /source       int64  (N)   index into /sources
//   /sources      string (S)   the input file each clip came from
//   /start_frame  int64  (N)   first sampled frame of the clip in its source
//   /fps          float64 (N)  rate of the sampled frames
//   attributes on /: format = "dojo-shard", version = kShardVersion, T, H, W, C,
//                    frame_step (int64)
//
// A writer writes `<path>.partial` and renames it to `<path>` in commit(); a writer
// destroyed without commit() removes the partial file, so a shard on disk is complete.
//
// Threads: the Debian HDF5 build is not thread-safe. Every HDF5 call in the process must
// hold hdf5_mutex(); ShardWriter and ShardReader take it in each member function, and
// other code that calls HDF5 directly (checkpoints) must take it too.
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "data/clip_shape.hpp"

namespace dojo::data {

inline constexpr std::int64_t kShardVersion = 1;
inline constexpr const char* kShardFormat = "dojo-shard";

std::recursive_mutex& hdf5_mutex();

// xxhash64 (seed 0) of a clip's bytes: the value stored in /checksum.
std::uint64_t clip_checksum(std::span<const std::uint8_t> clip);

class ShardWriter {
 public:
  ShardWriter(std::string path, const ClipShape& shape);
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  // Registers a source file name; returns its index (the same name gives the same index).
  std::int64_t add_source(const std::string& name);
  // Appends one clip of shape().clip_bytes() bytes, (T, H, W, C).
  void append(std::span<const std::uint8_t> clip, std::int64_t source, std::int64_t start_frame,
              double fps);
  std::int64_t size() const;  // clips appended so far
  const std::string& path() const;
  // Writes the metadata, closes the file and renames it into place.
  void commit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class ShardReader {
 public:
  // Opens and checks format, version and shape attributes; throws FormatError naming the
  // file and what is wrong.
  explicit ShardReader(std::string path);
  ~ShardReader();
  ShardReader(ShardReader&&) noexcept;
  ShardReader& operator=(ShardReader&&) noexcept;

  const std::string& path() const;
  const ClipShape& shape() const;
  std::int64_t size() const;  // N
  std::int64_t version() const;

  // Reads clip i, (T, H, W, C) uint8, into `out` (clip_bytes long). With `verify`, a
  // checksum mismatch throws FormatError naming the shard and clip index.
  void read_clip(std::int64_t i, std::span<std::uint8_t> out, bool verify = true) const;
  std::vector<std::uint8_t> read_clip(std::int64_t i, bool verify = true) const;
  // True when clip i's bytes match its stored checksum.
  bool verify_clip(std::int64_t i) const;

  std::uint64_t checksum(std::int64_t i) const;
  const std::string& source(std::int64_t i) const;  // source file of clip i
  std::int64_t start_frame(std::int64_t i) const;
  double fps(std::int64_t i) const;
  const std::vector<std::string>& sources() const;
  // Byte offset of clip i's data inside the file (for diagnostics and corruption tests).
  std::int64_t clip_file_offset(std::int64_t i) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dojo::data
