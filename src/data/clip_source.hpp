#pragma once
// ClipSource: a numbered set of clips the loader reads from. ShardSet reads HDF5 shards
// (an ingest folder's manifest, or shard files); it is not thread-safe and in the loader
// only the reader thread calls it (HDF5 is single-threaded anyway).
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "data/clip_shape.hpp"
#include "data/shard.hpp"

namespace dojo::data {

class ClipSource {
 public:
  virtual ~ClipSource() = default;
  virtual std::int64_t size() const = 0;
  virtual const ClipShape& shape() const = 0;
  // Reads global clip i into `out` without verifying it.
  virtual void read(std::int64_t i, std::span<std::uint8_t> out) = 0;
  // Reads clips ids[0], ids[1], ... into consecutive clip_bytes() slices of `out`; the
  // default calls read() for each (a source may read them in parallel).
  virtual void read_many(std::span<const std::int64_t> ids, std::span<std::uint8_t> out);
  // The checksum clip i must have; nullopt-like `has_checksum() == false` for sources
  // that decode video on the fly.
  virtual bool has_checksum() const = 0;
  virtual std::uint64_t checksum(std::int64_t i) const = 0;
  // "shard <path> clip <j>" (or "video <path> clip <j>") for error messages.
  virtual std::string describe(std::int64_t i) const = 0;
  // Ground-truth label columns (labels.hpp; empty: none) and clip i's values, one per
  // column (NaN: that clip's source had no labels). Held in memory: no HDF5 call.
  virtual const std::vector<std::string>& label_names() const;
  virtual std::vector<float> labels(std::int64_t i) const;
};

// The clips of several shards under one global index: shard k's clips follow shard
// k-1's, in the order given (the manifest's order for a folder). From a folder, each
// shard's size and xxh64 are checked against the manifest before HDF5 opens it.
class ShardSet final : public ClipSource {
 public:
  // `source`: an ingest folder, a shard file, or shard files separated by commas.
  explicit ShardSet(const std::string& source);
  std::int64_t size() const override { return total_; }
  const ClipShape& shape() const override { return shape_; }
  void read(std::int64_t i, std::span<std::uint8_t> out) override;
  bool has_checksum() const override { return true; }
  std::uint64_t checksum(std::int64_t i) const override;
  std::string describe(std::int64_t i) const override;
  // Throws FormatError naming two shards whose label columns differ.
  const std::vector<std::string>& label_names() const override;
  std::vector<float> labels(std::int64_t i) const override;
  // Shard and local index of global clip i.
  std::pair<const ShardReader*, std::int64_t> locate(std::int64_t i) const;

 private:
  std::vector<ShardReader> shards_;
  std::vector<std::int64_t> first_;  // global index of each shard's clip 0
  std::int64_t total_ = 0;
  ClipShape shape_;
  std::vector<std::string> label_names_;
  std::string label_mismatch_;  // why the shards' label columns cannot be combined
};

// Every clip's labels of a shard source (folder, shard file or comma-separated shards), in
// global clip order: what a probe fits against.
struct ClipLabels {
  std::vector<std::string> names;  // L columns (empty: no labels anywhere)
  std::int64_t clips = 0;          // N
  std::vector<float> values;       // (N, L); NaN rows: clips whose source had no labels
  std::vector<std::string> sources;  // (N): each clip's source video
};
ClipLabels read_clip_labels(const std::string& source);

}  // namespace dojo::data
