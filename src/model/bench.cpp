#include "model/bench.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>

#include "accel/host_device.hpp"
#include "core/error.hpp"
#include "core/stats.hpp"
#include "model/optim.hpp"
#include "model/profile.hpp"
#include "core/random.hpp"
#include "model/videomae.hpp"

namespace dojo::model {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) * 1e3 + double(t.tv_nsec) / 1e6;
}

class ForwardGemmFlops : public accel::CostSink {
 public:
  void on_kernel(const accel::KernelRecord& r) override {
    if (!r.backward) flops += r.matmul_flops;  // GEMMs and the fused attention's products
  }
  void on_collective(const accel::CollectiveRecord&) override {}
  double flops = 0;
};

// Attributes the wall time since the previous record to each kernel record: the device
// reports right after a kernel finishes, so this is the kernel's time (plus any host work
// issued just before it).
class KernelTimer : public accel::CostSink {
 public:
  void start() {
    last_ = Clock::now();
    last_cpu_ms_ = cpu_ms();
  }
  void on_kernel(const accel::KernelRecord& r) override {
    const auto now = Clock::now();
    const double now_cpu = cpu_ms();
    const std::string key = std::string(r.name) + (r.backward ? " (bwd)" : "");
    KernelTime& t = times_[key];
    t.name = key;
    t.ms_per_step += std::chrono::duration<double, std::milli>(now - last_).count();
    t.cpu_ms_per_step += now_cpu - last_cpu_ms_;
    last_cpu_ms_ = now_cpu;
    t.gflop_per_step += r.flops / 1e9;
    ++t.calls_per_step;
    last_ = now;
  }
  void on_collective(const accel::CollectiveRecord&) override {}
  std::vector<KernelTime> sorted(std::int64_t steps) const {
    std::vector<KernelTime> out;
    for (const auto& [key, t] : times_) {
      KernelTime k = t;
      k.ms_per_step /= double(steps);
      k.cpu_ms_per_step /= double(steps);
      k.gflop_per_step /= double(steps);
      k.calls_per_step /= steps;
      out.push_back(k);
    }
    std::sort(out.begin(), out.end(), [](const KernelTime& a, const KernelTime& b) {
      return a.ms_per_step > b.ms_per_step;
    });
    return out;
  }

 private:
  Clock::time_point last_;
  double last_cpu_ms_ = 0;
  std::map<std::string, KernelTime> times_;
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
  device_options.gemm = o.openblas ? accel::GemmBackend::kOpenBlas : accel::GemmBackend::kOneDnn;
  accel::HostDevice device(device_options);
  VideoMAE model(c, device, o.batch);
  model.init(1);
  r.params = std::int64_t(model.params().size());
  AdamW optimizer(model);
  CounterRng rng(2);
  std::vector<float> clips(std::size_t(o.batch * c.clip_elems()));
  for (auto& x : clips) x = float(rng.uniform());

  KernelTimer timer;
  for (std::int64_t step = 0; step < o.warmup + o.steps; ++step) {
    if (o.breakdown && step == o.warmup) device.set_sink(&timer);
    const auto start = Clock::now();
    const double cpu_start = cpu_ms();
    timer.start();
    const TubeMask mask = make_tube_mask(c, o.batch, std::uint64_t(step));
    model.zero_grads();
    const float loss = model.forward_backward(clips, mask);
    optimizer.step(lr_at(step, 2, 1000, 1e-3f, 1e-5f));
    const double ms = ms_since(start);
    const double cpu = cpu_ms() - cpu_start;
    r.losses.push_back(loss);
    if (step == 0) r.loss_first = loss;
    r.loss_last = loss;
    if (step >= o.warmup) {
      r.step_ms.push_back(ms);
      r.step_cpu_ms.push_back(cpu);
    }
  }
  device.set_sink(nullptr);
  if (o.breakdown) r.kernels = timer.sorted(o.steps);
  r.step_ms_median = dojo::median(r.step_ms);
  r.step_cpu_ms_median = dojo::median(r.step_cpu_ms);
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
