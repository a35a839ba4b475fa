#pragma once
// A procedural driving scene, rendered frame by frame with OpenCV primitives.
//
// The world: a road of 2-4 lanes seen from a camera 1.4 m above it (pinhole, horizon a
// little above the middle of the frame). The ego car drives at a speed that drifts over
// time, the road curves (curvature varies smoothly, so the road bends and the distant
// hills slide sideways as the car turns), and now and then the ego changes lane. Lane
// markings are dashed between lanes and solid at the edges and move toward the camera at
// the ego speed; the grass verge has stripes that move too. Other cars drive in their
// lanes at their own speeds (the ego overtakes them or falls behind), trees and poles line
// the road, and the light goes from day toward dusk (sky colour, overall brightness, tail
// lights). Everything follows from (seed, clip index): the same inputs give the same frames.
//
// Ground truth. render_next() also returns the scene's own state for the frame it drew
// (FrameTruth): what a representation probe can try to read back from the pixels.
#include <cstdint>
#include <memory>
#include <span>

namespace dojo::data {

// The state behind one rendered frame.
struct FrameTruth {
  double curvature_per_m = 0.0;   // road curvature at the camera (1/m, signed: + bends left)
  double ego_speed_mps = 0.0;     // ego car's speed
  bool lane_change = false;       // a lane change is under way (the 3 s blend is running)
  std::int64_t cars_in_view = 0;  // other cars whose body lies at least partly in the frame
  double light = 1.0;             // overall brightness factor: 1 by day, 0.4 at full dusk
};

class DrivingScene {
 public:
  DrivingScene(std::int64_t width, std::int64_t height, double fps, std::uint64_t seed);
  ~DrivingScene();
  DrivingScene(const DrivingScene&) = delete;
  DrivingScene& operator=(const DrivingScene&) = delete;

  // Renders the next frame, (height, width, 3) BGR, into `bgr`, and advances time by 1/fps.
  // Returns the truth of the frame just drawn.
  FrameTruth render_next(std::span<std::uint8_t> bgr);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace dojo::data
