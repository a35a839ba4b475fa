// `dojo sim --preset NAME --model CONFIG [--global-batch N] [--json] [--trace FILE]`:
// projects one data-parallel training step of a model onto a whole mesh preset, with no
// data. Under mpirun each rank simulates its own partition block of the mesh; rank 0
// adds the all-reduce between blocks and prints the combined result.
#include <algorithm>
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "accel/mesh_io.hpp"
#include "accel/presets.hpp"
#include "accel/sim.hpp"
#include "cli/command.hpp"
#include "comm/communicator.hpp"
#include "core/log.hpp"
#include "model/config.hpp"
#include "model/params.hpp"
#include "model/profile.hpp"

namespace {

struct Options {
  std::string preset = "exapod";
  std::string model = "bench";
  std::int64_t batch = 16;
  std::int64_t global_batch = 0;
  std::string precision;  // default: the model config's
  std::string algo = "auto";
  double bucket_mb = 25;
  bool json = false;
  std::string trace;
};

// What every rank reports to rank 0.
struct RankResult {
  std::int64_t replicas, batch, region_w, region_h;
  double region_nodes, step_s, compute_s, comm_s, comm_total_s, flops, peak_flops_per_s;
};

dojo::accel::SimModel sim_model(const dojo::model::ModelConfig& config) {
  using namespace dojo;
  accel::SimModel m;
  m.name = config.name;
  // The dry-run profile reports exactly the kernels of a real step (tested in model_test).
  m.profile = [config](std::int64_t batch, accel::Precision precision, accel::CostSink& sink) {
    model::profile_training_step(config, batch, precision, sink);
  };
  const auto table = model::build_param_table(config);
  const double param_bytes = static_cast<double>(table.total) * sizeof(float);
  std::vector<double> per_layer(table.layers.size(), 0.0);
  for (const auto& t : table.tensors)
    per_layer[t.layer] += static_cast<double>(t.size) * sizeof(float);
  for (std::size_t l = 0; l < table.layers.size(); ++l)
    m.layer_grad_bytes.emplace_back(table.layers[l], per_layer[l]);
  // The model keeps parameters, gradients and both AdamW moments in fp32 arenas; the
  // activation bytes are estimated from the profiled step (accel/sim.hpp).
  m.footprint = [config, param_bytes](std::int64_t batch) {
    accel::RecordingSink step;
    model::profile_training_step(config, batch, config.precision, step);
    return accel::estimate_footprint(step, param_bytes);
  };
  return m;
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

int run(const Options& opts, dojo::cli::Context& ctx) {
  using namespace dojo;
  auto& world = *ctx.world;
  const auto spec = accel::resolve_preset(opts.preset);
  auto config = model::load_model_config(opts.model);
  if (!opts.precision.empty()) config.precision = accel::parse_precision(opts.precision);
  DOJO_CHECK(opts.bucket_mb > 0, InvalidArgument, "--bucket-mb must be > 0, got {}",
             opts.bucket_mb);
  accel::SimOptions sim;
  sim.batch_per_replica = opts.batch;
  sim.precision = config.precision;
  sim.algo = accel::parse_collective_algo(opts.algo);
  sim.bucket_bytes = opts.bucket_mb * (1 << 20);
  const auto model = sim_model(config);

  const accel::Topology topo(spec);
  const accel::Partition partition(topo, world.size());
  const auto& block = partition.block(world.rank());
  if (opts.global_batch > 0) {
    // Each block carries its share of the global batch (proportional to its area).
    const double share =
        static_cast<double>(block.area()) / static_cast<double>(topo.grid_x() * topo.grid_y());
    sim.global_batch = std::max<std::int64_t>(
        1, static_cast<std::int64_t>(std::llround(share * static_cast<double>(opts.global_batch))));
  }
  const auto trace = world.rank() == 0 ? opts.trace : std::string();
  auto report = accel::simulate_training_step(spec, block, model, sim, trace);

  const RankResult mine{
      report.replicas,       report.batch_per_replica,    report.fit.region.w,
      report.fit.region.h,   report.fit.region_nodes,     report.step.step_s,
      report.step.compute_s, report.step.comm_s,          report.step.comm_total_s,
      report.step.flops,     report.step.peak_flops_per_s};
  const auto all = comm::all_gather_value(world, mine);
  if (world.rank() != 0) return 0;

  // Combine: replicas and batch add up; the step is the slowest block's plus the
  // all-reduce between blocks (not overlapped: an upper bound).
  std::vector<accel::BlockReplicas> blocks;
  std::int64_t replicas = 0, global_batch = 0;
  double slowest = 0, compute = 0, comm = 0, comm_total = 0;
  for (const auto& r : all) {
    blocks.push_back({r.replicas, {r.region_w, r.region_h}});
    replicas += r.replicas;
    global_batch += r.replicas * r.batch;
    if (r.step_s >= slowest)
      slowest = r.step_s, compute = r.compute_s, comm = r.comm_s, comm_total = r.comm_total_s;
  }
  const double grad_bytes = [&] {
    double bytes = 0;
    for (const auto& [layer, b] : model.layer_grad_bytes) bytes += b;
    return bytes;
  }();
  const double cross_s = accel::cross_block_allreduce_s(spec, partition, blocks, grad_bytes);
  const double step_s = slowest + cross_s;
  const double clips_per_s = static_cast<double>(global_batch) / step_s;
  // Utilization of the whole mesh (idle nodes count against it); the replica's own region
  // is reported as region_utilization.
  const auto mesh_totals = accel::totals(spec);
  const double mesh_peak = report.step.peak_flops_per_s / report.fit.region_nodes *
                           static_cast<double>(mesh_totals.nodes);
  const double utilization =
      static_cast<double>(replicas) * report.step.flops / (step_s * mesh_peak);
  const double region_utilization = report.step.flops / (step_s * report.step.peak_flops_per_s);

  auto out = report.to_json();
  out["model"] = config.name;
  out["precision"] = accel::to_string(config.precision);
  out["ranks"] = world.size();
  out["replicas"] = replicas;
  out["global_batch"] = global_batch;
  out["step_s"] = step_s;
  out["compute_s"] = compute;
  out["comm_s"] = comm + cross_s;
  out["comm_total_s"] = comm_total + cross_s;
  out["cross_block_comm_s"] = cross_s;
  out["clips_per_s"] = clips_per_s;
  out["utilization"] = utilization;
  out["region_utilization"] = region_utilization;
  out["nodes_used"] = static_cast<double>(replicas) * report.fit.region_nodes;
  if (opts.json) {
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  const auto t = accel::totals(spec);
  fmt::print(
      "dojo sim: model '{}' ({}) on '{}' ({} nodes, {:.4g} PFLOP/s {})\n", config.name,
      accel::to_string(config.precision), spec.name, t.nodes,
      (config.precision == accel::Precision::kBf16 ? t.peak_flops_bf16 : t.peak_flops_fp32) / 1e15,
      accel::to_string(config.precision));
  fmt::print("  ranks {} (one partition block each), replicas {}, region {}x{} = {:.0f} nodes\n",
             world.size(), replicas, report.fit.region.w, report.fit.region.h,
             report.fit.region_nodes);
  fmt::print("  batch {} per replica, global batch {}\n", report.batch_per_replica, global_batch);
  fmt::print(
      "  step {:.3f} ms: compute {:.3f} ms, exposed communication {:.3f} ms "
      "(all-reduce total {:.3f} ms, between blocks {:.3f} ms)\n",
      step_s * 1e3, compute * 1e3, (comm + cross_s) * 1e3, (comm_total + cross_s) * 1e3,
      cross_s * 1e3);
  fmt::print(
      "  {:.4g} clips/s at full scale, utilization {:.2f}% of the mesh's peak ({:.2f}% of the "
      "replicas' regions; {:.0f} of {} nodes in use)\n",
      clips_per_s, 100 * utilization, 100 * region_utilization,
      static_cast<double>(replicas) * report.fit.region_nodes, mesh_totals.nodes);
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
  app.add_option("--model", opts->model, "model config: tiny, bench, small or a YAML file")
      ->capture_default_str();
  app.add_option("--batch", opts->batch, "clips per replica")->capture_default_str();
  app.add_option("--global-batch", opts->global_batch,
                 "clips per step over all replicas (0: as many replicas as fit)")
      ->capture_default_str();
  app.add_option("--precision", opts->precision, "fp32 or bf16 (default: the model config's)");
  app.add_option("--algo", opts->algo, "gradient all-reduce: auto, ring, ring2d")
      ->capture_default_str();
  app.add_option("--bucket-mb", opts->bucket_mb, "gradient bucket size in MiB (as comm.bucket_mb)")
      ->capture_default_str();
  app.add_flag("--json", opts->json, "print JSON");
  app.add_option("--trace", opts->trace, "write rank 0's simulated step as a Chrome trace JSON");
  return [opts](dojo::cli::Context& ctx) { return run(*opts, ctx); };
}

DOJO_COMMAND(sim, "", "sim", "project one training step onto a simulated mesh preset", kDistributed,
             setup);

}  // namespace
