#include "train/validate.hpp"

#include <time.h>
#include <algorithm>
#include <array>
#include <chrono>

#include <cmath>
#include <map>

#include <fmt/format.h>

#include "accel/host_device.hpp"
#include "accel/mesh_cost_model.hpp"
#include "accel/mesh_io.hpp"
#include "comm/allreduce.hpp"
#include "comm/bench_allreduce.hpp"
#include "comm/grad_sync.hpp"
#include "comm/host_topology.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/random.hpp"
#include "core/stats.hpp"
#include "model/bench.hpp"
#include "model/config.hpp"
#include "model/mask.hpp"
#include "model/optim.hpp"
#include "model/profile.hpp"
#include "model/videomae.hpp"
#include "train/mesh_link.hpp"

namespace dojo::train {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kLinkTag = 4243;

// Runs `work` on rank 0 while the other ranks wait (the waits sleep after a few ms, so
// they leave the cores to rank 0); rank 0's error, if any, is thrown on every rank.
template <typename Work>
void on_rank0(comm::Communicator& world, const char* what, Work work) {
  std::string error;
  if (world.rank() == 0) {
    try {
      work();
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  const auto saved = world.timeout();
  world.set_timeout(std::chrono::hours(1));  // rank 0 may measure for minutes
  error = comm::broadcast_string(world, error);
  world.set_timeout(saved);
  if (!error.empty()) {
    if (world.rank() == 0) throw Error(error);
    throw Error(fmt::format("rank 0 failed {}: {}", what, error));
  }
}

std::string size_name(std::size_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return fmt::format("{} MiB", bytes >> 20);
  if (bytes >= 1024 && bytes % 1024 == 0) return fmt::format("{} KiB", bytes >> 10);
  return fmt::format("{} B", bytes);
}

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double process_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// The model's host work between kernels, which no kernel record carries: a step (mask,
// zero, forward/backward, AdamW) on a dry-run device, whose kernels do nothing. Median
// thread CPU seconds of 5.
double host_overhead_s(const model::ModelConfig& config, std::int64_t batch,
                       accel::Precision precision) {
  accel::HostDevice device({.dry_run = true, .precision = precision});
  auto c = config;
  c.precision = precision;
  model::VideoMAE model(c, device, batch);
  model::AdamW optimizer(model);
  std::vector<double> times;
  for (int r = 0; r < 6; ++r) {
    const double start = thread_cpu_s();
    const auto mask = model::make_tube_mask(c, batch, static_cast<std::uint64_t>(r));
    model.zero_grads();
    model.forward_backward({}, mask);
    optimizer.step(1e-3f);
    if (r > 0) times.push_back(thread_cpu_s() - start);
  }
  return median(times);
}

// Host preset prediction of one training step of `config` on a replica of `threads` cores:
// the mesh model's step plus the model's host overhead.
double predict_step(const accel::MeshSpec& spec, const model::ModelConfig& config,
                    std::int64_t batch, accel::Precision precision, int threads) {
  accel::MeshCostModel mesh(spec, accel::Rect{0, 0, threads, 1}, 1);
  mesh.begin_step();
  model::profile_training_step(config, batch, precision, mesh);
  return mesh.end_step().step_s + host_overhead_s(config, batch, precision);
}

// A host loop of the trainer (not a Device kernel) charged as its class.
void charge(MeshLink& mesh, const char* name, accel::KernelClass kernel_class, double bytes) {
  accel::KernelRecord r;
  r.name = name;
  r.kind = kernel_class == accel::KernelClass::kReduction ? accel::KernelKind::kReduction
                                                          : accel::KernelKind::kElementwise;
  r.kernel_class = kernel_class;
  r.bytes = bytes;
  r.flops = bytes / 4;
  mesh.sink().on_kernel(r);
}

struct TrainStep {
  double wall_s = 0, cpu_s = 0, predicted_s = 0;
};

// A training step as trainer.cpp runs it (without the loader and the loss all-reduce):
// both ranks one thread each, GradSync's buckets as backward makes them ready.
TrainStep measure_train_step(comm::Communicator& world, const accel::MeshSpec& spec,
                             const std::string& config_name, std::int64_t steps) {
  auto config = model::load_model_config(config_name);
  config.precision = accel::Precision::kFp32;
  constexpr std::int64_t kBatch = 16;
  accel::HostDevice device({.threads = 1});
  model::VideoMAE model(config, device, kBatch);
  model.init(1);
  model::AdamW adamw(model);
  comm::GradSync sync(world, model.grads(), model.layer_grad_ranges(),
                      {.bucket_bytes = auto_bucket_bytes(model.grads().size_bytes()),
                       .algorithm = comm::Algorithm::kAuto,
                       .op = comm::ReduceOp::kSum});
  MeshLink mesh(spec, model, world.rank(), world.size());
  device.set_sink(&mesh.sink());
  CounterRng rng(3 + static_cast<std::uint64_t>(world.rank()));
  std::vector<float> clips(static_cast<std::size_t>(kBatch * config.clip_elems()));
  for (auto& x : clips) x = static_cast<float>(rng.uniform());
  const auto n = static_cast<double>(model.grads().size());
  const double overhead_s = host_overhead_s(config, kBatch, config.precision);
  std::vector<double> wall, cpu, predicted;
  for (std::int64_t step = 0; step < steps + 1; ++step) {  // step 0 warms up
    world.barrier();
    const auto start = Clock::now();
    const double cpu_start = process_cpu_s();
    const auto mask = model::make_tube_mask(
        config, kBatch, static_cast<std::uint64_t>(step * world.size() + world.rank()));
    model.zero_grads();
    mesh.begin_step();
    sync.start_step();
    model.forward_backward(clips, mask, [&](std::size_t layer) {
      if (auto bucket = sync.mark_layer_ready(layer))
        mesh.gradient_bucket_ready(sync.buckets()[*bucket].count * sizeof(float));
    });
    mesh.gradients_needed();
    sync.wait();
    // The trainer's host loops over the gradient arena, charged by their classes.
    const float scale = 1.0f / static_cast<float>(world.size());
    for (float& g : model.grads()) g *= scale;
    charge(mesh, "grad_scale", accel::KernelClass::kElementwise, 8 * n);
    const float norm = model::clip_grad_norm(model.grads(), 1.0f);
    charge(mesh, "grad_norm", accel::KernelClass::kReduction, (norm > 1.0f ? 12 : 4) * n);
    adamw.step(1e-4f);
    const double sim_s = mesh.end_step();
    struct Times {
      double wall_s, cpu_s;
    };
    const Times mine{std::chrono::duration<double>(Clock::now() - start).count(),
                     process_cpu_s() - cpu_start};
    double slowest_wall = 0, slowest_cpu = 0;
    for (const auto& t : comm::all_gather_value(world, mine)) {
      slowest_wall = std::max(slowest_wall, t.wall_s);
      slowest_cpu = std::max(slowest_cpu, t.cpu_s);
    }
    if (step > 0) {
      wall.push_back(slowest_wall);
      cpu.push_back(slowest_cpu);
      predicted.push_back(sim_s + overhead_s);
    }
  }
  device.set_sink(nullptr);
  return {median(wall), median(cpu), median(predicted)};
}

ValidateOptions with_defaults(ValidateOptions o, int cores) {
  if (o.configs.empty())
    o.configs = o.quick ? std::vector<std::string>{"tiny"}
                        : std::vector<std::string>{"tiny", "bench", "small"};
  if (o.precisions.empty()) o.precisions = {"fp32", "bf16"};
  if (o.threads.empty()) {
    o.threads = {1};
    if (!o.quick && cores >= 2) o.threads.push_back(2);
  }
  if (o.allreduce_bytes.empty()) {
    o.allreduce_bytes = o.quick ? std::vector<std::size_t>{64u << 10, 1u << 20}
                                : std::vector<std::size_t>{64u << 10, 1u << 20, 16u << 20,
                                                           64u << 20};
  }
  if (o.allreduce_algos.empty()) o.allreduce_algos = {"ring", "recursive_doubling", "auto", "mpi", "gloo"};
  if (o.train_config.empty()) o.train_config = o.quick ? "tiny" : "bench";
  DOJO_CHECK(o.rounds >= 1, InvalidArgument, "bench validate: --rounds {} must be >= 1", o.rounds);
  return o;
}

std::int64_t bench_steps(const std::string& config, bool quick) {
  if (quick) return 3;
  return config == "small" ? 3 : config == "bench" ? 5 : 10;
}

}  // namespace

accel::LinkEndpoint link_endpoint(comm::Communicator& comm) {
  return link_endpoint(comm, 0, 1, 0, comm.size());
}

accel::LinkEndpoint link_endpoint(comm::Communicator& comm, int a, int b, int level,
                                  int ranks_on_host) {
  DOJO_CHECK(a != b && a >= 0 && b >= 0 && a < comm.size() && b < comm.size(), InvalidArgument,
             "link endpoint: ranks {} and {} of {}", a, b, comm.size());
  accel::LinkEndpoint e;
  e.transport = std::string(comm.backend());
  e.level = level;
  // The pair are endpoint ranks 0 and 1; everyone else is numbered after them.
  const int me = comm.rank();
  e.rank = me == a ? 0 : me == b ? 1 : 2 + me - (me > a) - (me > b);
  e.size = comm.size();
  e.ranks_on_host = ranks_on_host;
  e.barrier = [&comm] { comm.barrier(); };
  e.exchange = [&comm, a, b](std::span<const std::byte> out, std::span<std::byte> in) {
    const int peer = comm.rank() == a ? b : a;
    auto recv = comm.irecv(in, peer, kLinkTag);
    auto send = comm.isend(out, peer, kLinkTag);
    comm.wait(recv);
    comm.wait(send);
  };
  e.max_over_ranks = [&comm](double value) {
    const auto all = comm::all_gather_value(comm, value);
    return *std::max_element(all.begin(), all.end());
  };
  return e;
}

namespace {

// The streamed level-1 curve's pairs: local rank l of host 0 with local rank l of host 1,
// for every l both hosts have (comm's stripes across the first two hosts).
void add_stripe_streams(accel::LinkEndpoint& e, comm::Communicator& comm,
                        const comm::HostTopology& topology) {
  const auto& first = topology.ranks_on(0);
  const auto& second = topology.ranks_on(1);
  e.stream_pairs = static_cast<int>(std::min(first.size(), second.size()));
  int peer = -1;
  if (topology.host() <= 1 && topology.local_rank() < e.stream_pairs)
    peer = (topology.host() == 0 ? second : first)[static_cast<std::size_t>(topology.local_rank())];
  e.in_stream = peer >= 0;
  e.stream = [&comm, peer](std::span<const std::byte> out, std::span<std::byte> in,
                           std::size_t message_bytes) {
    const std::size_t count = out.size() / message_bytes;
    const auto message = [&](auto buffer, std::size_t i) {
      return buffer.subspan(i * message_bytes, message_bytes);
    };
    // Two of each in flight: message i+1 is posted before message i is waited for.
    std::vector<comm::Request> recvs, sends;
    for (std::size_t i = 0; i < count; ++i) {
      recvs.push_back(comm.irecv(message(in, i), peer, kLinkTag));
      sends.push_back(comm.isend(message(out, i), peer, kLinkTag));
      if (i >= 1) {
        comm.wait(recvs[i - 1]);
        comm.wait(sends[i - 1]);
      }
    }
    if (count > 0) {
      comm.wait(recvs.back());
      comm.wait(sends.back());
    }
  };
}

}  // namespace

accel::MeshSpec calibrate_host(comm::Communicator& world, comm::Communicator* gloo,
                               const accel::CalibrateOptions& options,
                               accel::HostMeasurements* measurements) {
  const auto topology = comm::gather_host_topology(world);
  DOJO_CHECK(topology.max_ranks_per_host() <= accel::host_cores(), InvalidArgument,
             "bench calibrate: {} ranks on a host of {} cores would share cores and measure each "
             "other; run with mpirun -np 2 (at most one rank per core of each host)",
             topology.max_ranks_per_host(), accel::host_cores());
  accel::HostMeasurements m;
  on_rank0(world, "measuring compute", [&] { m = accel::measure_host_compute(options); });
  // The pairs: two ranks of the first host that has two (level 0), the first ranks of the
  // first two hosts (level 1).
  std::vector<std::array<int, 3>> pairs;  // rank a, rank b, level
  for (int host = 0; host < topology.host_count(); ++host) {
    if (const auto& on = topology.ranks_on(host); on.size() >= 2) {
      pairs.push_back({on[0], on[1], 0});
      break;
    }
  }
  if (topology.host_count() >= 2)
    pairs.push_back({topology.ranks_on(0).front(), topology.ranks_on(1).front(), 1});
  std::vector<comm::Communicator*> transports = {&world};
  if (gloo != nullptr) transports.push_back(gloo);
  for (const auto& [a, b, level] : pairs) {
    for (auto* c : transports) {
      auto endpoint = link_endpoint(*c, a, b, level, topology.local_size());
      if (level == 1) add_stripe_streams(endpoint, *c, topology);
      m.calibration.links.push_back(accel::measure_link(endpoint, options));
    }
  }
  m.calibration.hosts = topology.host_count();
  m.calibration.ranks_per_host = topology.min_ranks_per_host();
  // Open MPI's MPI_Allreduce (and gloo's all-reduce, with a gloo communicator) as black
  // boxes on this layout (every host alike), at odd powers of two up to 128 MiB on one host
  // (beyond the last-level cache), 32 MiB across hosts (their links are slow; beyond, time
  // grows in proportion).
  if (world.size() >= 2 && topology.min_ranks_per_host() == topology.max_ranks_per_host()) {
    comm::AllreduceBenchOptions bench;
    bench.algorithms = {comm::Algorithm::kMpi};
    if (gloo != nullptr) bench.algorithms.push_back(comm::Algorithm::kGloo);
    const int last = options.quick ? 21 : topology.host_count() > 1 ? 25 : 27;
    for (int l = 13; l <= last; l += options.quick ? 4 : 2)
      bench.sizes_bytes.push_back(std::size_t{1} << l);
    if (topology.host_count() > 1) bench.iters = 3;
    for (const auto& r : comm::bench_allreduce(world, gloo, bench))
      (r.algorithm == comm::Algorithm::kGloo ? m.calibration.gloo_allreduce_s
                                             : m.calibration.mpi_allreduce_s)
          .points.push_back({static_cast<double>(r.bytes), r.time_us_median * 1e-6});
  }
  if (!pairs.empty()) {
    m.p2p_measured = true;
    const auto& [a, b, level] = pairs.front();
    m.p2p_how = fmt::format(
        "measured between ranks {} and {} ({}) over {}: both directions at once, in cache "
        "and from memory",
        a, b, topology.summary(), gloo != nullptr ? "mpi and gloo" : "mpi");
    if (level == 1) m.p2p_how += "; no host has two ranks, so within a host it is ASSUMED";
  } else {
    m.p2p_how = "ASSUMED (one rank: run under mpirun -np 2 to measure)";
  }
  std::string text;
  if (world.rank() == 0) text = accel::to_json(accel::host_spec(m)).dump();
  text = comm::broadcast_string(world, text);
  if (measurements != nullptr) *measurements = m;
  return accel::mesh_spec_from_json(nlohmann::json::parse(text), "<calibration>");
}

ValidationReport validate_host(comm::Communicator& world, comm::Communicator* gloo,
                               const ValidateOptions& options) {
  const auto o = with_defaults(options, static_cast<int>(accel::host_cores()));
  accel::CalibrateOptions cal;
  cal.quick = o.quick;
  cal.repeats = o.quick ? 3 : 5;
  cal.threads = o.threads;
  // CI runs on loaded machines: refuse only what is far beyond noise.
  if (o.quick) cal.max_spread = 5;
  if (o.max_spread > 0) cal.max_spread = o.max_spread;
  ValidationReport report;
  report.ranks = world.size();
  report.rounds = o.rounds;
  std::vector<ValidationRow> rows;
  const auto row = [&](const std::string& group, const std::string& name,
                       const std::string& timing) -> ValidationRow& {
    for (auto& r : rows)
      if (r.group == group && r.name == name) return r;
    rows.push_back({group, name, timing, {}, {}, 0, 0, 0});
    return rows.back();
  };
  const auto topology = comm::gather_host_topology(world);
  const accel::HostLayout layout{topology.host_count(), topology.min_ranks_per_host()};
  for (int round = 0; round < o.rounds; ++round) {
    accel::HostMeasurements m;
    const auto spec = calibrate_host(world, gloo, cal, &m);
    if (world.rank() == 0) {
      report.calibration = accel::to_json(spec);
      log::info("bench validate: round {} of {} calibrated", round + 1, o.rounds);
    }
    // Training steps on rank 0.
    std::vector<std::pair<std::string, std::pair<double, double>>> steps;
    on_rank0(world, "measuring model steps", [&] {
      for (const auto& config : o.configs) {
        for (const auto& precision : o.precisions) {
          for (const int threads : o.threads) {
            model::ModelBenchOptions b;
            b.config = config;
            b.threads = threads;
            b.precision = accel::parse_precision(precision);
            b.steps = bench_steps(config, o.quick);
            b.warmup = 1;
            const auto r = model::run_model_bench(b);
            const double measured =
                (threads == 1 ? r.step_cpu_ms_median : r.step_ms_median) / 1e3;
            const double predicted =
                predict_step(spec, model::load_model_config(config), b.batch, b.precision, threads);
            auto& out = row("step",
                            fmt::format("{} {} {} thread{}", config, precision, threads,
                                        threads == 1 ? "" : "s"),
                            threads == 1 ? "cpu" : "wall");
            out.measured_s.push_back(measured);
            out.predicted_s.push_back(predicted);
          }
        }
      }
    });
    if (world.size() < 2) continue;
    // All-reduces among all ranks.
    comm::AllreduceBenchOptions bench;
    bench.sizes_bytes = o.allreduce_bytes;
    bench.iters = o.quick ? 3 : 0;
    for (const auto& name : o.allreduce_algos) {
      const auto algo = comm::parse_algorithm(name);
      if (algo == comm::Algorithm::kGloo && gloo == nullptr) continue;
      bench.algorithms.push_back(algo);
    }
    for (const auto& r : comm::bench_allreduce(world, gloo, bench)) {
      DOJO_CHECK(r.correct, Error, "bench validate: all-reduce {} of {} bytes gave a wrong sum",
                 comm::to_string(r.algorithm), r.bytes);
      const auto algo = accel::parse_host_allreduce(comm::to_string(r.algorithm));
      auto& out = row("allreduce",
                      fmt::format("{} {}", comm::to_string(r.algorithm), size_name(r.bytes)), "wall");
      out.measured_s.push_back(r.time_us_median / 1e6);
      out.predicted_s.push_back(
          accel::host_allreduce_s(*spec.host, algo, static_cast<double>(r.bytes), layout));
    }
    // A training step on every rank.
    const auto t = measure_train_step(world, spec, o.train_config, o.quick ? 3 : 5);
    for (const auto& [timing, measured] : {std::pair{"cpu", t.cpu_s}, std::pair{"wall", t.wall_s}}) {
      auto& out = row("train",
                      fmt::format("{} fp32, {} ranks x 1 thread ({})", o.train_config, world.size(),
                                  timing),
                      timing);
      out.measured_s.push_back(measured);
      out.predicted_s.push_back(t.predicted_s);
    }
  }
  // Rank 0 holds the step rows: every rank gets the same report.
  nlohmann::json all = nlohmann::json::array();
  for (const auto& r : rows)
    all.push_back({{"group", r.group}, {"name", r.name}, {"timing", r.timing},
                   {"measured_s", r.measured_s}, {"predicted_s", r.predicted_s}});
  const auto shared = nlohmann::json::parse(comm::broadcast_string(world, all.dump()));
  report.rows.clear();
  for (const auto& j : shared) {
    ValidationRow r{j.at("group"), j.at("name"), j.at("timing"), j.at("measured_s"),
                    j.at("predicted_s"), 0, 0, 0};
    std::vector<double> errors;
    for (std::size_t i = 0; i < r.measured_s.size(); ++i)
      errors.push_back(r.predicted_s[i] / r.measured_s[i] - 1);
    r.measured_median_s = median(r.measured_s);
    r.predicted_median_s = median(r.predicted_s);
    r.error = median(errors);
    report.rows.push_back(std::move(r));
  }
  std::map<std::string, std::vector<double>> abs_errors;
  for (const auto& r : report.rows) {
    abs_errors[r.group].push_back(std::abs(r.error));
    abs_errors["all"].push_back(std::abs(r.error));
  }
  report.median_abs_error = nlohmann::json::object();
  for (const auto& [group, errors] : abs_errors) report.median_abs_error[group] = median(errors);
  return report;
}

nlohmann::json ValidationReport::to_json() const {
  nlohmann::json out_rows = nlohmann::json::array();
  for (const auto& r : rows)
    out_rows.push_back({{"group", r.group},
                        {"name", r.name},
                        {"timing", r.timing},
                        {"measured_s", r.measured_median_s},
                        {"predicted_s", r.predicted_median_s},
                        {"error", r.error},
                        {"measured_rounds_s", r.measured_s},
                        {"predicted_rounds_s", r.predicted_s}});
  return {{"ranks", ranks},
          {"rounds", rounds},
          {"rows", out_rows},
          {"median_abs_error", median_abs_error},
          {"calibration", calibration}};
}

std::string ValidationReport::table() const {
  std::string out = fmt::format(
      "| group | quantity | timing | measured | predicted | error (median of {} round{}) |\n"
      "|---|---|---|---|---|---|\n",
      rounds, rounds == 1 ? "" : "s");
  for (const auto& r : rows) {
    out += fmt::format("| {} | {} | {} | {:.3f} ms | {:.3f} ms | {:+.1f}% |\n", r.group, r.name,
                       r.timing, r.measured_median_s * 1e3, r.predicted_median_s * 1e3,
                       100 * r.error);
  }
  for (const auto& [group, e] : median_abs_error.items())
    out += fmt::format("\nmedian |error| {}: {:.1f}%", group, 100 * e.get<double>());
  return out + "\n";
}

}  // namespace dojo::train
