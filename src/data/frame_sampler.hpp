#pragma once
// FrameSampler: which decoded frames a reader hands out when it samples at a fixed rate.
//
// Words: a *tick* is an output time n / target_fps (n = 0, 1, ...), measured from the
// first frame; each tick takes whichever decoded frame is nearest in time (the previous
// or the current one). A frame's time is its timestamp; a frame without one comes one
// *nominal interval* (1 / nominal_fps, the stream's rate; the target's when the stream has
// none) after the frame before it, so a stream without timestamps is sampled by frame
// index at its nominal rate. Frames whose time does not move forward are dropped.
//
// Discontinuities: a gap between two frames larger than max_gap_s (max(1 s, 8 nominal
// intervals)) is not filled with copies of the frame before it: time is re-based so the
// frame after the gap comes one nominal interval later, and jumps() counts it. So a file
// whose timestamps leap by 10^6 s yields about as many ticks as it has frames.
#include <cstdint>
#include <optional>
#include <vector>

namespace dojo::data {

class FrameSampler {
 public:
  FrameSampler(double target_fps, double nominal_fps);

  // A decoded frame with id `id` at `time_s` (nullopt: no timestamp). Appends to `out` the
  // id of the frame each newly completed tick takes (ids of this frame or the one before).
  void push(std::optional<double> time_s, std::int64_t id, std::vector<std::int64_t>& out);
  // End of stream: the last frame covers ticks up to half a nominal interval past it.
  void finish(std::vector<std::int64_t>& out);

  std::int64_t jumps() const { return jumps_; }
  double max_gap_s() const { return max_gap_s_; }

 private:
  double target_fps_;
  double interval_s_;  // nominal
  double max_gap_s_;
  bool have_first_ = false;
  double first_s_ = 0.0;  // timestamp of the first timed frame
  double shift_s_ = 0.0;  // time removed at discontinuities so far
  bool have_previous_ = false;
  double previous_s_ = 0.0;
  std::int64_t previous_id_ = -1;
  std::int64_t tick_ = 0;
  std::int64_t jumps_ = 0;
};

}  // namespace dojo::data
