#include "data/frame_sampler.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace dojo::data {

FrameSampler::FrameSampler(double target_fps, double nominal_fps) : target_fps_(target_fps) {
  DOJO_ASSERT(target_fps > 0.0, "target fps {}", target_fps);
  interval_s_ = 1.0 / (nominal_fps > 0.0 ? nominal_fps : target_fps);
  max_gap_s_ = std::max(1.0, 8.0 * interval_s_);
}

void FrameSampler::push(std::optional<double> time_s, std::int64_t id,
                        std::vector<std::int64_t>& out) {
  double t = 0.0;
  if (time_s) {
    if (!have_first_) {
      have_first_ = true;
      first_s_ = *time_s;
    }
    t = *time_s - first_s_ - shift_s_;
  } else {
    t = have_previous_ ? previous_s_ + interval_s_ : 0.0;
  }
  if (have_previous_ && t <= previous_s_) return;  // out of order or a repeated timestamp
  if (have_previous_ && t - previous_s_ > max_gap_s_) {
    shift_s_ += t - previous_s_ - interval_s_;
    t = previous_s_ + interval_s_;
    ++jumps_;
  }
  while (static_cast<double>(tick_) / target_fps_ <= t) {
    const double target = static_cast<double>(tick_) / target_fps_;
    const bool take_previous = have_previous_ && target - previous_s_ < t - target;
    out.push_back(take_previous ? previous_id_ : id);
    ++tick_;
  }
  have_previous_ = true;
  previous_s_ = t;
  previous_id_ = id;
}

void FrameSampler::finish(std::vector<std::int64_t>& out) {
  if (!have_previous_) return;
  while (static_cast<double>(tick_) / target_fps_ < previous_s_ + 0.5 * interval_s_) {
    out.push_back(previous_id_);
    ++tick_;
  }
  have_previous_ = false;
}

}  // namespace dojo::data
