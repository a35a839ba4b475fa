#pragma once
// Whole-file integrity before parsing. HDF5 cannot be trusted to read a damaged file (a
// flipped byte in its heap or B-tree can crash it), so whoever writes a file records its
// FileDigest (size and xxh64) where HDF5 does not look: a shard's in manifest.json, a
// checkpoint's in its own first bytes (an HDF5 user block, over the bytes after it). Whoever
// opens the file calls check_file_digest() first.
// Plain POSIX reads; no HDF5 call, no lock needed; thread-safe.
#include <cstdint>
#include <optional>
#include <string>

namespace dojo::h5 {

struct FileDigest {
  std::int64_t bytes = 0;
  std::uint64_t xxh64 = 0;  // XXH64, seed 0, over the whole file
  bool operator==(const FileDigest&) const = default;
};

// Reads the file from byte `offset` to its end (the whole file by default; a checkpoint
// keeps its own digest in its first bytes and digests the rest). Throws IoError naming it
// when it cannot be opened or read.
FileDigest digest_file(const std::string& path, std::int64_t offset = 0);

// Throws FormatError naming `path` and `what` (e.g. "shard", "checkpoint") when its size
// or xxh64 differs from `expected` (size first: a truncated file is reported as such,
// without reading it); IoError when it cannot be read.
void check_file_digest(const std::string& path, const FileDigest& expected,
                       const std::string& what, std::int64_t offset = 0);

// 16 lower-case hex digits, and back (nullopt for anything else).
std::string to_hex(std::uint64_t value);
std::optional<std::uint64_t> from_hex(const std::string& text);

}  // namespace dojo::h5
