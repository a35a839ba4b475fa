// `dojo sim --preset NAME --model CONFIG [--global-batch N] [--ranks N] [--config TRAIN.yaml]
// [--json] [--trace FILE]`:
// projects one data-parallel training step of a model onto a whole mesh preset, with no
// data (train/quote.hpp). Under mpirun each rank simulates its own partition block of the
// mesh; rank 0 prints the combined result. `--ranks N` simulates N ranks' blocks in one
// process instead. On a calibrated cluster (a two-level `host` preset) the blocks fall on
// its hosts in rank order, as `mpirun --map-by ppr:L:node` puts ranks.
//
// `dojo sim --preset host --allreduce 16M,64M [--ranks N] [--algo all]`: comm's all-reduce
// of those sizes among N ranks of the calibrated host or cluster, predicted per algorithm
// (accel::host_allreduce_s), instead of a step.
#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "accel/mesh_cost_model.hpp"
#include "accel/partition.hpp"
#include "accel/presets.hpp"
#include "accel/topology.hpp"
#include "cli/command.hpp"
#include "comm/bench_allreduce.hpp"
#include "core/error.hpp"
#include "model/config.hpp"
#include "train/config.hpp"
#include "train/quote.hpp"

namespace {

struct Options {
  std::string preset = "exapod";
  std::string model = "bench";
  std::int64_t batch = 16;
  std::int64_t global_batch = 0;
  std::string precision;  // default: the model config's
  std::string algo = "auto";
  double bucket_mb = 0;
  std::string config;  // a train config: model, precision, buckets, algorithm, global batch
  CLI::Option* given_model = nullptr;
  CLI::Option* given_precision = nullptr;
  CLI::Option* given_algo = nullptr;
  CLI::Option* given_bucket = nullptr;
  CLI::Option* given_global_batch = nullptr;
  int ranks = 0;          // 0: the ranks dojo sim runs on
  std::string allreduce;  // sizes: predict all-reduces instead of a step
  bool json = false;
  std::string trace;
};

// The all-reduce table of a calibrated host: every size x algorithm among `ranks` ranks
// placed as the trainer's blocks are.
int predict_allreduce(const dojo::accel::MeshSpec& spec, const Options& opts, int ranks) {
  using namespace dojo;
  DOJO_CHECK(spec.host.has_value(), InvalidArgument,
             "dojo sim --allreduce predicts comm's all-reduce on a calibrated host preset; '{}' "
             "has no host calibration",
             spec.name);
  const accel::Topology topo(spec);
  const accel::Partition partition(topo, ranks);
  const auto layout =
      accel::replica_host_layout(topo, accel::partition_replicas(partition, {1, 1}));
  std::vector<accel::HostAllreduce> algos;
  if (opts.algo == "all") {
    algos = {accel::HostAllreduce::kRing, accel::HostAllreduce::kRecursiveDoubling,
             accel::HostAllreduce::kMpi,  accel::HostAllreduce::kGloo,
             accel::HostAllreduce::kShm,  accel::HostAllreduce::kHierarchical,
             accel::HostAllreduce::kAuto};
  } else {
    algos = {accel::parse_host_allreduce(opts.algo)};
  }
  auto rows = nlohmann::json::array();
  std::map<std::string, std::string> skipped;  // algorithm: why not
  for (const auto bytes : comm::parse_sizes(opts.allreduce)) {
    for (const auto algo : algos) {
      double time_s = 0;
      try {
        time_s = accel::host_allreduce_s(*spec.host, algo, static_cast<double>(bytes), layout);
      } catch (const InvalidArgument& e) {
        // Not on this layout (shm across hosts) or not calibrated (gloo skipped): say so once.
        if (opts.algo != "all") throw;
        skipped[accel::to_string(algo)] = e.what();
        continue;
      }
      const double n = static_cast<double>(layout.ranks());
      const double busbw = time_s > 0 ? static_cast<double>(bytes) / time_s * 2 * (n - 1) / n : 0;
      rows.push_back({{"algo", accel::to_string(algo)},
                      {"bytes", bytes},
                      {"time_s", time_s},
                      {"busbw_GBps", busbw / 1e9}});
    }
  }
  if (opts.json) {
    std::cout << nlohmann::json{{"preset", spec.name},
                                {"hosts", layout.hosts},
                                {"ranks_per_host", layout.ranks_per_host},
                                {"rows", rows}}
                     .dump(2)
              << "\n";
    return 0;
  }
  fmt::print("dojo sim: all-reduce on '{}', {} hosts x {} ranks (predicted)\n", spec.name,
             layout.hosts, layout.ranks_per_host);
  fmt::print("  {:>10} {:>20} {:>12} {:>12}\n", "bytes", "algorithm", "time ms", "busbw GB/s");
  for (const auto& r : rows)
    fmt::print("  {:>10} {:>20} {:>12.3f} {:>12.4f}\n", r.at("bytes").get<std::size_t>(),
               r.at("algo").get<std::string>(), r.at("time_s").get<double>() * 1e3,
               r.at("busbw_GBps").get<double>());
  for (const auto& [algo, why] : skipped) fmt::print("  {} not predicted: {}\n", algo, why);
  return 0;
}

void print_rows(const char* title, const std::vector<dojo::accel::BreakdownRow>& rows,
                double step_s) {
  fmt::print("{}:\n", title);
  for (std::size_t i = 0; i < std::min<std::size_t>(rows.size(), 10); ++i) {
    const auto& r = rows[i];
    std::string bound;
    double most = -1;
    for (const auto& [name, s] : r.bound_s)
      if (s > most) most = s, bound = name;
    fmt::print("  {:32} {:6} x  {:10.3f} us  {:5.1f}%  {}-bound\n", r.name, r.count, r.time_s * 1e6,
               100 * r.time_s / step_s, bound);
  }
}

// What a train config sets, unless given on the command line: the model, its precision,
// GradSync's bucket size and (on a calibrated host, which runs comm's algorithms) its
// algorithm (comm.bucket_mb, comm.algorithm) and the global batch, so the projection makes
// the trainer's buckets (plan_buckets).
Options with_train_config(Options opts, bool calibrated_host) {
  if (opts.config.empty()) return opts;
  const auto config = dojo::train::load_train_config(opts.config, {}, /*check_files=*/false);
  if (opts.given_model->count() == 0) opts.model = config.model;
  if (opts.given_precision->count() == 0) opts.precision = config.precision;
  if (opts.given_algo->count() == 0 && calibrated_host) opts.algo = config.comm.algorithm;
  if (opts.given_bucket->count() == 0) opts.bucket_mb = config.comm.bucket_mb;
  if (opts.given_global_batch->count() == 0) opts.global_batch = config.train.global_batch;
  return opts;
}

int run(const Options& given, dojo::cli::Context& ctx) {
  using namespace dojo;
  const auto spec = accel::resolve_preset(given.preset);
  const Options opts = with_train_config(given, spec.host.has_value());
  DOJO_CHECK(opts.ranks == 0 || ctx.world->size() == 1 || opts.ranks == ctx.world->size(),
             InvalidArgument,
             "dojo sim: --ranks {} under mpirun with {} ranks (give --ranks in one process, or "
             "run under mpirun without it)",
             opts.ranks, ctx.world->size());
  const int ranks = opts.ranks > 0 ? opts.ranks : ctx.world->size();
  if (!opts.allreduce.empty())
    return ctx.world->rank() == 0 ? predict_allreduce(spec, opts, ranks) : 0;
  const auto config = model::load_model_config(opts.model);
  train::StepProjectionOptions options;
  options.batch_per_replica = opts.batch;
  options.global_batch = opts.global_batch;
  options.precision = opts.precision;
  options.algo = opts.algo;
  options.bucket_mb = opts.bucket_mb;
  options.trace = opts.trace;
  const auto projection = ctx.world->size() == 1
                              ? std::optional(train::project_step(spec, config, options, ranks))
                              : train::project_step(spec, config, options, *ctx.world);
  if (!projection) return 0;  // ranks other than 0
  const auto& p = *projection;
  const auto& report = p.block0;
  const auto out = p.to_json();
  if (opts.json) {
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  const auto t = accel::totals(spec);
  const bool bf16 = p.precision == accel::to_string(accel::Precision::kBf16);
  fmt::print("dojo sim: model '{}' ({}) on '{}' ({} nodes, {:.4g} PFLOP/s {})\n", p.model,
             p.precision, spec.name, t.nodes,
             (bf16 ? t.peak_flops_bf16 : t.peak_flops_fp32) / 1e15, p.precision);
  fmt::print("  ranks {} (one partition block each), replicas {}, region {}x{} = {:.0f} nodes\n",
             p.blocks, p.replicas, report.fit.region.w, report.fit.region.h,
             report.fit.region_nodes);
  fmt::print("  batch {} per replica, global batch {}\n", report.batch_per_replica,
             p.global_batch);
  fmt::print(
      "  step {:.3f} ms: compute {:.3f} ms, exposed communication {:.3f} ms "
      "(all-reduce total {:.3f} ms, between blocks {:.3f} ms)\n",
      p.step_s * 1e3, p.compute_s * 1e3, p.comm_s * 1e3, p.comm_total_s * 1e3,
      p.cross_block_comm_s * 1e3);
  fmt::print(
      "  {:.4g} clips/s at full scale, utilization {:.2f}% of the mesh's peak ({:.2f}% of the "
      "replicas' regions; {:.0f} of {} nodes in use)\n",
      p.clips_per_s, 100 * p.utilization, 100 * p.region_utilization, p.nodes_used, t.nodes);
  const auto& f = report.fit;
  fmt::print(
      "  SRAM: needs {:.1f} MB (params {:.1f}, grads {:.1f}, AdamW {:.1f}, activations {:.1f}) of "
      "{:.1f} MB: {}\n",
      f.footprint.total_bytes() / 1e6, f.footprint.param_bytes / 1e6, f.footprint.grad_bytes / 1e6,
      f.footprint.optimizer_bytes / 1e6, f.footprint.activation_bytes / 1e6, f.capacity_bytes / 1e6,
      f.fits ? "fits" : fmt::format("spills {:.1f} MB off-mesh", f.spill_bytes / 1e6));
  if (!f.first_unfit_kernel.empty())
    fmt::print("  first kernel larger than the region's SRAM: {} ({:.1f} MB)\n",
               f.first_unfit_kernel, f.first_unfit_kernel_bytes / 1e6);
  print_rows("per layer (rank 0's replica)", report.per_layer, report.step.step_s);
  print_rows("per kernel (rank 0's replica)", report.per_kernel, report.step.step_s);
  if (!opts.trace.empty()) fmt::print("  Chrome trace of rank 0's replica: {}\n", opts.trace);
  return 0;
}

dojo::cli::Runner setup(CLI::App& app) {
  auto opts = std::make_shared<Options>();
  app.add_option("--preset", opts->preset, "mesh preset name or .yaml/.json file")
      ->capture_default_str();
  app.add_option("--config", opts->config,
                 "a train config: its model, precision, comm.bucket_mb, comm.algorithm and "
                 "train.global_batch, unless given here");
  opts->given_model =
      app.add_option("--model", opts->model, "model config: tiny, bench, small or a YAML file")
          ->capture_default_str();
  app.add_option("--batch", opts->batch, "clips per replica")->capture_default_str();
  opts->given_global_batch =
      app.add_option("--global-batch", opts->global_batch,
                     "clips per step over all replicas (0: as many replicas as fit)")
          ->capture_default_str();
  opts->given_precision =
      app.add_option("--precision", opts->precision, "fp32 or bf16 (default: the model config's)");
  opts->given_algo =
      app.add_option(
             "--algo", opts->algo,
             "gradient all-reduce: on a mesh auto, ring, ring2d, hierarchical; on a calibrated "
             "host comm's auto, ring, recursive_doubling, mpi, gloo, shm, hierarchical (and "
             "all with --allreduce)")
          ->capture_default_str();
  app.add_option("--ranks", opts->ranks,
                 "ranks (partition blocks) to simulate in this one process (default: the ranks "
                 "dojo sim runs on)")
      ->check(CLI::PositiveNumber);
  app.add_option("--allreduce", opts->allreduce,
                 "predict comm's all-reduce of these sizes (K/M/G suffixes) on a calibrated host "
                 "instead of a step");
  opts->given_bucket =
      app.add_option("--bucket-mb", opts->bucket_mb,
                     "gradient bucket size in MiB (0: auto, as comm.bucket_mb)")
          ->capture_default_str();
  app.add_flag("--json", opts->json, "print JSON");
  app.add_option("--trace", opts->trace, "write rank 0's simulated step as a Chrome trace JSON");
  return [opts](dojo::cli::Context& ctx) { return run(*opts, ctx); };
}

DOJO_COMMAND(sim, "", "sim", "project one training step onto a simulated mesh preset", kDistributed,
             setup);

}  // namespace
