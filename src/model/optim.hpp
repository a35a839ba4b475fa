#pragma once
// AdamW (decoupled weight decay, as torch.optim.AdamW), gradient-norm clipping and the
// warmup + cosine learning-rate schedule.
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "accel/device.hpp"
#include "model/params.hpp"

namespace dojo::model {

class VideoMAE;

struct AdamWConfig {
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.05f;  // applied to matrices only (TensorInfo::decay)
};

// Updates the model's parameter arena from its gradient arena, keeping the moments in the
// model's AdamW arenas. The arena is walked once, in runs of tensors that share a decay
// flag (a run spans many tensors; padding between tensors is updated harmlessly as zeros).
class AdamW {
 public:
  AdamW(VideoMAE& model, AdamWConfig config = {});
  // One update with learning rate `lr`; increments step().
  void step(float lr);
  std::int64_t steps() const { return step_; }
  // For checkpoint restore: the number of updates already applied.
  void set_steps(std::int64_t steps) { step_ = steps; }
  std::span<float> m();
  std::span<float> v();
  const AdamWConfig& config() const { return config_; }

 private:
  VideoMAE& model_;
  AdamWConfig config_;
  std::int64_t step_ = 0;
  struct Run {
    std::size_t begin, end;
    bool decay;
  };
  std::vector<Run> runs_;
};

// Scales `grads` in place so their global L2 norm is at most max_norm (no-op when it
// already is, or when max_norm <= 0). Returns the norm before clipping.
float clip_grad_norm(std::span<float> grads, float max_norm);

// Linear warmup from 0 to base_lr over `warmup` steps, then cosine decay to min_lr at
// `total` steps (and min_lr after). Step is 0-based.
float lr_at(std::int64_t step, std::int64_t warmup, std::int64_t total, float base_lr,
            float min_lr);

}  // namespace dojo::model
