#pragma once
// Projects one data-parallel training step of a model onto a mesh area (`dojo sim`).
//
// 1. The step's kernels (forward, backward, optimizer) are profiled once per per-replica
//    batch into a RecordingSink (the model's dry-run profile, supplied by the caller).
// 2. A replica gets the smallest region that holds its footprint (placement.hpp); as many
//    replicas as fit tile the area, or as many as the requested global batch needs (the
//    per-replica batch grows when even a full area of replicas is too few).
// 3. The recorded kernels are replayed into a MeshCostModel. The gradient buckets are
//    GradSync's (core/buckets.hpp); a layer is ready after the last backward kernel that
//    names it, and a bucket becomes an async all-reduce among the replicas once all its
//    layers are, in bucket order (as GradSync issues them), overlapping the rest of
//    backward; before the first optimizer kernel the step waits for all of them.
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "accel/mesh_cost_model.hpp"
#include "accel/recording_sink.hpp"
#include "core/buckets.hpp"

namespace dojo::accel {

struct SimOptions {
  std::int64_t batch_per_replica = 16;
  std::int64_t global_batch = 0;  // 0: as many replicas as fit, each with batch_per_replica
  Precision precision = Precision::kFp32;
  CollectiveAlgo algo = CollectiveAlgo::kAuto;
  HostAllreduce host_algo = HostAllreduce::kAuto;  // on a calibrated host
  double bucket_bytes = static_cast<double>(kDefaultBucketBytes);
  // Ranks on a calibrated host (MeshSpec::host): every rank's block of the mesh and this
  // one's index. The gradient buckets are then all-reduced among the replicas of all the
  // blocks (each block holding as many as this one, tiled from its corner), overlapping
  // backward as the trainer's GradSync does. Empty: among the replicas of `area` only.
  std::vector<Rect> blocks;
  std::size_t block = 0;
};

// What the model tells the simulator (the CLI fills these from src/model).
struct SimModel {
  std::string name;
  // Records one training step of `batch` clips into `sink`.
  std::function<void(std::int64_t batch, Precision precision, CostSink& sink)> profile;
  // Resident bytes of one replica at `batch` clips.
  std::function<ReplicaFootprint(std::int64_t batch)> footprint;
  // Gradient bytes per layer, forward order (layer names as in KernelRecord::layer).
  std::vector<std::pair<std::string, double>> layer_grad_bytes;
};

struct SimReport {
  std::string preset;
  Rect area;
  std::int64_t replicas = 0;
  std::int64_t batch_per_replica = 0;
  std::int64_t global_batch = 0;
  SimStepResult step;
  double clips_per_s = 0;
  SramFit fit;
  std::vector<BreakdownRow> per_layer, per_kernel;
  nlohmann::json to_json() const;
};

// Simulates on `area` of the spec's mesh. If `trace_path` is not empty the step's Chrome
// trace is written there. Throws InvalidArgument when no replica fits the area.
SimReport simulate_training_step(const MeshSpec& spec, const Rect& area, const SimModel& model,
                                 const SimOptions& options, const std::string& trace_path = "");

// Replays recorded kernels into `mesh`, inserting gradient-bucket all-reduces as above.
void replay_step(const RecordingSink& step, const SimModel& model, double bucket_bytes,
                 std::int64_t replicas, MeshCostModel& mesh);

// Footprint estimate from a profiled step when the model cannot say: parameters,
// gradients and two AdamW moments from `param_bytes`; activations as the outputs of every
// forward kernel (GEMM: m n batch elements; others: half their bytes), all kept for
// backward. An upper bound: buffers the model reuses are counted again.
ReplicaFootprint estimate_footprint(const RecordingSink& step, double param_bytes);

}  // namespace dojo::accel

namespace dojo::accel {

// Under N ranks each rank simulates its own partition block (its replicas and their
// all-reduce inside the block); the gradient must then also be all-reduced between blocks.
// This is that stage: for every replica index j, a ring over the blocks (in the
// partition's snake order, folded) of each block's j-th replica region, all j at once,
// each carrying the 1/R share a replica holds after its block's reduce-scatter (R: the
// fewest replicas any block has). Returns its time in seconds (0 for one block).
struct BlockReplicas {
  std::int64_t replicas = 0;
  GridDims region;
};
double cross_block_allreduce_s(const MeshSpec& spec, const Partition& partition,
                               const std::vector<BlockReplicas>& blocks, double grad_bytes);

}  // namespace dojo::accel
