#include "data/synth_scene.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "core/error.hpp"
#include "core/random.hpp"

namespace dojo::data {
namespace {

constexpr double kCameraHeightM = 1.4;
constexpr double kLaneWidthM = 3.6;
constexpr double kDashPeriodM = 12.0;
constexpr double kDashLengthM = 4.0;
constexpr double kFarM = 160.0;
constexpr double kTreeSpacingM = 17.0;

// core/random.hpp's SplitMix64: fully specified, so scenes are identical everywhere.
using Rng = CounterRng;

// A deterministic hash of an integer position, for per-object properties that must not
// depend on the order objects come into view.
double hash01(std::uint64_t seed, std::int64_t i) {
  Rng r{seed ^ (static_cast<std::uint64_t>(i) * 0xD6E8FEB86659FD93ULL)};
  r.next_u64();
  return r.uniform();
}

struct Car {
  int lane;
  double ahead_m;  // longitudinal distance from the ego camera
  double speed_mps;
  cv::Scalar color;
};

cv::Scalar scale(const cv::Scalar& c, double f) {
  return cv::Scalar(c[0] * f, c[1] * f, c[2] * f);
}
cv::Scalar mix(const cv::Scalar& a, const cv::Scalar& b, double t) {
  return cv::Scalar(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t);
}

}  // namespace

struct DrivingScene::State {
  int w, h;
  double dt;
  std::uint64_t seed;
  Rng rng{0};
  // Scene constants drawn once per clip.
  int lanes;
  double base_speed, speed_wobble, curve_amp, curve_period_s, curve_phase, dusk_start, dusk_rate;
  double verge_tint;
  // State that evolves per frame.
  double t = 0, traveled_m = 0, heading_rad = 0, ego_x_m = 0;
  double lane_from_m = 0, lane_to_m = 0, lane_change_t = -100, next_lane_change_t = 0;
  int ego_lane = 0;
  std::vector<Car> cars;
  cv::Mat frame;

  double focal() const { return 0.9 * w; }
  double speed() const {
    return base_speed * (1.0 + speed_wobble * std::sin(2 * std::numbers::pi * t / 9.0));
  }
  double curvature() const {
    return curve_amp * std::sin(2 * std::numbers::pi * t / curve_period_s + curve_phase);
  }
  double lane_center(int lane) const { return (lane - (lanes - 1) / 2.0) * kLaneWidthM; }
  // Lateral position (m) of the road centre at depth z, relative to the camera.
  double road_x(double z) const { return 0.5 * curvature() * z * z - ego_x_m; }

  Car spawn_car(bool ahead) {
    Car c;
    c.lane = static_cast<int>(rng.uniform(0, lanes - 1e-9));
    c.ahead_m = ahead ? rng.uniform(60, kFarM) : rng.uniform(6, 20);
    c.speed_mps = speed() * rng.uniform(0.75, 1.2);
    const double hue = rng.uniform(0, 1);
    c.color = hue < 0.3   ? cv::Scalar(200, 200, 205)
              : hue < 0.5 ? cv::Scalar(40, 40, 170)
              : hue < 0.7 ? cv::Scalar(150, 80, 30)
                          : cv::Scalar(30, 30, 35);
    return c;
  }

  double dusk() const { return std::clamp((t - dusk_start) * dusk_rate, 0.0, 1.0); }
  double light() const { return 1.0 - 0.6 * dusk(); }
  double horizon() const { return 0.45 * h + 0.004 * h * std::sin(traveled_m * 0.9); }
  // A car's body in pixels: (left, top) and (right, bottom).
  std::pair<cv::Point, cv::Point> car_box(const Car& c) const {
    const double z = c.ahead_m;
    const double px_per_m = focal() / z;
    const double x_m = road_x(z) + lane_center(c.lane);
    const double cx = w / 2.0 + x_m * px_per_m;
    const double ground_y = horizon() + kCameraHeightM * focal() / z;
    const double half_w = 0.9 * px_per_m, body_h = 1.4 * px_per_m;
    return {cv::Point(static_cast<int>(cx - half_w), static_cast<int>(ground_y - body_h)),
            cv::Point(static_cast<int>(cx + half_w), static_cast<int>(ground_y))};
  }

  void advance();
  void draw();
  FrameTruth truth() const;
};

FrameTruth DrivingScene::State::truth() const {
  FrameTruth truth;
  truth.curvature_per_m = curvature();
  truth.ego_speed_mps = speed();
  truth.lane_change = t - lane_change_t >= 0.0 && t - lane_change_t < 3.0;
  for (const Car& c : cars) {
    const auto [tl, br] = car_box(c);
    if (br.x >= 0 && tl.x < w && br.y >= 0 && tl.y < h) ++truth.cars_in_view;
  }
  truth.light = light();
  return truth;
}

void DrivingScene::State::advance() {
  t += dt;
  const double v = speed();
  traveled_m += v * dt;
  heading_rad += curvature() * v * dt;
  // Lane changes: a 3 s cosine blend to a neighbouring lane every 5-12 s.
  if (t >= next_lane_change_t && lanes > 1) {
    int to = ego_lane + (rng.uniform(0, 1) < 0.5 ? -1 : 1);
    if (to < 0 || to >= lanes) to = ego_lane - (to - ego_lane);
    lane_from_m = ego_x_m;
    lane_to_m = lane_center(to);
    ego_lane = to;
    lane_change_t = t;
    next_lane_change_t = t + rng.uniform(5, 12);
  }
  const double blend = std::clamp((t - lane_change_t) / 3.0, 0.0, 1.0);
  ego_x_m =
      lane_from_m + (lane_to_m - lane_from_m) * 0.5 * (1 - std::cos(std::numbers::pi * blend));
  for (Car& c : cars) {
    c.ahead_m += (c.speed_mps - v) * dt;
    if (c.ahead_m < 4.0 || c.ahead_m > kFarM) c = spawn_car(c.ahead_m > kFarM ? false : true);
  }
}

void DrivingScene::State::draw() {
  const double f = focal();
  const double dusk = this->dusk();
  const double light = this->light();
  // Horizon with a small pitch bob from the road surface.
  const double horizon = this->horizon();
  const int hy = static_cast<int>(std::round(horizon));

  // Sky: vertical gradient, blue by day, orange-violet at dusk.
  const cv::Scalar sky_top = mix(cv::Scalar(200, 140, 80), cv::Scalar(90, 40, 60), dusk);
  const cv::Scalar sky_low = mix(cv::Scalar(235, 210, 170), cv::Scalar(80, 120, 230), dusk);
  for (int y = 0; y < std::min(hy + 1, h); ++y) {
    const double a = static_cast<double>(y) / std::max(1, hy);
    cv::line(frame, {0, y}, {w - 1, y}, mix(sky_top, sky_low, a));
  }
  // Distant hills: slide sideways as the heading turns (parallax at infinity).
  std::vector<cv::Point> hills{{0, hy}};
  for (int x = 0; x <= w; x += std::max(1, w / 48)) {
    const double angle = (x - w / 2.0) / f + heading_rad;
    const double height_px =
        h * (0.035 + 0.025 * std::sin(angle * 7 + seed % 7) + 0.015 * std::sin(angle * 19 + 1.3));
    hills.emplace_back(x, static_cast<int>(horizon - height_px));
  }
  hills.emplace_back(w, hy);
  cv::fillPoly(frame, std::vector<std::vector<cv::Point>>{hills},
               scale(cv::Scalar(90, 120, 95), light));

  // Ground, road and markings, one row at a time from the horizon down.
  const double road_half = lanes * kLaneWidthM / 2.0;
  const cv::Scalar verge_a = scale(cv::Scalar(60, 140 + verge_tint, 90), light);
  const cv::Scalar verge_b = scale(cv::Scalar(50, 120 + verge_tint, 75), light);
  const cv::Scalar asphalt = scale(cv::Scalar(95, 95, 100), light);
  const cv::Scalar paint = scale(cv::Scalar(235, 235, 235), light);
  const cv::Scalar edge_paint = scale(cv::Scalar(60, 210, 235), light);
  for (int y = hy + 1; y < h; ++y) {
    const double z = kCameraHeightM * f / (y - horizon);
    const double along = z + traveled_m;
    const bool stripe = z < kFarM && std::fmod(along, 8.0) < 4.0;
    cv::line(frame, {0, y}, {w - 1, y}, stripe ? verge_a : verge_b);
    if (z > kFarM * 2) continue;  // too far for the road to be more than a pixel wide
    const double cx = road_x(z);
    auto to_px = [&](double x_m) { return static_cast<int>(std::lround(w / 2.0 + f * x_m / z)); };
    cv::line(frame, {to_px(cx - road_half), y}, {to_px(cx + road_half), y}, asphalt);
    const double mark_half_px = std::max(0.5, f * 0.08 / z);
    const bool dash_on = std::fmod(along, kDashPeriodM) < kDashLengthM;
    for (int k = 0; k <= lanes; ++k) {
      const bool edge = k == 0 || k == lanes;
      if (!edge && !dash_on) continue;
      const double xm = w / 2.0 + f * (cx - road_half + k * kLaneWidthM) / z;
      cv::line(frame, {static_cast<int>(xm - mark_half_px), y},
               {static_cast<int>(xm + mark_half_px), y}, edge ? edge_paint : paint);
    }
  }

  // Roadside trees and poles, far to near.
  const auto first = static_cast<std::int64_t>(std::floor(traveled_m / kTreeSpacingM));
  for (std::int64_t j = first + static_cast<std::int64_t>(kFarM / kTreeSpacingM); j >= first; --j) {
    const double z = j * kTreeSpacingM - traveled_m;
    if (z < 2.0) continue;
    for (int side = -1; side <= 1; side += 2) {
      const double r = hash01(seed + static_cast<std::uint64_t>(side + 1), j);
      if (r < 0.25) continue;  // gaps in the row
      const double x_m = road_x(z) + side * (road_half + 2.0 + 4.0 * r);
      const double ground_y = horizon + kCameraHeightM * f / z;
      const double px_per_m = f / z;
      const int x = static_cast<int>(w / 2.0 + x_m * px_per_m);
      if (r < 0.5) {  // a pole with a lamp
        const int top = static_cast<int>(ground_y - 7.0 * px_per_m);
        cv::line(frame, {x, static_cast<int>(ground_y)}, {x, top},
                 scale(cv::Scalar(70, 70, 70), light),
                 std::max(1, static_cast<int>(0.2 * px_per_m)));
        cv::circle(frame, {x, top}, std::max(1, static_cast<int>(0.3 * px_per_m)),
                   mix(cv::Scalar(120, 120, 120), cv::Scalar(150, 230, 255), dusk), cv::FILLED);
      } else {  // a tree: trunk and crown
        const int trunk_top = static_cast<int>(ground_y - 2.5 * px_per_m);
        cv::line(frame, {x, static_cast<int>(ground_y)}, {x, trunk_top},
                 scale(cv::Scalar(30, 60, 90), light),
                 std::max(1, static_cast<int>(0.4 * px_per_m)));
        cv::circle(frame, {x, static_cast<int>(trunk_top - 1.5 * px_per_m)},
                   std::max(1, static_cast<int>((1.6 + r) * px_per_m)),
                   scale(cv::Scalar(40, 110 + 60 * r, 50), light), cv::FILLED);
      }
    }
  }

  // Other cars, far to near.
  std::sort(cars.begin(), cars.end(),
            [](const Car& a, const Car& b) { return a.ahead_m > b.ahead_m; });
  for (const Car& c : cars) {
    const double px_per_m = f / c.ahead_m;
    const auto [tl, br] = car_box(c);
    const double ground_y = horizon + kCameraHeightM * f / c.ahead_m;
    const double half_w = 0.9 * px_per_m, body_h = 1.4 * px_per_m;
    cv::rectangle(frame, tl, br, scale(c.color, light), cv::FILLED);
    cv::rectangle(frame, {tl.x + static_cast<int>(0.25 * half_w), tl.y},
                  {br.x - static_cast<int>(0.25 * half_w), tl.y + static_cast<int>(0.4 * body_h)},
                  scale(cv::Scalar(60, 50, 40), light), cv::FILLED);
    const cv::Scalar tail = mix(cv::Scalar(30, 30, 150), cv::Scalar(60, 60, 255), dusk);
    const int lamp = std::max(1, static_cast<int>(0.18 * px_per_m));
    const int lamp_y = static_cast<int>(ground_y - 0.55 * body_h);
    cv::circle(frame, {tl.x + lamp, lamp_y}, lamp, tail, cv::FILLED);
    cv::circle(frame, {br.x - lamp, lamp_y}, lamp, tail, cv::FILLED);
  }

  // The ego car's hood at the bottom of the frame.
  cv::ellipse(frame, {w / 2, h + h / 12}, {w * 3 / 5, h / 7}, 0, 180, 360,
              scale(cv::Scalar(45, 40, 38), light), cv::FILLED);
}

DrivingScene::DrivingScene(std::int64_t width, std::int64_t height, double fps, std::uint64_t seed)
    : state_(std::make_unique<State>()) {
  DOJO_CHECK(width >= 16 && height >= 16 && width <= 8192 && height <= 8192, InvalidArgument,
             "synthetic scene size {}x{}, expected 16..8192 per side", width, height);
  DOJO_CHECK(fps > 0 && fps <= 240, InvalidArgument, "synthetic scene fps {}, expected 1..240",
             fps);
  State& s = *state_;
  s.w = static_cast<int>(width);
  s.h = static_cast<int>(height);
  s.dt = 1.0 / fps;
  s.seed = seed;
  s.rng = Rng{seed};
  s.lanes = 2 + static_cast<int>(s.rng.uniform(0, 2.999));
  s.base_speed = s.rng.uniform(14, 30);
  s.speed_wobble = s.rng.uniform(0.05, 0.2);
  s.curve_amp = s.rng.uniform(0.0005, 0.004);
  s.curve_period_s = s.rng.uniform(8, 20);
  s.curve_phase = s.rng.uniform(0, 2 * std::numbers::pi);
  s.dusk_start = s.rng.uniform(-10, 10);
  s.dusk_rate = s.rng.uniform(0.01, 0.08);
  s.verge_tint = s.rng.uniform(-30, 30);
  s.ego_lane = static_cast<int>(s.rng.uniform(0, s.lanes - 1e-9));
  s.ego_x_m = s.lane_from_m = s.lane_to_m = s.lane_center(s.ego_lane);
  s.next_lane_change_t = s.rng.uniform(2, 8);
  const int cars = 2 + static_cast<int>(s.rng.uniform(0, 4));
  for (int i = 0; i < cars; ++i) {
    Car c = s.spawn_car(true);
    c.ahead_m = s.rng.uniform(8, kFarM * 0.7);
    s.cars.push_back(c);
  }
  s.frame = cv::Mat(s.h, s.w, CV_8UC3);
}

DrivingScene::~DrivingScene() = default;

FrameTruth DrivingScene::render_next(std::span<std::uint8_t> bgr) {
  State& s = *state_;
  DOJO_ASSERT(static_cast<std::int64_t>(bgr.size()) == std::int64_t{s.w} * s.h * 3,
              "BGR buffer of {} bytes", bgr.size());
  s.frame = cv::Mat(s.h, s.w, CV_8UC3, bgr.data());
  s.draw();
  const FrameTruth truth = s.truth();
  s.advance();
  return truth;
}

}  // namespace dojo::data
