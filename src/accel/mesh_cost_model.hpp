#pragma once
// MeshCostModel: the CostSink that charges a replica's kernels and its gradient
// collectives to the simulated mesh.
//
//   auto mesh = accel::make_rank_cost_model(spec, rank, ranks, {.footprint = fp});
//   device.set_sink(mesh.get());          // the model's Device reports every kernel
//   for (step ...) {
//     mesh->begin_step();
//     ... forward, backward (gradient buckets arrive as async collectives), then a
//     blocking zero-byte collective where the optimizer waits for them, optimizer ...
//     accel::SimStepResult r = mesh->end_step();
//   }
//   mesh->write_chrome_trace("trace.json");  // the last finished step
//
// Kernels are costed on the replica's region (kernel_cost.hpp). A collective over the
// data-parallel replicas is an all-reduce among the replicas' regions (collectives.hpp),
// the payload spread over each region's nodes, each reduce-scatter step also paying
// 2 x chunk / SRAM bandwidth for the sum (overlapped with the transfer); its time goes
// to the communication stream of the Timeline (timeline.hpp). A broadcast is charged as the all-gather half of the
// all-reduce. Not thread-safe: records arrive on the thread that issues the work.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "accel/collectives.hpp"
#include "accel/kernel_cost.hpp"
#include "accel/mesh_spec.hpp"
#include "accel/placement.hpp"
#include "accel/timeline.hpp"

namespace dojo::accel {

struct MeshCostOptions {
  CollectiveAlgo algo = CollectiveAlgo::kAuto;
  // On a calibrated host the gradient all-reduce is comm's algorithm, predicted from the
  // measured links (host_allreduce_s) for the replicas' layout (replica_host_layout);
  // `algo` is for mesh presets.
  HostAllreduce host_algo = HostAllreduce::kAuto;
  ReplicaFootprint footprint;  // what the replica keeps resident (SRAM fit, spill)
};

// Replica regions for the gradient all-reduce: `replicas` regions of `shape` tiling `area`
// from its corner on the squarest full grid that fits (else rows filled in snake order).
// Throws InvalidArgument if they do not fit.
UnitSet tiled_replicas(const Rect& area, GridDims shape, std::int64_t replicas);
// One region of shape `shape` at the corner of each rank's block (a ux x uy grid when the
// partition is one, else a line in the partition's snake order).
UnitSet partition_replicas(const Partition& partition, GridDims shape);
// On a calibrated cluster (host_spec) a host is a level-0 unit of the mesh (its cores):
// the hosts the replicas' regions start on and the most replicas on any of them. On a
// one-level mesh every replica is on the one host.
HostLayout replica_host_layout(const Topology& topo, const UnitSet& replicas);

class MeshCostModel final : public CostSink {
 public:
  // A replica in `region`, `replicas` of them tiled from the region's corner to the far
  // corner of the mesh (tiled_replicas).
  MeshCostModel(MeshSpec spec, const Rect& region, std::int64_t replicas,
                MeshCostOptions options = {});
  // Explicit replica regions; this replica is units.origins[self].
  MeshCostModel(MeshSpec spec, UnitSet replicas, std::size_t self, MeshCostOptions options = {});
  ~MeshCostModel() override;

  void begin_step();
  SimStepResult end_step();
  void on_kernel(const KernelRecord& record) override;
  void on_collective(const CollectiveRecord& record) override;

  const MeshSpec& spec() const { return spec_; }
  const Rect& region() const { return fit_.region; }
  std::int64_t replicas() const { return replicas_.count(); }
  const SramFit& sram_fit() const { return fit_; }
  const HostLayout& host_layout() const { return layout_; }
  // The last finished step (or the current one before the first end_step).
  const Timeline& last_step() const { return last_; }
  const SimStepResult& last_result() const { return last_result_; }
  // Seconds for an all-reduce of `bytes` per replica among all replicas.
  double allreduce_s(double bytes);
  const CollectivePlan& collective_plan();
  // Chrome trace of the last finished step; throws IoError if the file cannot be written.
  void write_chrome_trace(const std::string& path) const;
  nlohmann::json chrome_trace() const;
  // Fit report and step summary as JSON (for `dojo sim --json` and metrics).
  nlohmann::json report_json() const;

 private:
  MeshSpec spec_;
  std::unique_ptr<Topology> topo_;
  MeshCostOptions options_;
  UnitSet replicas_;
  HostLayout layout_;
  SramFit fit_;
  std::unique_ptr<KernelCostModel> kernels_;
  std::optional<CollectivePlan> plan_;
  Timeline current_, last_;
  SimStepResult last_result_;
};

// One rank's cost model when `ranks` data-parallel ranks each own a block of the mesh
// (Partition): the replica gets the region placement.hpp chooses for
// `options.footprint` inside the smallest block (the same shape at every block's
// corner), and gradient collectives run among all ranks' regions. This is what the
// trainer attaches to its Device. Throws InvalidArgument if rank is out of range or the
// mesh has fewer nodes than ranks.
std::unique_ptr<MeshCostModel> make_rank_cost_model(const MeshSpec& spec, int rank, int ranks,
                                                    MeshCostOptions options = {});

}  // namespace dojo::accel
