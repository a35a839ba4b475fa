#include "model/optim.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "model/videomae.hpp"

namespace dojo::model {

AdamW::AdamW(VideoMAE& model, AdamWConfig config) : model_(model), config_(config) {
  const auto& tensors = model.tensors();
  const std::size_t total = model.table().total;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const std::size_t end = i + 1 < tensors.size() ? tensors[i + 1].offset : total;
    if (!runs_.empty() && runs_.back().decay == tensors[i].decay) {
      runs_.back().end = end;
    } else {
      runs_.push_back({tensors[i].offset, end, tensors[i].decay});
    }
  }
}

std::span<float> AdamW::m() {
  return model_.adam_m();
}
std::span<float> AdamW::v() {
  return model_.adam_v();
}

void AdamW::step(float lr) {
  ++step_;
  accel::Device& dev = model_.device();
  accel::LayerScope scope(dev, "optimizer");
  float* p = model_.params().data();
  float* g = model_.grads().data();
  float* m = model_.adam_m().data();
  float* v = model_.adam_v().data();
  const bool real = p != nullptr;
  for (const Run& run : runs_) {
    accel::AdamWStep hp;
    hp.lr = lr;
    hp.beta1 = config_.beta1;
    hp.beta2 = config_.beta2;
    hp.eps = config_.eps;
    hp.weight_decay = run.decay ? config_.weight_decay : 0.0f;
    hp.step = step_;
    const std::size_t off = real ? run.begin : 0;
    dev.adamw(run.decay ? "adamw.decay" : "adamw.no_decay", std::int64_t(run.end - run.begin), hp,
              real ? p + off : nullptr, real ? g + off : nullptr, real ? m + off : nullptr,
              real ? v + off : nullptr);
  }
}

float clip_grad_norm(std::span<float> grads, float max_norm) {
  double sq = 0;
  for (const float g : grads) sq += double(g) * double(g);
  const double norm = std::sqrt(sq);
  if (max_norm > 0 && norm > double(max_norm)) {
    const float scale = float(double(max_norm) / (norm + 1e-6));
    for (float& g : grads) g *= scale;
  }
  return float(norm);
}

float lr_at(std::int64_t step, std::int64_t warmup, std::int64_t total, float base_lr,
            float min_lr) {
  DOJO_CHECK(warmup >= 0 && total >= 1, InvalidArgument,
             "lr schedule: warmup {} must be >= 0 and total {} >= 1", warmup, total);
  if (step < warmup) return base_lr * float(step + 1) / float(warmup);
  if (step >= total) return min_lr;
  const double span = double(std::max<std::int64_t>(total - warmup, 1));
  const double progress = double(step - warmup) / span;
  return float(min_lr + 0.5 * (base_lr - min_lr) * (1.0 + std::cos(M_PI * progress)));
}

}  // namespace dojo::model
