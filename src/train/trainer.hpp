#pragma once
// `dojo train`: data-parallel training of the masked video autoencoder.
//
// Every rank holds a full replica. At start the parameters are broadcast from rank 0
// (after rank 0 restores a checkpoint, if resuming). Every step each rank takes its slice
// of the global batch from the Loader (DistributedSampler semantics), runs forward and
// backward over its micro-batches (gradient accumulation), and on the last micro-batch
// hands each layer's gradients to GradSync as backward finishes them, so the bucketed
// all-reduce overlaps the rest of backward. Then: the gradient is averaged over
// ranks and micro-batches, clipped, and AdamW takes a warmup + cosine step. Each clip's
// tube mask depends only on (seed, step, its slot in the global batch), so the same
// global batch gives the same update on 1 or N ranks (within float summation order).
//
// The step's kernels and gradient collectives are charged to this rank's partition of
// the simulated mesh (accel::MeshCostModel); metrics record the simulated step time next
// to the real one.
//
// Rank 0 writes the run directory: config.yaml, metrics.jsonl, checkpoints/ (+ latest),
// loss.png, samples/step-NNNNNN.png, trace.json, eval.json.
#include <cstdint>
#include <string>
#include <vector>

#include "comm/communicator.hpp"
#include "train/config.hpp"
#include "train/eval.hpp"
#include "train/eval_run.hpp"

namespace dojo::train {

struct TrainOptions {
  std::string config_path;
  std::vector<std::string> overrides;
  std::string run_dir;  // default: runs/<config file stem>
  std::string resume;   // "" (fresh start), "auto" (newest valid checkpoint, if any), a path
  bool debug = false;   // one thread, gradient check at step 0, per-layer norms
  // Stop after this many steps of this invocation (checkpoint written), as a time-sliced
  // job or a planned interruption would; 0 = run to train.steps.
  std::int64_t stop_after = 0;
  // Start from this checkpoint's weights only (fine-tuning): fresh optimizer, schedule and
  // loader, any data set of the model's clip shape. A checkpoint to resume wins over it.
  std::string init_from;
  // Config keys that may differ from the checkpoint's on --resume (else an error).
  std::vector<std::string> allow_config_change;
};

struct TrainSummary {
  std::string run_dir;
  std::int64_t first_step = 0;  // 0, or the step a resume continued from
  std::int64_t steps_done = 0;  // steps completed in total (including resumed ones)
  double final_loss = 0;
  bool stopped_by_signal = false;
  std::string last_checkpoint;
  bool has_eval = false;
  EvalResult eval;
};

// Collective over `world`: every rank calls it with the same options.
TrainSummary train(const TrainOptions& options, comm::Communicator& world);

// SIGTERM / SIGUSR1 / SIGINT set a flag; the trainer finishes its step, writes a
// checkpoint and returns (all ranks agree on the step). Called once by the CLI.
void install_stop_signals();

}  // namespace dojo::train
