#pragma once
// `dojo inspect`: what a shard file or an ingest folder (manifest.json) holds, and with
// `verify` whether every clip still matches its checksum. A shard its folder's manifest
// lists is first checked against the manifest's digest (size + xxh64), before HDF5 opens
// it: a damaged shard is a problem naming the file, never a crash.
#include <cstdint>
#include <string>
#include <vector>

#include "data/clip_shape.hpp"
#include "data/manifest.hpp"

namespace dojo::data {

struct ShardSummary {
  std::string path;
  std::int64_t clips = 0;
  std::int64_t version = 0;
  ClipShape shape;
  std::int64_t file_bytes = 0;
  std::vector<std::string> sources;
  std::vector<std::string> label_names;
  bool digest_checked = false;  // size + xxh64 matched the manifest before HDF5 opened it
  std::int64_t clips_verified = 0;
  std::vector<std::int64_t> bad_clips;  // clip indices whose checksum does not match
  std::string error;  // the shard could not be opened / disagrees with the manifest
};

struct InspectReport {
  std::string path;
  bool is_manifest = false;
  Manifest manifest;  // when is_manifest
  std::vector<ShardSummary> shards;
  bool verified = false;
  std::int64_t total_clips = 0;

  // No unreadable shard and no checksum mismatch.
  bool ok() const;
  // "shard X: clip i: checksum mismatch" lines for every problem found.
  std::vector<std::string> problems() const;
  std::string to_json() const;
  std::string to_text() const;
};

// `path` is a shard (.h5) or a folder with manifest.json. Throws IoError / FormatError
// when the path itself is unusable; problems inside shards are collected in the report.
InspectReport inspect(const std::string& path, bool verify);

}  // namespace dojo::data
