#pragma once
// `dojo synth`: writes procedurally generated driving clips (synth_scene.hpp) as H.264
// MP4 files `synth_0000.mp4`, `synth_0001.mp4`, ... into a folder. Clip i of seed K is
// the same file every time (single-threaded x264). Next to each video, its per-frame
// ground truth from the scene's state (synth_scene.hpp's FrameTruth) goes into
// `synth_0000.labels.json` (labels.hpp), columns curvature (1/m), ego_speed (m/s),
// lane_change (0/1), cars_in_view and light (1 day .. 0.4 dusk).
#include <cstdint>
#include <string>
#include <vector>

namespace dojo::data {

struct SynthOptions {
  std::string out_dir;
  std::int64_t clips = 4;
  double seconds = 4.0;
  std::int64_t width = 320;   // even
  std::int64_t height = 240;  // even
  int fps = 30;
  std::uint64_t seed = 0;
  std::string encoder = "libx264";
  int crf = 23;
  std::int64_t first_index = 0;  // file numbering starts here
};

struct FrameLabels;
// The label columns synth writes (no rows).
FrameLabels synth_label_columns();

// Writes options.clips files and returns their paths in order. Creates out_dir.
std::vector<std::string> synthesize(const SynthOptions& options);

}  // namespace dojo::data
