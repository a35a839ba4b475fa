#pragma once
// manifest.json: what an ingest output folder holds. Written by rank 0 of `dojo ingest`
// (to a temporary name, then renamed), read by the loader, inspect and the next ingest
// (which skips inputs already listed).
//
//   {"format": "dojo-manifest", "version": 2,
//    "clip": {"T":16, "H":96, "W":96, "C":3, "frame_step":1}, "fps": 0, "clip_stride": 16,
//    "shards": [{"path": "shard-r0000-00000.h5", "clips": 256, "bytes": 7340032,
//                "xxh64": "0123456789abcdef"}, ...],
//    "inputs": [{"path": "/abs/a.mp4", "status": "ok"|"skipped"|"ignored", "reason": "...",
//                "frames_decoded": 390, "clips": 24, "decode_errors": 0,
//                "labels": "/abs/a.labels.json" or ""}, ...]}
//
// Shard paths are relative to the manifest's folder, so the folder can be moved. Each
// shard's size and xxh64 (h5/digest.hpp) are checked before HDF5 opens it. Input status:
// "ok" (clips written), "skipped" (a video that could not be used, or not a regular file:
// FIFO, device, broken link, loop; `reason` says which), "ignored" (a folder scan saw it
// but it is not a video: another extension, a labels file). Version 1 had no digests and
// is refused with a message to re-ingest.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/clip_shape.hpp"
#include "h5/digest.hpp"

namespace dojo::data {

inline constexpr std::int64_t kManifestVersion = 2;
inline constexpr const char* kManifestName = "manifest.json";

struct ManifestShard {
  std::string path;  // relative to the manifest folder
  std::int64_t clips = 0;
  h5::FileDigest digest;
};

struct ManifestInput {
  std::string path;
  std::string status;  // "ok", "skipped" or "ignored"
  std::string reason;  // why it was skipped, or what went wrong while decoding
  std::int64_t frames_decoded = 0;
  std::int64_t clips = 0;
  std::int64_t decode_errors = 0;
  std::string labels;  // the labels file carried into its clips' /labels, or ""
};

struct Manifest {
  std::int64_t version = kManifestVersion;
  ClipShape clip;
  double fps = 0.0;  // sampling rate asked of the reader; 0 = each file's own
  std::int64_t clip_stride = 0;
  std::vector<ManifestShard> shards;
  std::vector<ManifestInput> inputs;

  std::int64_t total_clips() const;
};

bool manifest_exists(const std::string& dir);
// Throws IoError (missing/unreadable) or FormatError (bad JSON, wrong version or fields).
Manifest read_manifest(const std::string& dir);
// Writes dir/manifest.json atomically (temporary file, fsync, rename).
void write_manifest(const std::string& dir, const Manifest& manifest);

// The digest the manifest in `shard_path`'s folder records for it; nullopt when there is
// no manifest there or it does not list the file (a damaged manifest throws).
std::optional<h5::FileDigest> manifest_digest_for(const std::string& shard_path);

std::string manifest_to_json(const Manifest& manifest, int indent = 2);
Manifest manifest_from_json(const std::string& text, const std::string& origin);

}  // namespace dojo::data
