#include "accel/sim.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/buckets.hpp"
#include "core/error.hpp"

namespace dojo::accel {

ReplicaFootprint estimate_footprint(const RecordingSink& step, double param_bytes) {
  ReplicaFootprint fp;
  fp.param_bytes = param_bytes;
  fp.grad_bytes = param_bytes;
  fp.optimizer_bytes = 2 * param_bytes;
  for (const auto& k : step.kernels()) {
    const auto& r = k.record;
    if (r.backward || r.kind == KernelKind::kOptimizer) continue;
    const double e = r.precision == Precision::kBf16 ? 2.0 : 4.0;
    if (r.kind == KernelKind::kGemm) {
      fp.activation_bytes += static_cast<double>(r.m) * static_cast<double>(r.n) *
                             static_cast<double>(std::max<std::int64_t>(1, r.batch)) * e;
    } else {
      fp.activation_bytes += r.bytes / 2;
    }
  }
  return fp;
}

void replay_step(const RecordingSink& step, const SimModel& model, double bucket_bytes,
                 std::int64_t replicas, MeshCostModel& mesh) {
  const auto& kernels = step.kernels();
  // Last backward kernel of every layer: its gradients are final after it. A kernel's
  // layer is its innermost scope ("decoder.1.mlp"); it counts for the gradient layer whose
  // name is that scope or a dotted prefix of it ("decoder.1").
  std::set<std::string> grad_layers;
  for (const auto& [layer, bytes] : model.layer_grad_bytes) grad_layers.insert(layer);
  std::map<std::string, std::size_t> last_backward;
  for (std::size_t i = 0; i < kernels.size(); ++i) {
    if (!kernels[i].record.backward) continue;
    std::string scope = kernels[i].layer;
    while (!scope.empty() && !grad_layers.contains(scope)) {
      const auto dot = scope.rfind('.');
      scope = dot == std::string::npos ? std::string() : scope.substr(0, dot);
    }
    if (!scope.empty()) last_backward[scope] = i;
  }
  // The arena's float elements per layer, as GradSync sees them.
  std::vector<LayerRange> ranges;
  std::size_t total = 0;
  for (const auto& [layer, bytes] : model.layer_grad_bytes) {
    const auto elems = static_cast<std::size_t>(std::llround(bytes / sizeof(float)));
    ranges.emplace_back(total, total + elems);
    total += elems;
  }
  const auto buckets = plan_buckets(ranges, total, static_cast<std::size_t>(bucket_bytes));
  // Layers ready after each kernel; a layer no backward kernel names is ready when
  // backward ends (before the optimizer).
  std::map<std::size_t, std::vector<std::size_t>> ready_after;
  std::vector<std::size_t> unscoped;
  for (std::size_t l = 0; l < model.layer_grad_bytes.size(); ++l) {
    const auto it = last_backward.find(model.layer_grad_bytes[l].first);
    if (it == last_backward.end()) {
      unscoped.push_back(l);
    } else {
      ready_after[it->second].push_back(l);
    }
  }
  std::vector<std::size_t> layers_left(buckets.size(), 0);
  std::vector<std::size_t> bucket_of_layer(ranges.size(), 0);
  for (std::size_t b = 0; b < buckets.size(); ++b) {
    layers_left[b] = buckets[b].last_layer - buckets[b].first_layer + 1;
    for (std::size_t l = buckets[b].first_layer; l <= buckets[b].last_layer; ++l)
      bucket_of_layer[l] = b;
  }
  // As GradSync: buckets go out strictly in index order, each once all its layers are ready.
  std::size_t next = 0;
  std::string name;
  const auto issue_ready = [&] {
    for (; next < buckets.size() && layers_left[next] == 0; ++next) {
      name = fmt::format("grad_bucket.{}", next);
      CollectiveRecord c;
      c.name = name;
      c.bytes = 0;
      for (std::size_t l = buckets[next].first_layer; l <= buckets[next].last_layer; ++l)
        c.bytes += model.layer_grad_bytes[l].second;
      c.ranks = static_cast<int>(replicas);
      c.async = true;
      if (c.bytes > 0) mesh.on_collective(c);
    }
  };
  const auto layer_ready = [&](std::size_t l) {
    --layers_left[bucket_of_layer[l]];
    issue_ready();
  };
  bool waited = false;
  const auto wait_all = [&] {
    if (waited) return;
    for (const auto l : unscoped) layer_ready(l);
    unscoped.clear();
    CollectiveRecord wait;
    wait.name = "grad_wait";
    wait.bytes = 0;
    wait.ranks = 1;
    wait.async = false;
    mesh.on_collective(wait);
    waited = true;
  };
  for (std::size_t i = 0; i < kernels.size(); ++i) {
    if (kernels[i].record.kind == KernelKind::kOptimizer && !waited) wait_all();
    mesh.on_kernel(step.kernel(i));
    if (const auto it = ready_after.find(i); it != ready_after.end())
      for (const auto l : it->second) layer_ready(l);
  }
  wait_all();
}

namespace {

struct Fit {
  std::int64_t batch = 0;
  SramFit fit;
  std::int64_t max_replicas = 0;
};

Fit fit_batch(const MeshSpec& spec, const Rect& area, const SimModel& model, std::int64_t batch) {
  Fit f;
  f.batch = batch;
  f.fit = place_replica(spec, area, model.footprint(batch));
  f.max_replicas = (area.w / f.fit.region.w) * (area.h / f.fit.region.h);
  return f;
}

}  // namespace

SimReport simulate_training_step(const MeshSpec& spec, const Rect& area, const SimModel& model,
                                 const SimOptions& options, const std::string& trace_path) {
  DOJO_CHECK(options.batch_per_replica >= 1, InvalidArgument,
             "batch per replica must be >= 1, got {}", options.batch_per_replica);
  DOJO_CHECK(options.global_batch >= 0, InvalidArgument, "global batch must be >= 0, got {}",
             options.global_batch);
  Fit f = fit_batch(spec, area, model, options.batch_per_replica);
  std::int64_t replicas = f.max_replicas;
  if (options.global_batch > 0) {
    // Grow the per-replica batch until the replicas that fit can carry the global batch.
    for (int round = 0; round < 64; ++round) {
      const std::int64_t needed = (options.global_batch + f.batch - 1) / f.batch;
      if (needed <= f.max_replicas) {
        replicas = needed;
        break;
      }
      const std::int64_t batch = (options.global_batch + f.max_replicas - 1) / f.max_replicas;
      DOJO_CHECK(batch > f.batch, InternalError, "batch did not grow");
      f = fit_batch(spec, area, model, batch);
      replicas = f.max_replicas;
    }
    replicas = std::min(replicas, (options.global_batch + f.batch - 1) / f.batch);
  }
  DOJO_CHECK(replicas >= 1, InvalidArgument,
             "no replica of model '{}' fits on a {}x{} area of '{}'", model.name, area.w, area.h,
             spec.name);

  RecordingSink recorded;
  model.profile(f.batch, options.precision, recorded);
  MeshCostOptions mesh_options;
  mesh_options.algo = options.algo;
  mesh_options.host_algo = options.host_algo;
  mesh_options.footprint = f.fit.footprint;
  const GridDims shape{f.fit.region.w, f.fit.region.h};
  UnitSet units = tiled_replicas(area, shape, replicas);
  std::size_t self = 0;
  if (!options.blocks.empty()) {
    DOJO_CHECK(options.block < options.blocks.size(), InvalidArgument,
               "block {} of {} does not exist", options.block, options.blocks.size());
    UnitSet all;
    all.shape = shape;
    for (const auto& block : options.blocks) {
      const auto mine = tiled_replicas(block, shape, replicas);
      all.origins.insert(all.origins.end(), mine.origins.begin(), mine.origins.end());
    }
    all.ux = static_cast<std::int64_t>(all.origins.size());
    all.uy = 1;
    self = options.block * static_cast<std::size_t>(replicas);
    units = std::move(all);
  }
  const auto all_replicas = units.count();
  MeshCostModel mesh(spec, std::move(units), self, mesh_options);
  mesh.begin_step();
  replay_step(recorded, model, options.bucket_bytes, all_replicas, mesh);
  SimReport report;
  report.step = mesh.end_step();
  if (!trace_path.empty()) mesh.write_chrome_trace(trace_path);
  report.preset = spec.name;
  report.area = area;
  report.replicas = replicas;
  report.batch_per_replica = f.batch;
  report.global_batch = replicas * f.batch;
  report.clips_per_s =
      report.step.step_s > 0 ? static_cast<double>(report.global_batch) / report.step.step_s : 0;
  report.fit = mesh.sram_fit();
  report.per_layer = mesh.last_step().per_layer();
  report.per_kernel = mesh.last_step().per_kernel();
  return report;
}

nlohmann::json SimReport::to_json() const {
  using nlohmann::json;
  const auto rows = [](const std::vector<BreakdownRow>& in) {
    json out = json::array();
    for (const auto& r : in)
      out.push_back({{"name", r.name},
                     {"count", r.count},
                     {"time_s", r.time_s},
                     {"flops", r.flops},
                     {"bytes", r.bytes},
                     {"bound_s", r.bound_s}});
    return out;
  };
  return {{"preset", preset},
          {"area", {{"x", area.x}, {"y", area.y}, {"w", area.w}, {"h", area.h}}},
          {"replicas", replicas},
          {"region_nodes", fit.region_nodes},
          {"region", {{"w", fit.region.w}, {"h", fit.region.h}}},
          {"batch_per_replica", batch_per_replica},
          {"global_batch", global_batch},
          {"step_s", step.step_s},
          {"compute_s", step.compute_s},
          {"comm_s", step.comm_s},
          {"comm_total_s", step.comm_total_s},
          {"utilization", step.utilization},
          {"flops_per_replica", step.flops},
          {"clips_per_s", clips_per_s},
          {"sram_fit",
           {{"fits", fit.fits},
            {"capacity_bytes", fit.capacity_bytes},
            {"required_bytes", fit.footprint.total_bytes()},
            {"param_bytes", fit.footprint.param_bytes},
            {"activation_bytes", fit.footprint.activation_bytes},
            {"spill_bytes", fit.spill_bytes},
            {"first_unfit_kernel", fit.first_unfit_kernel},
            {"first_unfit_kernel_bytes", fit.first_unfit_kernel_bytes}}},
          {"per_layer", rows(per_layer)},
          {"per_kernel", rows(per_kernel)}};
}

}  // namespace dojo::accel

namespace dojo::accel {

double cross_block_allreduce_s(const MeshSpec& spec, const Partition& partition,
                               const std::vector<BlockReplicas>& blocks, double grad_bytes) {
  const auto n = partition.ranks();
  DOJO_CHECK(static_cast<std::int64_t>(blocks.size()) == n, InvalidArgument,
             "{} block results for {} partition blocks", blocks.size(), n);
  if (n < 2) return 0;
  const Topology topo(spec);
  std::int64_t min_replicas = blocks.front().replicas;
  GridDims shape = blocks.front().region;
  std::vector<UnitSet> layouts;
  for (std::int64_t r = 0; r < n; ++r) {
    const auto& b = blocks[static_cast<std::size_t>(r)];
    DOJO_CHECK(b.replicas >= 1, InvalidArgument, "rank {} simulated no replica", r);
    min_replicas = std::min(min_replicas, b.replicas);
    shape = {std::min(shape.x, b.region.x), std::min(shape.y, b.region.y)};
    layouts.push_back(tiled_replicas(partition.block(r), b.region, b.replicas));
  }
  // Ring over blocks: snake order, folded so that every step is at most two blocks long.
  const auto snake = partition.snake_order();
  std::vector<std::int64_t> ring;
  for (const auto position : ring_order(n, 1))
    ring.push_back(snake[static_cast<std::size_t>(position)]);
  std::vector<Flow> flows;
  for (std::int64_t j = 0; j < min_replicas; ++j) {
    for (std::size_t i = 0; i < ring.size(); ++i) {
      const Coord a =
          layouts[static_cast<std::size_t>(ring[i])].origins[static_cast<std::size_t>(j)];
      const Coord b = layouts[static_cast<std::size_t>(ring[(i + 1) % ring.size()])]
                          .origins[static_cast<std::size_t>(j)];
      for (std::int64_t oy = 0; oy < shape.y; ++oy)
        for (std::int64_t ox = 0; ox < shape.x; ++ox)
          flows.push_back({{a.x + ox, a.y + oy}, {b.x + ox, b.y + oy}});
    }
  }
  const auto profile = profile_flows(topo, flows);
  const double per_node =
      grad_bytes / static_cast<double>(min_replicas) / static_cast<double>(shape.count());
  // As in RingPhase: reduce-scatter steps also pay the sum (2 x chunk at SRAM bandwidth).
  const double chunk = per_node / static_cast<double>(n);
  const double transfer = profile.time_s(chunk);
  const double reduce = 2.0 * chunk / spec.node.sram_bytes_per_s;
  return static_cast<double>(n - 1) * (std::max(transfer, reduce) + transfer);
}

}  // namespace dojo::accel
