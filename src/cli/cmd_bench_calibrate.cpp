// `dojo bench calibrate [--out FILE] [--json]`: measures this machine (single-thread
// sgemm rate and memory bandwidth per core; point-to-point latency and bandwidth between
// ranks 0 and 1 when there are two or more) and writes the `host` mesh preset. With two or
// more ranks it also times a plain ring all-reduce over all ranks at 1 MiB and 16 MiB and
// prints it next to the host preset's prediction.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "accel/calibrate.hpp"
#include "accel/collectives.hpp"
#include "accel/mesh_cost_model.hpp"
#include "accel/mesh_io.hpp"
#include "cli/command.hpp"
#include "comm/communicator.hpp"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kTag = 4242;

struct Options {
  std::string out = "configs/mesh/host.yaml";
  bool json = false;
  int repeats = 7;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Half round trips of `bytes` between ranks 0 and 1 (others wait), every timed repeat.
std::vector<double> ping_pong_s(dojo::comm::Communicator& world, std::size_t bytes, int repeats) {
  std::vector<std::byte> buffer(std::max<std::size_t>(bytes, 1));
  const std::span<std::byte> data(buffer.data(), bytes);
  std::vector<double> times;
  for (int r = 0; r <= repeats; ++r) {
    world.barrier();
    const auto start = Clock::now();
    if (world.rank() == 0) {
      auto s = world.isend(data, 1, kTag);
      world.wait(s);
      auto q = world.irecv(data, 1, kTag);
      world.wait(q);
    } else if (world.rank() == 1) {
      auto q = world.irecv(data, 0, kTag);
      world.wait(q);
      auto s = world.isend(data, 0, kTag);
      world.wait(s);
    }
    const double t = std::chrono::duration<double>(Clock::now() - start).count() / 2;
    if (r > 0) times.push_back(t);  // r = 0 warms up the connection
  }
  return times;
}

// Median seconds for ranks 0 and 1 to exchange `bytes` both ways at once (as in a ring
// step, where every rank sends and receives together).
double exchange_s(dojo::comm::Communicator& world, std::size_t bytes, int repeats) {
  std::vector<std::byte> out(std::max<std::size_t>(bytes, 1)), in(std::max<std::size_t>(bytes, 1));
  std::vector<double> times;
  for (int r = 0; r <= repeats; ++r) {
    world.barrier();
    const auto start = Clock::now();
    if (world.rank() < 2) {
      const int peer = 1 - world.rank();
      auto q = world.irecv(std::span(in.data(), bytes), peer, kTag);
      auto s = world.isend(std::span<const std::byte>(out.data(), bytes), peer, kTag);
      world.wait(q);
      world.wait(s);
    }
    const double t = std::chrono::duration<double>(Clock::now() - start).count();
    if (r > 0) times.push_back(t);
  }
  return median(times);
}

// A plain (unpipelined) ring all-reduce over all ranks: reduce-scatter then all-gather,
// chunk c = elems / p (the last takes the rest). Returns the median seconds per call.
double ring_allreduce_s(dojo::comm::Communicator& world, std::size_t elems, int repeats) {
  const auto p = static_cast<std::size_t>(world.size());
  const auto r = static_cast<std::size_t>(world.rank());
  std::vector<float> data(elems, 1.0f), incoming(elems / p + elems % p + 1);
  const auto chunk_begin = [&](std::size_t c) { return c * (elems / p); };
  const auto chunk_size = [&](std::size_t c) {
    return c + 1 == p ? elems - chunk_begin(c) : elems / p;
  };
  const int right = static_cast<int>((r + 1) % p), left = static_cast<int>((r + p - 1) % p);
  std::vector<double> times;
  for (int rep = 0; rep <= repeats; ++rep) {
    world.barrier();
    const auto start = Clock::now();
    for (std::size_t step = 0; step + 1 < 2 * p - 1; ++step) {
      const bool reduce = step + 1 < p;
      const std::size_t send_c = (r + 2 * p - step) % p;
      const std::size_t recv_c = (r + 2 * p - step - 1) % p;
      float* recv_dst = reduce ? incoming.data() : data.data() + chunk_begin(recv_c);
      auto q =
          world.irecv(std::as_writable_bytes(std::span(recv_dst, chunk_size(recv_c))), left, kTag);
      auto s = world.isend(
          std::as_bytes(std::span(data.data() + chunk_begin(send_c), chunk_size(send_c))), right,
          kTag);
      world.wait(q);
      world.wait(s);
      if (reduce) {
        float* dst = data.data() + chunk_begin(recv_c);
        for (std::size_t i = 0; i < chunk_size(recv_c); ++i) dst[i] += incoming[i];
      }
    }
    const double t = std::chrono::duration<double>(Clock::now() - start).count();
    if (rep > 0) times.push_back(t);
  }
  // Every rank's time: the slowest rank's median is what a caller sees.
  const auto all = dojo::comm::all_gather_value(world, median(times));
  return *std::max_element(all.begin(), all.end());
}

int run(const Options& opts, dojo::cli::Context& ctx) {
  using namespace dojo;
  auto& world = *ctx.world;
  accel::HostMeasurements m;
  m.cores = accel::host_cores();
  m.ram_bytes = accel::host_ram_bytes();
  // Rank 0 measures compute and memory alone so that no other rank shares its core.
  if (world.rank() == 0) {
    m.gemm_flops_per_s = accel::measure_gemm_flops_per_s(opts.repeats);
    m.memory_bytes_per_s = accel::measure_triad_bytes_per_s(std::size_t{1} << 23, opts.repeats);
    m.vector_flops_per_s = accel::measure_vector_flops_per_s(std::size_t{1} << 20, opts.repeats);
  }
  world.barrier();
  if (world.size() >= 2) {
    m.p2p_measured = true;
    // Latency is a floor: the fastest round trip, since on a shared machine most rounds
    // include a rank being descheduled.
    const auto small = ping_pong_s(world, 8, 200);
    m.p2p_latency_s = *std::min_element(small.begin(), small.end());
    // Bandwidth with both directions busy (what a ring step does), 16 MiB each way.
    const std::size_t big_bytes = std::size_t{16} << 20;
    const double big = exchange_s(world, big_bytes, opts.repeats);
    m.p2p_bytes_per_s = static_cast<double>(big_bytes) / std::max(1e-9, big - m.p2p_latency_s);
    m.p2p_how = fmt::format(
        "measured between ranks 0 and 1 over {} ({} ranks): latency = fastest half 8 B round trip, "
        "bandwidth = 16 MiB exchanged both ways at once",
        world.backend(), world.size());
  } else {
    // One rank: nothing to measure between ranks. Assume a shared-memory copy: half the
    // memory bandwidth (read + write) and 1 us per message.
    m.p2p_latency_s = 1e-6;
    m.p2p_bytes_per_s = m.memory_bytes_per_s / 2;
    m.p2p_how = "ASSUMED (one rank: run under mpirun -np 2 to measure)";
  }
  // Ring all-reduce: measured over all ranks, predicted on the host preset.
  nlohmann::json ring = nlohmann::json::array();
  const auto spec = world.rank() == 0 ? accel::host_spec(m) : accel::MeshSpec{};
  for (const std::size_t bytes : {std::size_t{1} << 20, std::size_t{16} << 20}) {
    if (world.size() < 2) break;
    const double measured = ring_allreduce_s(world, bytes / sizeof(float), opts.repeats);
    if (world.rank() != 0) continue;
    const accel::Topology topo(spec);
    if (world.size() > topo.grid_x() * topo.grid_y()) continue;  // more ranks than cores
    const accel::Partition partition(topo, world.size());
    accel::MeshCostModel mesh(spec, accel::partition_replicas(partition, {1, 1}), 0);
    const double predicted = mesh.allreduce_s(static_cast<double>(bytes));
    ring.push_back({{"bytes", bytes},
                    {"ranks", world.size()},
                    {"measured_s", measured},
                    {"predicted_s", predicted},
                    {"error", predicted / measured - 1}});
  }
  if (world.rank() != 0) return 0;
  const auto parent = std::filesystem::path(opts.out).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  accel::save_mesh_spec(spec, opts.out);
  if (opts.json) {
    nlohmann::json out = {{"out", opts.out},
                          {"cores", m.cores},
                          {"ram_bytes", m.ram_bytes},
                          {"gemm_flops_per_s", m.gemm_flops_per_s},
                          {"memory_bytes_per_s", m.memory_bytes_per_s},
                          {"vector_flops_per_s", m.vector_flops_per_s},
                          {"p2p_measured", m.p2p_measured},
                          {"p2p_latency_s", m.p2p_latency_s},
                          {"p2p_bytes_per_s", m.p2p_bytes_per_s},
                          {"ring_allreduce", ring}};
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  fmt::print("dojo bench calibrate: {} cores, {:.1f} GB RAM\n", m.cores, m.ram_bytes / 1e9);
  fmt::print("  GEMM, one thread:      {:.2f} GFLOP/s per core\n", m.gemm_flops_per_s / 1e9);
  fmt::print("  triad, one thread:     {:.2f} GB/s per core\n", m.memory_bytes_per_s / 1e9);
  fmt::print("  non-GEMM, one thread:  {:.2f} GFLOP/s per core\n", m.vector_flops_per_s / 1e9);
  fmt::print("  rank to rank:          {:.2f} us, {:.2f} GB/s ({})\n", m.p2p_latency_s * 1e6,
             m.p2p_bytes_per_s / 1e9, m.p2p_how);
  for (const auto& r : ring) {
    fmt::print(
        "  ring all-reduce {:>5} KiB over {} ranks: measured {:.3f} ms, host preset predicts "
        "{:.3f} ms "
        "({:+.1f}%)\n",
        r["bytes"].get<std::size_t>() / 1024, r["ranks"].get<int>(),
        r["measured_s"].get<double>() * 1e3, r["predicted_s"].get<double>() * 1e3,
        100 * r["error"].get<double>());
  }
  fmt::print("  wrote {}\n", opts.out);
  return 0;
}

dojo::cli::Runner setup(CLI::App& app) {
  auto opts = std::make_shared<Options>();
  app.add_option("--out", opts->out, "where to write the host preset")->capture_default_str();
  app.add_option("--repeats", opts->repeats, "timed repeats per measurement (median)")
      ->capture_default_str();
  app.add_flag("--json", opts->json, "print JSON");
  return [opts](dojo::cli::Context& ctx) { return run(*opts, ctx); };
}

DOJO_COMMAND(bench_calibrate, "bench", "calibrate",
             "measure this machine and write the host mesh preset", kDistributed, setup);

}  // namespace
