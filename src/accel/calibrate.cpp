#include "accel/calibrate.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>
#include <vector>

#include <cblas.h>
#include <fmt/format.h>

#include "core/error.hpp"

namespace dojo::accel {

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

double measure_sgemm_flops_per_s(std::int64_t n, int repeats) {
  DOJO_CHECK(n >= 1 && repeats >= 1, InvalidArgument, "sgemm size {} and repeats {} must be >= 1",
             n, repeats);
  const auto elems = static_cast<std::size_t>(n * n);
  std::vector<float> a(elems, 0.5f), b(elems, 0.25f), c(elems, 0.0f);
  const int threads = openblas_get_num_threads();
  openblas_set_num_threads(1);
  const auto ni = static_cast<int>(n);
  const auto run = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ni, ni, ni, 1.0f, a.data(), ni, b.data(),
                ni, 0.0f, c.data(), ni);
  };
  run();  // warm-up: page faults, OpenBLAS buffers
  std::vector<double> rates;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    run();
    rates.push_back(2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n) /
                    seconds_since(start));
  }
  openblas_set_num_threads(threads);
  return median(rates);
}

double measure_triad_bytes_per_s(std::size_t elems, int repeats) {
  DOJO_CHECK(elems >= 1 && repeats >= 1, InvalidArgument,
             "triad size {} and repeats {} must be >= 1", elems, repeats);
  std::vector<float> a(elems, 0.0f), b(elems, 1.0f), c(elems, 2.0f);
  const float s = 0.5f;
  std::vector<double> rates;
  for (int r = 0; r <= repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
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
  constexpr std::size_t kSoftmaxCols = 288, kNormCols = 192;
  std::vector<float> x(elems), y(elems);
  for (std::size_t i = 0; i < elems; ++i) x[i] = static_cast<float>(i % 97) * 0.02f - 1.0f;
  const auto gelu = [&] {
    for (std::size_t i = 0; i < elems; ++i)
      y[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678f));
  };
  const auto softmax = [&] {
    for (std::size_t r = 0; r + kSoftmaxCols <= elems; r += kSoftmaxCols) {
      float m = x[r];
      for (std::size_t c = 1; c < kSoftmaxCols; ++c) m = std::max(m, x[r + c]);
      float sum = 0;
      for (std::size_t c = 0; c < kSoftmaxCols; ++c) sum += (y[r + c] = std::exp(x[r + c] - m));
      const float inv = 1.0f / sum;
      for (std::size_t c = 0; c < kSoftmaxCols; ++c) y[r + c] *= inv;
    }
  };
  const auto layernorm = [&] {
    for (std::size_t r = 0; r + kNormCols <= elems; r += kNormCols) {
      float mean = 0, var = 0;
      for (std::size_t c = 0; c < kNormCols; ++c) mean += x[r + c];
      mean /= kNormCols;
      for (std::size_t c = 0; c < kNormCols; ++c) var += (x[r + c] - mean) * (x[r + c] - mean);
      const float rstd = 1.0f / std::sqrt(var / kNormCols + 1e-6f);
      for (std::size_t c = 0; c < kNormCols; ++c) y[r + c] = (x[r + c] - mean) * rstd * 1.5f + 0.1f;
    }
  };
  const double flops = (10.0 + 5.0 + 8.0) * static_cast<double>(elems);
  std::vector<double> rates;
  for (int r = 0; r <= repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    gelu();
    softmax();
    layernorm();
    const double t = seconds_since(start);
    if (r > 0) rates.push_back(flops / t);  // r = 0 warms up
    x[static_cast<std::size_t>(r) % elems] += y[(static_cast<std::size_t>(r) * 13) % elems] * 1e-6f;
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
      fmt::format(
          "node = one core: peak = single-thread OpenBLAS sgemm {}^3 = {:.3g} GFLOP/s (measured)",
          m.gemm_n, m.gemm_flops_per_s / 1e9),
      fmt::format(
          "node 'SRAM' = RAM / cores = {:.3g} GB at the single-thread triad bandwidth {:.3g} GB/s "
          "(measured)",
          m.ram_bytes / static_cast<double>(m.cores) / 1e9, m.memory_bytes_per_s / 1e9),
      fmt::format(
          "non-GEMM kernels: {:.3g} GFLOP/s (single-thread GELU/softmax/LayerNorm loops, measured)",
          m.vector_flops_per_s / 1e9),
      fmt::format("links: {:.3g} us latency, {:.3g} GB/s per direction ({})", m.p2p_latency_s * 1e6,
                  m.p2p_bytes_per_s / 1e9, m.p2p_how),
      "written by `dojo bench calibrate`"};
  validate(spec);
  return spec;
}

}  // namespace dojo::accel
