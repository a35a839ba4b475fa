#pragma once
// Projections of a training step onto a simulated mesh (`dojo sim`) and the quote of a job
// (`dojo serve`): what one step and the whole run would cost on this cluster's `host`
// preset and on the Dojo presets, before a single step runs.
//
// Words: a *block* is one rectangle of the mesh's partition (one per rank under mpirun);
// inside a block, *replicas* are data-parallel copies of the model, each on the smallest
// *region* that holds it. A projected step is the slowest block's step plus the gradient
// all-reduce between blocks (not overlapped: an upper bound). On a calibrated host
// (MeshSpec::host) the blocks are the ranks as the trainer runs them instead: each block's
// buckets are all-reduced among every block's replicas with comm's algorithm for their
// hosts (accel::host_allreduce_s), overlapping backward, and nothing is added after.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "accel/mesh_spec.hpp"
#include "accel/sim.hpp"
#include "comm/communicator.hpp"
#include "model/config.hpp"
#include "train/config.hpp"

namespace dojo::train {

struct StepProjectionOptions {
  std::int64_t batch_per_replica = 16;
  std::int64_t global_batch = 0;  // 0: as many replicas as fit
  std::string precision;          // "" = the model config's
  // Gradient all-reduce: on the mesh auto, ring, ring2d, hierarchical; on a calibrated host
  // comm's (auto, ring, recursive_doubling, mpi, gloo, shm, hierarchical).
  std::string algo = "auto";
  double bucket_mb = 0;  // 0: auto, as comm.bucket_mb
  std::string trace;  // Chrome trace of block 0's step ("" = none)
};

// What one block reports to the combination (trivially copyable: ranks all-gather it).
struct BlockResult {
  std::int64_t replicas, batch, region_w, region_h;
  double region_nodes, step_s, compute_s, comm_s, comm_total_s, flops, peak_flops_per_s;
};

struct StepProjection {
  accel::SimReport block0;  // block 0's full report (breakdowns, SRAM fit)
  std::string model;
  std::string precision;
  int blocks = 1;
  std::int64_t replicas = 0, global_batch = 0;
  double step_s = 0, compute_s = 0, comm_s = 0, comm_total_s = 0, cross_block_comm_s = 0;
  double clips_per_s = 0, utilization = 0, region_utilization = 0, nodes_used = 0;
  // block0.to_json() with the combined figures added (the `dojo sim --json` document).
  nlohmann::json to_json() const;
};

// Collective over `world`: rank r simulates block r of the mesh partitioned into
// world.size() blocks; rank 0 returns the combination, the other ranks std::nullopt.
std::optional<StepProjection> project_step(const accel::MeshSpec& spec,
                                           const model::ModelConfig& config,
                                           const StepProjectionOptions& options,
                                           comm::Communicator& world);
// The same projection in one process, simulating the `blocks` blocks one after another.
StepProjection project_step(const accel::MeshSpec& spec, const model::ModelConfig& config,
                            const StepProjectionOptions& options, int blocks);

// The quote of a training job: each target preset's projected step and total time for the
// job's model, global batch and step count. A preset that cannot be used (no
// configs/mesh/host.yaml, or no replica fits) is listed with available = false and why.
struct QuoteTarget {
  std::string preset;
  bool available = false;
  std::string reason;  // why not available
  int blocks = 1;      // partition blocks simulated (the job's ranks on `host`)
  std::int64_t replicas = 0, global_batch = 0;
  double step_s = 0, total_s = 0, clips_per_s = 0, utilization = 0;
};
struct JobQuote {
  std::string model;
  std::int64_t steps = 0;
  std::int64_t global_batch = 0;
  std::vector<QuoteTarget> targets;  // host, tile, exapod
  nlohmann::json to_json() const;
};
// `model` is the job's model config (resolved by the caller); `ranks` the job's ranks.
JobQuote quote_job(const TrainConfig& config, const model::ModelConfig& model, int ranks);

}  // namespace dojo::train
