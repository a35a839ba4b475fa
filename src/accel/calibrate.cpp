#include "accel/calibrate.hpp"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "accel/host_device.hpp"
#include "accel/recording_sink.hpp"
#include "core/error.hpp"
#include "core/stats.hpp"

namespace dojo::accel {

namespace {

using Clock = std::chrono::steady_clock;

// Upper over lower quartile: how much the repeats of one figure disagree.
double spread(const std::vector<double>& v) {
  const double lo = percentile(v, 25), hi = percentile(v, 75);
  return lo > 0 ? hi / lo : 1e9;
}

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double wall_s() {
  return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

// Median seconds of one call of `run`, timed `repeats` times after a warm-up; calls are
// looped within a sample until it lasts at least `min_sample_s`, so that small kernels
// are not below the clock's resolution. Remeasures when the repeats disagree, twice at
// most, then refuses naming `what`.
template <typename Run>
double time_call(const std::string& what, int threads, const CalibrateOptions& o, Run run) {
  const auto now = threads == 1 ? thread_cpu_s : wall_s;
  constexpr double kMinSample = 2e-3;
  run();
  double start = now();
  run();
  const double once = std::max(1e-9, now() - start);
  const int calls = std::max(1, static_cast<int>(std::ceil(kMinSample / once)));
  double last_spread = 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::vector<double> samples;
    for (int r = 0; r < std::max(3, o.repeats); ++r) {
      start = now();
      for (int c = 0; c < calls; ++c) run();
      samples.push_back((now() - start) / calls);
    }
    last_spread = spread(samples);
    if (last_spread <= o.max_spread) return median(samples);
  }
  throw Error(fmt::format(
      "bench calibrate: the repeats of '{}' ({} thread(s)) disagree: upper quartile {:.2f}x the "
      "lower (limit {:.2f}x) in three attempts; the machine is too busy to be measured, rerun "
      "when it is quieter",
      what, threads, last_spread, o.max_spread));
}

struct GemmCase {
  std::int64_t m, n, k, batch;
  bool trans_a, trans_b;
  float beta;
  bool add_bias;
};

// The model's three calls of a linear layer (model/layers.cpp) of width d to 4d and of 4d
// to d, at R rows: the forward Y = X W^T + b, the input gradient dX = dY W and the weight
// gradient dW += dY^T X.
std::vector<GemmCase> gemm_cases(bool quick) {
  std::vector<GemmCase> cases;
  const std::vector<std::int64_t> rows =
      quick ? std::vector<std::int64_t>{32, 512} : std::vector<std::int64_t>{32, 512, 4096};
  const std::vector<std::int64_t> widths =
      quick ? std::vector<std::int64_t>{16, 64} : std::vector<std::int64_t>{16, 64, 192, 384};
  for (const auto r : rows) {
    for (const auto d : widths) {
      for (const auto& [in, out] : {std::pair{d, 4 * d}, std::pair{4 * d, d}}) {
        cases.push_back({r, out, in, 1, false, true, 0.0f, true});  // forward
        cases.push_back({r, in, out, 1, false, false, 0.0f, false});  // input gradient
        cases.push_back({out, in, r, 1, true, false, 1.0f, false});  // weight gradient
      }
    }
  }
  return cases;
}

std::vector<GemmPoint> measure_gemms(HostDevice& device, Precision precision, int threads,
                                     const CalibrateOptions& o) {
  device.set_precision(precision);
  const double cache_bytes = host_cache_bytes();
  std::vector<GemmPoint> points;
  std::vector<float> scratch(1);
  for (const auto& g : gemm_cases(o.quick)) {
    GemmShape s;
    s.m = g.m;
    s.n = g.n;
    s.k = g.k;
    s.batch = g.batch;
    s.trans_a = g.trans_a;
    s.trans_b = g.trans_b;
    s.beta = g.beta;
    s.add_bias = g.add_bias;
    s.stride_a = g.m * g.k;
    s.stride_b = g.k * g.n;
    s.stride_c = g.m * g.n;
    std::vector<float> a(static_cast<std::size_t>(g.batch * g.m * g.k), 0.5f);
    const auto b_elems = static_cast<std::size_t>(g.batch * g.k * g.n);
    // The weight gradient's B is the layer's forward input, saved since the forward pass:
    // it comes from memory, so each call reads another copy, from enough copies to cover
    // twice the last-level cache. The other operands were just written or are small.
    const std::size_t copies =
        g.trans_a ? std::max<std::size_t>(
                        1, static_cast<std::size_t>(std::ceil(2 * cache_bytes / (4.0 * double(b_elems)))))
                  : 1;
    std::vector<float> b(copies * b_elems, 0.25f);
    std::size_t next = 0;
    // In bf16 the model converts its weights once a step and hands the GEMMs of the forward
    // and the input gradient that copy (model/layers.cpp): so does this.
    std::vector<std::uint16_t> b_bf16;
    if (precision == Precision::kBf16 && !g.trans_a) {
      b_bf16.resize(b_elems);
      device.to_bf16(static_cast<std::int64_t>(b_elems), b.data(), b_bf16.data());
    }
    std::vector<float> c(static_cast<std::size_t>(g.batch * g.m * g.n), 0.0f);
    std::vector<float> bias(static_cast<std::size_t>(g.n), 0.125f);
    const double flops = 2.0 * double(g.m) * double(g.n) * double(g.k) * double(g.batch);
    const auto what = fmt::format("gemm {} {}x{}x{}{}{} x{}", to_string(precision), g.m, g.n, g.k,
                                  g.trans_a ? " A^T" : "", g.trans_b ? " B^T" : "", g.batch);
    const double t = time_call(what, threads, o, [&] {
      device.gemm<float>("calibrate.gemm", s, a.data(), b.data() + next * b_elems, c.data(),
                         g.add_bias ? bias.data() : nullptr,
                         b_bf16.empty() ? nullptr : b_bf16.data());
      next = (next + 1) % copies;
      // Any other kernel drops the bf16 operand copies, as between the model's GEMMs.
      device.fill<float>(1, 0.0f, scratch.data());
    });
    points.push_back({g.m, g.n, g.k, g.batch, g.trans_a, g.trans_b, flops / t});
  }
  device.set_precision(Precision::kFp32);
  return points;
}

// The fused attention kernel, forward and backward, over a grid of sequence lengths and
// head widths (powers of two over the models' tokens 8..288 and head widths 8..64), 32
// sequences x heads.
std::vector<AttentionPoint> measure_attention(HostDevice& device, Precision precision,
                                              int threads, const CalibrateOptions& o) {
  device.set_precision(precision);
  std::vector<AttentionPoint> points;
  const std::vector<std::int64_t> tokens =
      o.quick ? std::vector<std::int64_t>{8, 32} : std::vector<std::int64_t>{8, 32, 128, 512};
  const std::vector<std::int64_t> widths =
      o.quick ? std::vector<std::int64_t>{16} : std::vector<std::int64_t>{8, 16, 32, 64};
  constexpr std::int64_t kSequences = 8, kHeads = 4;
  for (const auto t : tokens) {
    for (const auto h : widths) {
      AttentionDims d{kSequences, t, kHeads, h};
      const auto rows = static_cast<std::size_t>(d.rows()), dim = static_cast<std::size_t>(d.dim());
      std::vector<float> qkv(rows * 3 * dim), ctx(rows * dim), dctx(rows * dim, 0.01f),
          dqkv(rows * 3 * dim), lse(static_cast<std::size_t>(kSequences * kHeads * t));
      for (std::size_t i = 0; i < qkv.size(); ++i)
        qkv[i] = static_cast<float>(i % 89) * 0.02f - 0.9f;
      for (const bool backward : {false, true}) {
        RecordingSink records;
        device.set_sink(&records);
        if (backward) {
          device.attention_backward<float>(d, qkv.data(), ctx.data(), lse.data(), dctx.data(),
                                           dqkv.data());
        } else {
          device.attention_forward<float>(d, qkv.data(), ctx.data(), lse.data());
        }
        device.set_sink(nullptr);
        const double flops = records.kernels().front().record.flops;
        const auto what = fmt::format("attention{} {} tokens {} x{} heads of {}",
                                      backward ? ".backward" : "", to_string(precision), t,
                                      kSequences * kHeads, h);
        const double seconds = time_call(what, threads, o, [&] {
          if (backward) {
            device.attention_backward<float>(d, qkv.data(), ctx.data(), lse.data(), dctx.data(),
                                             dqkv.data());
          } else {
            device.attention_forward<float>(d, qkv.data(), ctx.data(), lse.data());
          }
        });
        points.push_back({t, h, kSequences * kHeads, backward, flops / seconds});
      }
    }
  }
  device.set_precision(Precision::kFp32);
  return points;
}

// One streaming class: the Device kernels the model runs for it (model/layers.cpp,
// model/videomae.cpp, model/optim.cpp) over n elements, bytes as the Device reports.
struct StreamBuffers {
  std::int64_t n, rows, cols;
  std::vector<float> x, y, dy, dx, p, m, v, gamma, beta, dgamma, dbeta, mean, rstd;
  std::vector<std::uint16_t> half;
  // Clips of tubelets of 2 x 16 x 16 x 3, about n elements, and their every tubelet.
  TubeletDims tubelets{};
  std::vector<float> clips, pred, dpred;
  std::vector<std::int64_t> tubelet_rows;
  explicit StreamBuffers(std::int64_t elems, std::int64_t row_len)
      : n(elems), rows(std::max<std::int64_t>(1, elems / row_len)), cols(row_len) {
    const auto sz = static_cast<std::size_t>(rows * cols);
    x.assign(sz, 0.5f);
    for (std::size_t i = 0; i < sz; ++i) x[i] = static_cast<float>(i % 97) * 0.02f - 1.0f;
    y.assign(sz, 0.0f);
    dy.assign(sz, 0.01f);
    dx.assign(sz, 0.0f);
    p.assign(sz, 0.1f);
    m.assign(sz, 0.0f);
    v.assign(sz, 0.0f);
    half.assign(sz, 0);
    gamma.assign(static_cast<std::size_t>(cols), 1.0f);
    beta.assign(static_cast<std::size_t>(cols), 0.0f);
    dgamma.assign(static_cast<std::size_t>(cols), 0.0f);
    dbeta.assign(static_cast<std::size_t>(cols), 0.0f);
    mean.assign(static_cast<std::size_t>(rows), 0.0f);
    rstd.assign(static_cast<std::size_t>(rows), 1.0f);
    tubelets = {.batch = 1, .frames = 2, .height = 16, .width = 16 * std::max<std::int64_t>(1, elems / 1536),
                .channels = 3, .tubelet_frames = 2, .patch = 16};
    const auto clip_elems = static_cast<std::size_t>(tubelets.tokens() * tubelets.row_elems());
    clips.resize(clip_elems);
    for (std::size_t i = 0; i < clip_elems; ++i) clips[i] = static_cast<float>(i % 251) / 251.0f;
    pred.assign(clip_elems, 0.1f);
    dpred.assign(clip_elems, 0.0f);
    for (std::int64_t t = 0; t < tubelets.tokens(); ++t) tubelet_rows.push_back(t);
  }
};

void run_stream(Device& d, KernelClass c, StreamBuffers& b) {
  const std::int64_t n = b.rows * b.cols;
  switch (c) {
    case KernelClass::kElementwise:
      d.axpy<float>(n, 0.5f, b.x.data(), b.y.data());
      d.add_rows<float>(b.rows, 1, b.cols, b.gamma.data(), b.y.data());
      d.copy_rows<float>(b.rows, b.cols, b.x.data(), {}, b.y.data(), {}, false);
      d.fill<float>(n, 0.0f, b.dx.data());
      d.to_bf16(n, b.p.data(), b.half.data());
      d.gather_tubelets<float>(b.tubelets, b.clips.data(), b.tubelet_rows, b.dpred.data());
      break;
    case KernelClass::kTranscendental:
      d.gelu_forward<float>(n, b.x.data(), b.y.data());
      d.gelu_backward_bias<float>(b.rows, b.cols, b.x.data(), b.dy.data(), b.dx.data(),
                                  b.dgamma.data());
      break;
    case KernelClass::kLayerNorm:
      d.layernorm_forward<float>(b.rows, b.cols, 1e-6f, b.x.data(), b.gamma.data(), b.beta.data(),
                                 b.y.data(), b.mean.data(), b.rstd.data());
      d.layernorm_backward_residual<float>(b.rows, b.cols, b.dy.data(), b.x.data(), b.mean.data(),
                                           b.rstd.data(), b.gamma.data(), b.p.data(), b.dx.data(),
                                           b.dgamma.data(), b.dbeta.data());
      break;
    case KernelClass::kSoftmax:
      std::copy(b.x.begin(), b.x.end(), b.y.begin());
      d.softmax_forward<float>(b.rows, b.cols, b.y.data());
      d.softmax_backward<float>(b.rows, b.cols, b.y.data(), b.dy.data(), b.dx.data());
      break;
    case KernelClass::kReduction:
      d.tubelet_mse_loss_and_grad<float>(b.tubelets, 1e-6f, b.pred.data(), b.clips.data(),
                                         b.tubelet_rows, b.dpred.data());
      d.sum_rows<float>(b.rows, 1, b.cols, b.dy.data(), b.dgamma.data());
      break;
    case KernelClass::kAdamW: {
      AdamWStep hp;
      d.adamw("calibrate.adamw", n, hp, b.p.data(), b.dy.data(), b.m.data(), b.v.data());
      break;
    }
    default:
      DOJO_ASSERT(false, "no stream kernels for class {}", to_string(c));
  }
}

StreamRates measure_stream(HostDevice& device, KernelClass c, int threads,
                           const CalibrateOptions& o) {
  StreamRates rates;
  rates.kernel_class = c;
  const std::vector<int> log2_sizes =
      o.quick ? std::vector<int>{8, 14, 18} : std::vector<int>{8, 11, 14, 17, 20, 23};
  // Row lengths between the models' widths (layer widths 32..384, attention rows 32..288).
  const std::int64_t row_len = c == KernelClass::kSoftmax ? 128 : 256;
  for (const int l : log2_sizes) {
    std::vector<StreamBuffers> sets;
    sets.emplace_back(std::int64_t{1} << l, row_len);
    RecordingSink records;
    device.set_sink(&records);
    run_stream(device, c, sets.front());
    device.set_sink(nullptr);
    double bytes = 0;
    for (const auto& k : records.kernels()) bytes += k.record.bytes;
    // The optimizer updates every parameter once a step, in runs over the arena, after the
    // step's activations went through the cache: its data comes from memory. Each call
    // takes another set of buffers, from sets covering twice the last-level cache.
    if (c == KernelClass::kAdamW) {
      const auto want =
          static_cast<std::size_t>(std::max(1.0, std::ceil(2 * host_cache_bytes() / bytes)));
      while (sets.size() < want) sets.emplace_back(std::int64_t{1} << l, row_len);
    }
    std::size_t next = 0;
    const double t =
        time_call(fmt::format("{} kernels over 2^{} elements", to_string(c), l), threads, o, [&] {
          run_stream(device, c, sets[next]);
          next = (next + 1) % sets.size();
        });
    rates.bytes_per_s.points.push_back({bytes, bytes / t});
  }
  return rates;
}

}  // namespace

double measure_triad_bytes_per_s(std::size_t elems, int repeats) {
  DOJO_CHECK(elems >= 1 && repeats >= 1, InvalidArgument,
             "triad size {} and repeats {} must be >= 1", elems, repeats);
  std::vector<float> a(elems, 0.0f), b(elems, 1.0f), c(elems, 2.0f);
  const float s = 0.5f;
  std::vector<double> rates;
  for (int r = 0; r <= repeats; ++r) {
    const double start = thread_cpu_s();
    for (std::size_t i = 0; i < elems; ++i) a[i] = b[i] + s * c[i];
    const double t = thread_cpu_s() - start;
    if (r > 0) rates.push_back(3.0 * sizeof(float) * static_cast<double>(elems) / t);
    b[r % elems] = a[(r * 7) % elems];  // keep the loop's result live
  }
  return median(rates);
}

std::int64_t host_cores() {
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::thread::hardware_concurrency()));
}

double host_ram_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<double>(pages) * static_cast<double>(page) : 0;
}

double host_cache_bytes() {
  double largest = 0;
  for (int index = 0; index < 8; ++index) {
    std::ifstream in(fmt::format("/sys/devices/system/cpu/cpu0/cache/index{}/size", index));
    std::string text;
    if (!(in >> text) || text.empty()) continue;
    double value = std::atof(text.c_str());
    if (text.back() == 'K') value *= 1024;
    if (text.back() == 'M') value *= 1024 * 1024;
    largest = std::max(largest, value);
  }
  return largest > 0 ? largest : 32.0 * 1024 * 1024;
}

HostMeasurements measure_host_compute(const CalibrateOptions& o) {
  DOJO_CHECK(o.repeats >= 1, InvalidArgument, "calibrate: repeats {} must be >= 1", o.repeats);
  HostMeasurements m;
  m.cores = host_cores();
  m.ram_bytes = host_ram_bytes();
  std::vector<int> threads = o.threads;
  if (threads.empty())
    for (int t = 1; t <= m.cores; ++t) threads.push_back(t);
  std::sort(threads.begin(), threads.end());
  for (const int t : threads) {
    DOJO_CHECK(t >= 1 && t <= m.cores, InvalidArgument,
               "calibrate: {} threads on a machine with {} cores", t, m.cores);
    HostDeviceOptions device_options;
    device_options.threads = t;
    HostDevice device(device_options);
    ThreadRates rates;
    rates.threads = t;
    rates.gemm_fp32 = measure_gemms(device, Precision::kFp32, t, o);
    rates.gemm_bf16 = measure_gemms(device, Precision::kBf16, t, o);
    rates.attention_fp32 = measure_attention(device, Precision::kFp32, t, o);
    rates.attention_bf16 = measure_attention(device, Precision::kBf16, t, o);
    for (const auto c : {KernelClass::kElementwise, KernelClass::kTranscendental,
                         KernelClass::kLayerNorm, KernelClass::kSoftmax, KernelClass::kReduction,
                         KernelClass::kAdamW})
      rates.streams.push_back(measure_stream(device, c, t, o));
    m.calibration.threads.push_back(std::move(rates));
  }
  m.memory_bytes_per_s = measure_triad_bytes_per_s(std::size_t{1} << 23, o.repeats);
  // Two ranks' data and receive buffers share the last-level cache.
  m.calibration.cache_bytes = host_cache_bytes() / 4;
  return m;
}

LinkCurve measure_link(const LinkEndpoint& e, const CalibrateOptions& o) {
  DOJO_CHECK(e.size >= 2, InvalidArgument,
             "calibrate: the link between ranks needs two ranks, the world has {}", e.size);
  DOJO_CHECK(e.ranks_on_host <= host_cores(), InvalidArgument,
             "calibrate: {} ranks on a host of {} cores would share cores and measure each "
             "other; run mpirun -np 2 (at most one rank per core)",
             e.ranks_on_host, host_cores());
  LinkCurve curve;
  curve.transport = e.transport;
  curve.level = e.level;
  const double arena_bytes = 4 * host_cache_bytes();
  const std::vector<double> hot_sizes =
      o.quick ? std::vector<double>{8, 65536, 1 << 20}
              : std::vector<double>{8, 1024, 16384, 65536, 262144, 1 << 20, 4 << 20, 16 << 20};
  const std::vector<double> cold_sizes =
      o.quick ? std::vector<double>{65536, 1 << 20}
              : std::vector<double>{65536, 262144, 1 << 20, 4 << 20, 16 << 20, 64 << 20};
  std::vector<std::byte> out, in;
  const auto measure = [&](double size, bool cold) {
    const auto bytes = static_cast<std::size_t>(size);
    const std::size_t span = cold ? std::max<std::size_t>(2 * bytes, std::size_t(arena_bytes)) : bytes;
    out.assign(std::max<std::size_t>(span, 1), std::byte{1});
    in.assign(std::max<std::size_t>(span, 1), std::byte{0});
    const std::size_t slots = std::max<std::size_t>(1, span / std::max<std::size_t>(bytes, 1));
    const int calls = size <= 65536 ? 50 : size <= (4 << 20) ? 8 : 2;
    const int repeats = std::max(o.quick ? 5 : 9, o.repeats);
    double last_spread = 0;
    for (int attempt = 0; attempt < 3; ++attempt) {
      std::vector<double> samples;
      std::size_t slot = 0;
      for (int r = 0; r <= repeats; ++r) {
        e.barrier();
        const auto start = Clock::now();
        for (int c = 0; c < calls && e.rank < 2; ++c) {
          const std::size_t offset = cold ? (slot++ % slots) * bytes : 0;
          e.exchange(std::span<const std::byte>(out.data() + offset, bytes),
                     std::span<std::byte>(in.data() + offset, bytes));
        }
        const double t = std::chrono::duration<double>(Clock::now() - start).count() / calls;
        if (r > 0) samples.push_back(e.max_over_ranks(t));  // r = 0 warms up
      }
      // Every rank decides on the same numbers.
      last_spread = spread(samples);
      if (last_spread <= o.max_spread * (size <= 65536 ? 1.5 : 1.0)) return median(samples);
    }
    throw Error(fmt::format(
        "bench calibrate: the repeats of the {} exchange of {} bytes ({}) disagree: upper quartile "
        "{:.2f}x the lower in three attempts; the machine is too busy to be measured, rerun when "
        "it is quieter",
        e.transport, bytes, cold ? "from memory" : "in cache", last_spread));
  };
  for (const double s : hot_sizes) curve.hot_s.points.push_back({s, measure(s, false)});
  for (const double s : cold_sizes) curve.cold_s.points.push_back({s, measure(s, true)});
  if (e.stream) {
    // Messages back to back, each in its own place (over a network the cache hardly
    // matters); the time per message of the median repeat (the slowest pair's).
    const std::vector<double> stream_sizes =
        o.quick ? std::vector<double>{65536, 1 << 20}
                : std::vector<double>{65536, 262144, 1 << 20, 4 << 20};
    for (const double size : stream_sizes) {
      const auto bytes = static_cast<std::size_t>(size);
      const int calls = size <= 65536 ? 32 : 8;
      out.assign(bytes * calls, std::byte{1});
      in.assign(bytes * calls, std::byte{0});
      const int repeats = std::max(o.quick ? 5 : 9, o.repeats);
      double value = 0, last_spread = 0;
      for (int attempt = 0; attempt < 3 && value == 0; ++attempt) {
        std::vector<double> samples;
        for (int r = 0; r <= repeats; ++r) {
          e.barrier();
          const auto start = Clock::now();
          if (e.in_stream) e.stream(out, in, bytes);
          const double t = std::chrono::duration<double>(Clock::now() - start).count() / calls;
          if (r > 0) samples.push_back(e.max_over_ranks(t));
        }
        last_spread = spread(samples);
        if (last_spread <= o.max_spread) value = median(samples);
      }
      DOJO_CHECK(value > 0, Error,
                 "bench calibrate: the repeats of the {} stream of {}-byte messages (level {}) "
                 "disagree: upper quartile {:.2f}x the lower in three attempts; the machine is "
                 "too busy to be measured, rerun when it is quieter",
                 e.transport, bytes, e.level, last_spread);
      curve.streamed_s.points.push_back({size * e.stream_pairs, value});
    }
  }
  // A larger message never takes less time: a small size that measured slower than a
  // larger one was disturbed, and takes the larger one's time.
  for (auto* c : {&curve.hot_s, &curve.cold_s, &curve.streamed_s})
    for (std::size_t i = c->points.size(); i-- > 1;)
      c->points[i - 1].value = std::min(c->points[i - 1].value, c->points[i].value);
  return curve;
}

MeshSpec host_spec(const HostMeasurements& m) {
  const auto& cal = m.calibration;
  DOJO_CHECK(m.cores >= 1 && m.memory_bytes_per_s > 0 && m.ram_bytes > 0 && !cal.threads.empty() &&
                 !cal.threads.front().gemm_fp32.empty(),
             InvalidArgument,
             "host measurements incomplete: cores {}, memory {} B/s, RAM {} B, {} thread counts",
             m.cores, m.memory_bytes_per_s, m.ram_bytes, cal.threads.size());
  const auto median_rate = [](const std::vector<GemmPoint>& points) {
    std::vector<double> rates;
    for (const auto& p : points) rates.push_back(p.flops_per_s);
    return rates.empty() ? 0.0 : median(rates);
  };
  const auto& one = cal.threads.front();
  const double fp32 = median_rate(one.gemm_fp32);
  const double bf16 = one.gemm_bf16.empty() ? fp32 : median_rate(one.gemm_bf16);
  MeshSpec spec;
  spec.name = "host";
  spec.description =
      fmt::format("this machine: {} cores as a {}x1 mesh (calibrated)", m.cores, m.cores);
  spec.node = {fp32, bf16, bf16, m.ram_bytes / static_cast<double>(m.cores), m.memory_bytes_per_s,
               0};
  double latency = 1e-6, bandwidth = m.memory_bytes_per_s / 2;
  if (const LinkCurve* mpi = cal.link(0, "mpi")) {
    latency = mpi->hot_s.time_at(8);
    const double big = double(16 << 20);
    bandwidth = big / std::max(1e-9, mpi->cold_s.time_at(big) - latency);
  }
  spec.levels = {{"host", {m.cores, 1}, bandwidth, latency}};
  std::string hosts_note;
  if (const LinkCurve* mpi = cal.link(1, "mpi"); mpi != nullptr && cal.hosts > 1) {
    const double across_latency = mpi->hot_s.time_at(8);
    const double big = double(16 << 20);
    const double across = big / std::max(1e-9, mpi->cold_s.time_at(big) - across_latency);
    spec.levels.push_back({"cluster", {cal.hosts, 1}, across, across_latency});
    spec.description = fmt::format(
        "this cluster: {} hosts of {} cores as a {}x1 mesh, {} ranks per host calibrated",
        cal.hosts, m.cores, cal.hosts * m.cores, cal.ranks_per_host);
    hosts_note = fmt::format(
        "between hosts (level 1): {:.3g} us, {:.3g} GB/s per direction, measured between the "
        "first ranks of the first two hosts alone on their link; k ranks of a host crossing at "
        "once share it",
        across_latency * 1e6, across / 1e9);
  }
  spec.host = cal;
  std::string threads;
  for (const auto& t : cal.threads) threads += fmt::format("{}{}", threads.empty() ? "" : ", ", t.threads);
  spec.notes = {
      fmt::format("node = one core; a replica on N cores runs its kernels with N threads at the "
                  "rates measured per kernel class (host_calibration), threads {}",
                  threads),
      fmt::format("node peak (informational) = median single-thread GEMM point: fp32 {:.3g}, "
                  "bf16 {:.3g} GFLOP/s (measured)",
                  fp32 / 1e9, bf16 / 1e9),
      fmt::format("node 'SRAM' = RAM / cores = {:.3g} GB at the single-thread triad bandwidth "
                  "{:.3g} GB/s (measured)",
                  m.ram_bytes / static_cast<double>(m.cores) / 1e9, m.memory_bytes_per_s / 1e9),
      fmt::format("links: {:.3g} us, {:.3g} GB/s per direction ({}); all-reduces are predicted "
                  "from the exchange curves per transport",
                  latency * 1e6, bandwidth / 1e9, m.p2p_how),
      "written by `dojo bench calibrate`"};
  if (!hosts_note.empty()) spec.notes.insert(spec.notes.end() - 1, hosts_note);
  validate(spec);
  return spec;
}

}  // namespace dojo::accel
