#pragma once
// The shard format: one HDF5 file of fixed-shape uint8 clips.
//
//   /clips        uint8  (N, T, H, W, C), one chunk per clip, no filters
//   /checksum     uint64 (N)   xxhash64 (seed 0) of each clip's T*H*W*C bytes
//   /source       int64  (N)   index into the meta's "sources"
//   /start_frame  int64  (N)   first sampled frame of the clip in its source
//   /fps          float64 (N)  rate of the sampled frames
//   /meta         uint8  (bytes) JSON {"sources": [file, ...], "label_names": [name, ...]},
//                              with attribute xxh64 (h5::write_blob): no variable-length
//                              strings, whose damaged heap can crash HDF5
//   /labels       float32 (N, L) per-clip ground truth (labels.hpp), only when L > 0;
//                              a row of NaN: that clip's source had no labels file
//   attributes on /: format = "dojo-shard", version = kShardVersion, T, H, W, C,
//                    frame_step, labels = L (int64)
//
// Version 2 (this one) replaced version 1's variable-length /sources strings with /meta
// and added /labels; a version-1 shard is refused with a message to re-ingest.
//
// Integrity: commit() returns the file's digest (h5/digest.hpp), which ingest records in
// manifest.json; a reader given a digest checks it before HDF5 opens the file.
//
// A writer writes `<path>.partial` and renames it to `<path>` in commit(); a writer
// destroyed without commit() removes the partial file, so a shard on disk is complete.
//
// Threads: the Debian HDF5 build is not thread-safe. Every HDF5 call in the process must
// hold h5::mutex() (h5/handles.hpp); ShardWriter and ShardReader take it in each member
// function.
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "data/clip_shape.hpp"
#include "h5/digest.hpp"

namespace dojo::data {

inline constexpr std::int64_t kShardVersion = 2;
inline constexpr const char* kShardFormat = "dojo-shard";

// xxhash64 (seed 0) of a clip's bytes: the value stored in /checksum.
std::uint64_t clip_checksum(std::span<const std::uint8_t> clip);

class ShardWriter {
 public:
  // `label_names`: the columns of /labels (empty: the shard has no labels).
  ShardWriter(std::string path, const ClipShape& shape, std::vector<std::string> label_names = {});
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  // Registers a source file name; returns its index (the same name gives the same index).
  std::int64_t add_source(const std::string& name);
  // Appends one clip of shape().clip_bytes() bytes, (T, H, W, C), with its labels (one
  // value per label name; empty: unknown, stored as NaN).
  void append(std::span<const std::uint8_t> clip, std::int64_t source, std::int64_t start_frame,
              double fps, std::span<const float> labels = {});
  std::int64_t size() const;  // clips appended so far
  const std::string& path() const;
  const std::vector<std::string>& label_names() const;
  // Writes the metadata, closes and fsyncs the file, renames it into place; returns the
  // digest of the file as written.
  h5::FileDigest commit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class ShardReader {
 public:
  // Opens and checks format, version and shape attributes; throws FormatError naming the
  // file and what is wrong. With `digest` (from the manifest), the whole file is checked
  // against it first, before HDF5 reads a byte of it.
  explicit ShardReader(std::string path, std::optional<h5::FileDigest> digest = std::nullopt);
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
  // Label columns (empty when the shard has none) and clip i's L values (NaN: unknown).
  const std::vector<std::string>& label_names() const;
  std::span<const float> labels(std::int64_t i) const;
  // Byte offset of clip i's data inside the file (for diagnostics and corruption tests).
  std::int64_t clip_file_offset(std::int64_t i) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dojo::data
