#pragma once
// Ground-truth labels: per-frame values a video's sidecar file carries (written by
// `dojo synth` from its scene state), and their per-clip aggregates that ingest stores
// in a shard's /labels.
//
// The sidecar of `dir/name.ext` is `dir/name.labels.json`:
//   {"format": "dojo-labels", "version": 1, "fps": 30,
//    "columns": [{"name": "curvature", "unit": "1/m", "aggregate": "mean"}, ...],
//    "frames": [[v0, v1, ...], ...]}
// one row per frame of the video in presentation order (row f = the f-th decoded frame).
// A column's `aggregate` says how a clip's value is made from its T frames: "mean" (the
// mean over the clip's frames) or "majority" (a 0/1 column: 1 when more than half of the
// clip's frames are 1).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace dojo::data {

inline constexpr const char* kLabelsFormat = "dojo-labels";
inline constexpr std::int64_t kLabelsVersion = 1;
inline constexpr const char* kLabelsSuffix = ".labels.json";

struct LabelColumn {
  std::string name;
  std::string unit;
  std::string aggregate = "mean";  // "mean" or "majority"
};

struct FrameLabels {
  double fps = 0.0;
  std::vector<LabelColumn> columns;
  std::vector<double> values;  // (frames, L) row-major

  std::int64_t width() const { return static_cast<std::int64_t>(columns.size()); }  // L
  std::int64_t frames() const;
  std::vector<std::string> names() const;
};

// `dir/name.ext` -> `dir/name.labels.json`.
std::string labels_path_for(const std::string& video);
// True for a file named `*.labels.json`.
bool is_labels_file(const std::string& path);

// Writes atomically (temporary file, fsync, rename). Throws IoError.
void write_labels(const std::string& path, const FrameLabels& labels);
// Throws IoError (unreadable) or FormatError (bad JSON, format, version, ragged rows,
// unknown aggregate), naming the file.
FrameLabels read_labels(const std::string& path);

// One clip's labels (L values) from the rows `frames` (the clip's frames' row numbers).
// Throws FormatError naming `origin` when a row lies past the end of the labels.
std::vector<float> aggregate_clip(const FrameLabels& labels, std::span<const std::int64_t> frames,
                                  const std::string& origin);

}  // namespace dojo::data
