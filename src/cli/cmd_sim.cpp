// `dojo sim --preset NAME --model CONFIG [--global-batch N] [--json] [--trace FILE]`:
// projects one data-parallel training step of a model onto a whole mesh preset, with no
// data (train/quote.hpp). Under mpirun each rank simulates its own partition block of the
// mesh; rank 0 prints the combined result.
#include <algorithm>
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "accel/presets.hpp"
#include "cli/command.hpp"
#include "model/config.hpp"
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
  bool json = false;
  std::string trace;
};

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
  const auto spec = accel::resolve_preset(opts.preset);
  const auto config = model::load_model_config(opts.model);
  train::StepProjectionOptions options;
  options.batch_per_replica = opts.batch;
  options.global_batch = opts.global_batch;
  options.precision = opts.precision;
  options.algo = opts.algo;
  options.bucket_mb = opts.bucket_mb;
  options.trace = opts.trace;
  const auto projection = train::project_step(spec, config, options, *ctx.world);
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
  app.add_option("--model", opts->model, "model config: tiny, bench, small or a YAML file")
      ->capture_default_str();
  app.add_option("--batch", opts->batch, "clips per replica")->capture_default_str();
  app.add_option("--global-batch", opts->global_batch,
                 "clips per step over all replicas (0: as many replicas as fit)")
      ->capture_default_str();
  app.add_option("--precision", opts->precision, "fp32 or bf16 (default: the model config's)");
  app.add_option("--algo", opts->algo, "gradient all-reduce: auto, ring, ring2d")
      ->capture_default_str();
  app.add_option("--bucket-mb", opts->bucket_mb,
                 "gradient bucket size in MB (0: auto, as comm.bucket_mb)")
      ->capture_default_str();
  app.add_flag("--json", opts->json, "print JSON");
  app.add_option("--trace", opts->trace, "write rank 0's simulated step as a Chrome trace JSON");
  return [opts](dojo::cli::Context& ctx) { return run(*opts, ctx); };
}

DOJO_COMMAND(sim, "", "sim", "project one training step onto a simulated mesh preset", kDistributed,
             setup);

}  // namespace
