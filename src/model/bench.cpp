#include "model/bench.hpp"

#include <algorithm>
#include <chrono>

#include "accel/host_device.hpp"
#include "core/error.hpp"
#include "model/optim.hpp"
#include "model/profile.hpp"
#include "model/random.hpp"
#include "model/videomae.hpp"

namespace dojo::model {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

class ForwardGemmFlops : public accel::CostSink {
 public:
  void on_kernel(const accel::KernelRecord& r) override {
    if (r.kind == accel::KernelKind::kGemm && !r.backward) flops += r.flops;
  }
  void on_collective(const accel::CollectiveRecord&) override {}
  double flops = 0;
};

// Best-of-5 GFLOP/s of C(m, n) = A(m, k) B(k, n)^T on `device`.
double time_gemm(accel::Device& device, std::int64_t m, std::int64_t n, std::int64_t k) {
  std::vector<float> a(std::size_t(m * k), 0.5f), b(std::size_t(n * k), 0.25f),
      c(std::size_t(m * n));
  accel::GemmShape s;
  s.trans_b = true;
  s.m = m;
  s.n = n;
  s.k = k;
  double best_ms = 1e30;
  for (int rep = 0; rep < 6; ++rep) {
    const auto start = Clock::now();
    for (int i = 0; i < 4; ++i) device.gemm("bench.gemm", s, a.data(), b.data(), c.data());
    if (rep > 0) best_ms = std::min(best_ms, ms_since(start) / 4);
  }
  return 2.0 * double(m) * double(n) * double(k) / (best_ms * 1e6);
}

}  // namespace

ModelBenchResult run_model_bench(const ModelBenchOptions& o) {
  DOJO_CHECK(o.steps >= 1 && o.warmup >= 0 && o.batch >= 1, InvalidArgument,
             "bench model: steps ({}) and batch ({}) must be positive, warmup ({}) >= 0", o.steps,
             o.batch, o.warmup);
  ModelConfig c = load_model_config(o.config);
  c.precision = o.precision;
  ModelBenchResult r;
  r.config = c.name;
  r.threads = o.threads;
  r.batch = o.batch;
  r.precision = o.precision;

  ForwardGemmFlops counter;
  profile_training_step(c, o.batch, o.precision, counter);
  r.gflop_per_step = 3.0 * counter.flops / 1e9;

  accel::HostDeviceOptions device_options;
  device_options.threads = o.threads;
  device_options.precision = o.precision;
  accel::HostDevice device(device_options);
  VideoMAE model(c, device, o.batch);
  model.init(1);
  r.params = std::int64_t(model.params().size());
  AdamW optimizer(model);
  Rng rng(2);
  std::vector<float> clips(std::size_t(o.batch * c.clip_elems()));
  for (auto& x : clips) x = float(rng.uniform());

  for (std::int64_t step = 0; step < o.warmup + o.steps; ++step) {
    const auto start = Clock::now();
    const TubeMask mask = make_tube_mask(c, o.batch, std::uint64_t(step));
    model.zero_grads();
    const float loss = model.forward_backward(clips, mask);
    optimizer.step(lr_at(step, 2, 1000, 1e-3f, 1e-5f));
    const double ms = ms_since(start);
    if (step == 0) r.loss_first = loss;
    r.loss_last = loss;
    if (step >= o.warmup) r.step_ms.push_back(ms);
  }
  r.step_ms_median = median(r.step_ms);
  r.gflops = r.gflop_per_step / (r.step_ms_median / 1e3);

  // The model's largest GEMM shapes (rows = batch x tokens).
  const std::int64_t rows_enc = o.batch * c.visible_tokens(), rows_dec = o.batch * c.tokens();
  const std::int64_t rows_head = o.batch * c.masked_tokens();
  const std::int64_t shapes[][3] = {
      {rows_enc, c.encoder_hidden(), c.encoder_dim},
      {rows_dec, c.decoder_hidden(), c.decoder_dim},
      {rows_head, c.patch_dim(), c.decoder_dim},
  };
  for (const auto& s : shapes) {
    const double g = time_gemm(device, s[0], s[1], s[2]);
    r.gemm_shapes.push_back(fmt::format("{}x{}x{}: {:.1f} GFLOP/s", s[0], s[1], s[2], g));
    r.gemm_peak_gflops = std::max(r.gemm_peak_gflops, g);
  }
  return r;
}

}  // namespace dojo::model
