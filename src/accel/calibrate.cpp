#include "accel/calibrate.hpp"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "accel/host_device.hpp"
#include "accel/recording_sink.hpp"
#include "core/error.hpp"

namespace dojo::accel {

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// CPU time of the calling thread: on a shared machine, time the thread was descheduled
// does not count against the rate (the measurements are single-threaded).
double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double seconds_since(double start) {
  return thread_cpu_s() - start;
}

}  // namespace

double measure_gemm_flops_per_s(int repeats) {
  DOJO_CHECK(repeats >= 1, InvalidArgument, "repeats {} must be >= 1", repeats);
  constexpr std::int64_t kTokens = 4096;
  HostDevice device;  // one thread, oneDNN: what the model's GEMMs run on
  std::vector<double> shape_rates;
  for (const std::int64_t d : {128, 256, 512}) {
    for (const auto& [n, k] : {std::pair{d, d}, std::pair{4 * d, d}, std::pair{d, 4 * d}}) {
      GemmShape shape;
      shape.m = kTokens;
      shape.n = n;
      shape.k = k;
      std::vector<float> a(static_cast<std::size_t>(kTokens * k), 0.5f);
      std::vector<float> b(static_cast<std::size_t>(k * n), 0.25f);
      std::vector<float> c(static_cast<std::size_t>(kTokens * n), 0.0f);
      device.gemm<float>("calibrate.gemm", shape, a.data(), b.data(), c.data());  // warm-up
      std::vector<double> rates;
      for (int r = 0; r < repeats; ++r) {
        const double start = thread_cpu_s();
        device.gemm<float>("calibrate.gemm", shape, a.data(), b.data(), c.data());
        rates.push_back(2.0 * static_cast<double>(kTokens * n) * static_cast<double>(k) /
                        seconds_since(start));
      }
      shape_rates.push_back(median(rates));
    }
  }
  return median(shape_rates);
}

double measure_triad_bytes_per_s(std::size_t elems, int repeats) {
  DOJO_CHECK(elems >= 1 && repeats >= 1, InvalidArgument,
             "triad size {} and repeats {} must be >= 1", elems, repeats);
  std::vector<float> a(elems, 0.0f), b(elems, 1.0f), c(elems, 2.0f);
  const float s = 0.5f;
  std::vector<double> rates;
  for (int r = 0; r <= repeats; ++r) {
    const double start = thread_cpu_s();
    for (std::size_t i = 0; i < elems; ++i) a[i] = b[i] + s * c[i];
    const double t = seconds_since(start);
    if (r > 0)
      rates.push_back(3.0 * sizeof(float) * static_cast<double>(elems) / t);  // r = 0 warms up
    b[r % elems] = a[(r * 7) % elems];  // keep the loop's result live
  }
  return median(rates);
}

double measure_vector_flops_per_s(std::size_t elems, int repeats) {
  DOJO_CHECK(elems >= 1 && repeats >= 1, InvalidArgument,
             "vector size {} and repeats {} must be >= 1", elems, repeats);
  constexpr std::int64_t kCols = 256;
  const std::int64_t rows = std::max<std::int64_t>(1, static_cast<std::int64_t>(elems) / kCols);
  const auto n = static_cast<std::size_t>(rows * kCols);
  std::vector<float> x(n), y(n), dy(n, 0.01f), dx(n), gamma(kCols, 1.0f), beta(kCols, 0.0f),
      dgamma(kCols), dbeta(kCols), mean(static_cast<std::size_t>(rows)),
      rstd(static_cast<std::size_t>(rows));
  for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<float>(i % 97) * 0.02f - 1.0f;
  HostDevice device;  // one thread: the model's own non-GEMM kernels
  RecordingSink records;
  device.set_sink(&records);
  const auto run = [&] {
    device.gelu_forward<float>(static_cast<std::int64_t>(n), x.data(), y.data());
    device.gelu_backward<float>(static_cast<std::int64_t>(n), x.data(), dy.data(), dx.data());
    std::copy(x.begin(), x.end(), y.begin());
    device.softmax_forward<float>(rows, kCols, y.data());
    device.softmax_backward<float>(rows, kCols, y.data(), dy.data(), dx.data());
    device.layernorm_forward<float>(rows, kCols, 1e-6f, x.data(), gamma.data(), beta.data(),
                                    y.data(), mean.data(), rstd.data());
    device.layernorm_backward<float>(rows, kCols, dy.data(), x.data(), mean.data(), rstd.data(),
                                     gamma.data(), dx.data(), dgamma.data(), dbeta.data());
  };
  run();  // warm-up; also tells the flops of one round
  const double flops = records.total_flops();
  device.set_sink(nullptr);
  std::vector<double> rates;
  for (int r = 0; r < repeats; ++r) {
    const double start = thread_cpu_s();
    run();
    rates.push_back(flops / seconds_since(start));
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

MeshSpec host_spec(const HostMeasurements& m) {
  DOJO_CHECK(m.cores >= 1 && m.gemm_flops_per_s > 0 && m.memory_bytes_per_s > 0 &&
                 m.ram_bytes > 0 && m.vector_flops_per_s > 0 && m.p2p_bytes_per_s > 0 &&
                 m.p2p_latency_s >= 0,
             InvalidArgument,
             "host measurements incomplete: cores {}, sgemm {} FLOP/s, memory {} B/s, RAM {} B, "
             "link {} B/s, latency {} s",
             m.cores, m.gemm_flops_per_s, m.memory_bytes_per_s, m.ram_bytes, m.p2p_bytes_per_s,
             m.p2p_latency_s);
  MeshSpec spec;
  spec.name = "host";
  spec.description =
      fmt::format("this machine: {} cores as a {}x1 mesh (calibrated)", m.cores, m.cores);
  // No bf16 or fp8 units on the host: every precision runs at the fp32 sgemm rate.
  spec.node = {m.gemm_flops_per_s,   m.gemm_flops_per_s,
               m.gemm_flops_per_s,   m.ram_bytes / static_cast<double>(m.cores),
               m.memory_bytes_per_s, 0};
  spec.node.vector_flops_per_s = m.vector_flops_per_s;
  spec.levels = {{"host", {m.cores, 1}, m.p2p_bytes_per_s, m.p2p_latency_s}};
  spec.notes = {
      fmt::format("node = one core: peak = single-thread host Device (oneDNN) GEMM, median over "
                  "transformer-layer shapes = {:.3g} GFLOP/s (measured)",
                  m.gemm_flops_per_s / 1e9),
      fmt::format(
          "node 'SRAM' = RAM / cores = {:.3g} GB at the single-thread triad bandwidth {:.3g} GB/s "
          "(measured)",
          m.ram_bytes / static_cast<double>(m.cores) / 1e9, m.memory_bytes_per_s / 1e9),
      fmt::format("non-GEMM kernels: {:.3g} GFLOP/s (single-thread host Device GELU, softmax, "
                  "LayerNorm kernels, measured)",
                  m.vector_flops_per_s / 1e9),
      fmt::format("links: {:.3g} us latency, {:.3g} GB/s per direction ({})", m.p2p_latency_s * 1e6,
                  m.p2p_bytes_per_s / 1e9, m.p2p_how),
      "written by `dojo bench calibrate`"};
  validate(spec);
  return spec;
}

}  // namespace dojo::accel
