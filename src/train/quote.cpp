#include "train/quote.hpp"

#include <algorithm>
#include <cmath>
#include <exception>

#include "accel/collectives.hpp"
#include "accel/partition.hpp"
#include "accel/presets.hpp"
#include "accel/topology.hpp"
#include "core/buckets.hpp"
#include "core/error.hpp"
#include "model/params.hpp"
#include "model/profile.hpp"

namespace dojo::train {
namespace {

accel::SimModel sim_model(const model::ModelConfig& config) {
  accel::SimModel m;
  m.name = config.name;
  // The dry-run profile reports exactly the kernels of a real step (tested in model_test).
  m.profile = [config](std::int64_t batch, accel::Precision precision, accel::CostSink& sink) {
    model::profile_training_step(config, batch, precision, sink);
  };
  const auto table = model::build_param_table(config);
  const double param_bytes = static_cast<double>(table.total) * sizeof(float);
  // The gradient arena's layer ranges as GradSync gets them (VideoMAE::layer_grad_ranges,
  // alignment padding included), so the simulated buckets are the trainer's plan_buckets.
  const auto ranges = table.layer_ranges();
  for (std::size_t l = 0; l < table.layers.size(); ++l)
    m.layer_grad_bytes.emplace_back(
        table.layers[l], static_cast<double>(ranges[l].second - ranges[l].first) * sizeof(float));
  // The model keeps parameters, gradients and both AdamW moments in fp32 arenas; the
  // activation bytes are estimated from the profiled step (accel/sim.hpp).
  m.footprint = [config, param_bytes](std::int64_t batch) {
    accel::RecordingSink step;
    model::profile_training_step(config, batch, config.precision, step);
    return accel::estimate_footprint(step, param_bytes);
  };
  return m;
}

model::ModelConfig with_precision(model::ModelConfig config, const std::string& precision) {
  if (!precision.empty()) config.precision = accel::parse_precision(precision);
  return config;
}

accel::SimOptions sim_options(const accel::MeshSpec& spec, const model::ModelConfig& config,
                              const StepProjectionOptions& options) {
  DOJO_CHECK(options.bucket_mb >= 0, InvalidArgument,
             "bucket size must be > 0 MiB (or 0: auto), got {}", options.bucket_mb);
  accel::SimOptions sim;
  sim.batch_per_replica = options.batch_per_replica;
  sim.precision = config.precision;
  if (spec.host) {
    // A calibrated host runs comm's algorithms (the mesh collective is never used).
    sim.host_algo = accel::parse_host_allreduce(options.algo);
  } else {
    sim.algo = accel::parse_collective_algo(options.algo);
  }
  // MiB, as comm.bucket_mb; 0 picks the size GradSync would.
  const auto grad_bytes =
      static_cast<std::size_t>(model::build_param_table(config).total) * sizeof(float);
  sim.bucket_bytes = static_cast<double>(bucket_bytes_for(options.bucket_mb, grad_bytes));
  return sim;
}

// Block `index` of the mesh cut into partition.size() blocks, carrying its share of the
// global batch (proportional to its area).
accel::SimReport simulate_block(const accel::MeshSpec& spec, const accel::Topology& topo,
                                const accel::Partition& partition, int index,
                                const accel::SimModel& model, accel::SimOptions sim,
                                const StepProjectionOptions& options, BlockResult& result) {
  const auto& block = partition.block(index);
  if (options.global_batch > 0) {
    const double share =
        static_cast<double>(block.area()) / static_cast<double>(topo.grid_x() * topo.grid_y());
    sim.global_batch = std::max<std::int64_t>(
        1, static_cast<std::int64_t>(std::llround(share * static_cast<double>(options.global_batch))));
  }
  if (spec.host && partition.ranks() > 1) {
    // On a calibrated host the ranks' buckets are all-reduced among all of them as
    // backward makes them ready, as the trainer does (see combine).
    sim.blocks = partition.blocks();
    sim.block = static_cast<std::size_t>(index);
  }
  auto report = accel::simulate_training_step(spec, block, model, sim,
                                              index == 0 ? options.trace : std::string());
  result = {report.replicas,       report.batch_per_replica,    report.fit.region.w,
            report.fit.region.h,   report.fit.region_nodes,     report.step.step_s,
            report.step.compute_s, report.step.comm_s,          report.step.comm_total_s,
            report.step.flops,     report.step.peak_flops_per_s};
  return report;
}

StepProjection combine(const accel::MeshSpec& spec, const accel::Partition& partition,
                       const model::ModelConfig& config, const accel::SimModel& model,
                       accel::SimReport block0, const std::vector<BlockResult>& all) {
  StepProjection p;
  p.model = config.name;
  p.precision = accel::to_string(config.precision);
  p.blocks = static_cast<int>(all.size());
  std::vector<accel::BlockReplicas> blocks;
  double slowest = 0, compute = 0, comm = 0, comm_total = 0;
  for (const auto& r : all) {
    blocks.push_back({r.replicas, {r.region_w, r.region_h}});
    p.replicas += r.replicas;
    p.global_batch += r.replicas * r.batch;
    if (r.step_s >= slowest)
      slowest = r.step_s, compute = r.compute_s, comm = r.comm_s, comm_total = r.comm_total_s;
  }
  double grad_bytes = 0;
  for (const auto& [layer, b] : model.layer_grad_bytes) grad_bytes += b;
  // A calibrated host's blocks already all-reduced among each other, overlapped with
  // backward (simulate_block); a mesh preset's add the stage between blocks after the step.
  p.cross_block_comm_s =
      spec.host ? 0.0 : accel::cross_block_allreduce_s(spec, partition, blocks, grad_bytes);
  p.step_s = slowest + p.cross_block_comm_s;
  p.compute_s = compute;
  p.comm_s = comm + p.cross_block_comm_s;
  p.comm_total_s = comm_total + p.cross_block_comm_s;
  p.clips_per_s = static_cast<double>(p.global_batch) / p.step_s;
  // Utilization of the whole mesh (idle nodes count against it); the replica's own region
  // is reported as region_utilization.
  const auto mesh_totals = accel::totals(spec);
  const auto& step = block0.step;
  const double mesh_peak =
      step.peak_flops_per_s / block0.fit.region_nodes * static_cast<double>(mesh_totals.nodes);
  p.utilization = static_cast<double>(p.replicas) * step.flops / (p.step_s * mesh_peak);
  p.region_utilization = step.flops / (p.step_s * step.peak_flops_per_s);
  p.nodes_used = static_cast<double>(p.replicas) * block0.fit.region_nodes;
  p.block0 = std::move(block0);
  return p;
}

}  // namespace

nlohmann::json StepProjection::to_json() const {
  auto out = block0.to_json();
  out["model"] = model;
  out["precision"] = precision;
  out["ranks"] = blocks;
  out["replicas"] = replicas;
  out["global_batch"] = global_batch;
  out["step_s"] = step_s;
  out["compute_s"] = compute_s;
  out["comm_s"] = comm_s;
  out["comm_total_s"] = comm_total_s;
  out["cross_block_comm_s"] = cross_block_comm_s;
  out["clips_per_s"] = clips_per_s;
  out["utilization"] = utilization;
  out["region_utilization"] = region_utilization;
  out["nodes_used"] = nodes_used;
  return out;
}

std::optional<StepProjection> project_step(const accel::MeshSpec& spec,
                                           const model::ModelConfig& model_config,
                                           const StepProjectionOptions& options,
                                           comm::Communicator& world) {
  const auto config = with_precision(model_config, options.precision);
  const auto sim = sim_options(spec, config, options);
  const auto model = sim_model(config);
  const accel::Topology topo(spec);
  const accel::Partition partition(topo, world.size());
  BlockResult mine{};
  auto report =
      simulate_block(spec, topo, partition, world.rank(), model, sim, options, mine);
  const auto all = comm::all_gather_value(world, mine);
  if (world.rank() != 0) return std::nullopt;
  return combine(spec, partition, config, model, std::move(report), all);
}

StepProjection project_step(const accel::MeshSpec& spec, const model::ModelConfig& model_config,
                            const StepProjectionOptions& options, int blocks) {
  DOJO_CHECK(blocks >= 1, InvalidArgument, "blocks must be >= 1, got {}", blocks);
  const auto config = with_precision(model_config, options.precision);
  const auto sim = sim_options(spec, config, options);
  const auto model = sim_model(config);
  const accel::Topology topo(spec);
  const accel::Partition partition(topo, blocks);
  std::vector<BlockResult> all(static_cast<std::size_t>(blocks));
  accel::SimReport block0;
  for (int b = 0; b < blocks; ++b) {
    auto report = simulate_block(spec, topo, partition, b, model, sim, options, all[b]);
    if (b == 0) block0 = std::move(report);
  }
  return combine(spec, partition, config, model, std::move(block0), all);
}

nlohmann::json JobQuote::to_json() const {
  auto targets_json = nlohmann::json::array();
  for (const auto& t : targets) {
    nlohmann::json j{{"preset", t.preset}, {"available", t.available}};
    if (t.available) {
      j["ranks"] = t.blocks;
      j["replicas"] = t.replicas;
      j["global_batch"] = t.global_batch;
      j["step_s"] = t.step_s;
      j["total_s"] = t.total_s;
      j["clips_per_s"] = t.clips_per_s;
      j["utilization"] = t.utilization;
    } else {
      j["reason"] = t.reason;
    }
    targets_json.push_back(j);
  }
  return {{"model", model}, {"steps", steps}, {"global_batch", global_batch},
          {"targets", targets_json}};
}

JobQuote quote_job(const TrainConfig& config, const model::ModelConfig& model, int ranks) {
  DOJO_CHECK(ranks >= 1, InvalidArgument, "ranks must be >= 1, got {}", ranks);
  JobQuote quote;
  quote.model = model.name;
  quote.steps = config.train.steps;
  quote.global_batch = config.train.global_batch;
  StepProjectionOptions options;
  options.global_batch = config.train.global_batch;
  options.precision = config.precision;
  options.algo = "auto";
  options.bucket_mb = config.comm.bucket_mb;
  for (const std::string preset : {"host", "tile", "exapod"}) {
    QuoteTarget t;
    t.preset = preset;
    // On this cluster the job's ranks each own a block of the host mesh, as `dojo train`
    // charges them; a Dojo preset takes the job's global batch on one whole mesh.
    t.blocks = preset == "host" ? ranks : 1;
    try {
      const auto spec = accel::resolve_preset(preset);
      const auto p = project_step(spec, model, options, t.blocks);
      t.available = true;
      t.replicas = p.replicas;
      t.global_batch = p.global_batch;
      t.step_s = p.step_s;
      t.total_s = p.step_s * static_cast<double>(config.train.steps);
      t.clips_per_s = p.clips_per_s;
      t.utilization = p.utilization;
    } catch (const InvalidArgument& e) {
      // No host.yaml (not calibrated), or the model does not fit a block: say so.
      t.available = false;
      t.reason = e.what();
    }
    quote.targets.push_back(std::move(t));
  }
  return quote;
}

}  // namespace dojo::train
