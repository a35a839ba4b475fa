#pragma once
// What a run leaves for a person: metrics.jsonl lines, the progress line, loss.png and
// the reconstruction grids.
#include <chrono>
#include <cstdint>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/config.hpp"

namespace dojo::train {

// metrics.jsonl is append-only (dojo serve and the dashboard follow it by byte offset). A
// run resumed from step S appends {"kind": "resume", "step": S}: the rows before it with a
// step above S belong to the part of the run that was abandoned (steps after the
// checkpoint it resumed from), and readers drop them, as read_metrics does.
//
// The rows of the run as it stands: every JSON object in the file, in order, without the
// rows a later resume row abandoned and without the resume rows themselves. A missing file
// gives no rows; a line that is not JSON is skipped.
std::vector<nlohmann::json> read_metrics(const std::string& path);
// The row a run resumed from `step` appends first.
nlohmann::json resume_row(std::int64_t step);

// Appends one JSON object per line and flushes it (a crash loses at most the current line).
class MetricsLog {
 public:
  // `append`: keep existing lines (a resumed run continues the file).
  MetricsLog(const std::string& path, bool append);
  void write(const nlohmann::json& record);

 private:
  std::string path_;
  std::ofstream out_;
};

// Rank 0's progress: one updating line on a terminal, plain log lines otherwise.
class Progress {
 public:
  Progress(std::int64_t first_step, std::int64_t total_steps);
  void update(std::int64_t step, double loss, double clips_per_s, double data_wait_share);
  void finish();

 private:
  bool tty_;
  std::int64_t first_step_, total_;
  std::chrono::steady_clock::time_point start_;
};

struct CurvePoint {
  double step;
  double value;
};

// Train loss (line) and eval loss (points) against step, log-scaled loss axis.
void plot_loss(const std::string& path, const std::vector<CurvePoint>& train,
               const std::vector<CurvePoint>& eval);

// One band per clip: `frames` frames of the input, the masked input (masked tubelets
// grey) and the reconstruction, left to right, under a title row whose last title is
// `reconstruction_title` (say which statistics de-normalised it). Clips are (T, H, W, C)
// floats in [0, 1], C = 1 or 3 (RGB), in the model's clip shape; is_masked is (tokens).
struct SampleClip {
  std::span<const float> input;
  std::span<const float> reconstruction;
  std::vector<std::uint8_t> is_masked;
};
void write_sample_grid(const std::string& path, const std::vector<SampleClip>& clips,
                       const model::ModelConfig& config, int frames,
                       const std::string& reconstruction_title);

}  // namespace dojo::train
