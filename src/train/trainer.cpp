#include "train/trainer.hpp"

#include <unistd.h>
#include <xxhash.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "accel/host_device.hpp"
#include "comm/allreduce.hpp"
#include "comm/gloo_communicator.hpp"
#include "comm/grad_sync.hpp"
#include "comm/mpi_communicator.hpp"
#include "core/error.hpp"
#include "core/exit_codes.hpp"
#include "core/log.hpp"
#include "data/loader.hpp"
#include "model/optim.hpp"
#include "model/videomae.hpp"
#include "train/checkpoint.hpp"
#include "train/eval_run.hpp"
#include "train/masks.hpp"
#include "train/mesh_link.hpp"
#include "train/report.hpp"
#include "train/resume.hpp"
#include "train/run_folder.hpp"

namespace dojo::train {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string default_run_dir(const std::string& config_path) {
  const std::string stem = config_path.empty() ? "default" : fs::path(config_path).stem().string();
  return (fs::path("runs") / stem).string();
}

// ---- the plan: what every rank decides from the config alone -------------------------

struct RunPlan {
  TrainConfig cfg;
  model::ModelConfig mc;
  std::string run_dir, hash;
  int rank = 0, ranks = 1;
  std::int64_t rank_batch = 0;  // clips per rank per step
  std::int64_t micro = 0;       // clips per forward/backward
  std::int64_t accum = 0;       // micro-batches per step
  int threads = 1;
};

// The data the config names exists, checked before the run folder is made, so a typo
// leaves no folder behind and the error names the config key.
void check_data_paths(const TrainConfig& cfg) {
  auto must_exist = [](const char* key, const std::string& path, const char* what) {
    std::error_code ec;
    const bool exists = fs::exists(path, ec);
    DOJO_CHECK(!ec, IoError, "config key '{}': cannot look at {}: {}", key, path, ec.message());
    DOJO_CHECK(exists, InvalidArgument, "config key '{}': {} does not exist ({})", key, path,
               what);
  };
  if (cfg.data.videos.empty()) {
    DOJO_CHECK(!cfg.data.shards.empty(), InvalidArgument,
               "config: set data.shards (a folder made by dojo ingest) or data.videos "
               "(streaming from video files)");
    must_exist("data.shards", cfg.data.shards, "a folder made by dojo ingest, or a shard file");
  }
  for (const auto& video : cfg.data.videos) must_exist("data.videos", video, "a video file");
  if (!cfg.data.eval_shards.empty()) {
    must_exist("data.eval_shards", cfg.data.eval_shards,
               "held-out shards: a folder made by dojo ingest, or a shard file");
  }
}

RunPlan plan_run(const TrainOptions& options, comm::Communicator& world) {
  RunPlan p;
  p.cfg = load_train_config(options.config_path, options.overrides);
  const TrainConfig& cfg = p.cfg;
  p.rank = world.rank();
  p.ranks = world.size();
  world.set_timeout(comm::Millis(std::max<std::int64_t>(
      1, static_cast<std::int64_t>(cfg.comm.timeout_s * 1000))));
  p.run_dir = options.run_dir.empty() ? default_run_dir(options.config_path) : options.run_dir;
  p.hash = config_hash(cfg);
  check_data_paths(cfg);
  p.mc = model::load_model_config(cfg.model);
  p.mc.precision = accel::parse_precision(cfg.precision);
  DOJO_CHECK(cfg.train.global_batch % p.ranks == 0, InvalidArgument,
             "config key 'train.global_batch': {} clips do not split evenly over {} ranks",
             cfg.train.global_batch, p.ranks);
  p.rank_batch = cfg.train.global_batch / p.ranks;
  p.micro = cfg.train.micro_batch > 0 ? cfg.train.micro_batch : p.rank_batch;
  DOJO_CHECK(p.rank_batch % p.micro == 0, InvalidArgument,
             "config key 'train.micro_batch': {} does not divide the per-rank batch {} "
             "(train.global_batch {} over {} ranks)",
             p.micro, p.rank_batch, cfg.train.global_batch, p.ranks);
  p.accum = p.rank_batch / p.micro;
  p.threads = options.debug ? 1 : cfg.train.threads;
  // Activations grow with the micro-batch: refuse what cannot fit before allocating it.
  const double act_bytes = model::estimate_activation_bytes(p.mc, p.micro);
  const double ram_bytes = static_cast<double>(::sysconf(_SC_PHYS_PAGES)) *
                           static_cast<double>(::sysconf(_SC_PAGE_SIZE));
  DOJO_CHECK(act_bytes < ram_bytes, InvalidArgument,
             "config key '{}': {} clips per forward pass of model '{}' need about {:.1f} GiB of "
             "activations, this machine has {:.1f} GiB; lower it (or set train.micro_batch)",
             cfg.train.micro_batch > 0 ? "train.micro_batch" : "train.global_batch", p.micro,
             p.mc.name, act_bytes / double(1 << 30), ram_bytes / double(1 << 30));
  return p;
}

// ---- rank 0's run folder -------------------------------------------------------------

// Rank 0 locks and checks the run folder before anything long starts; the other ranks
// learn whether it worked, and if not they fail with rank 0's error (its type and text),
// so the job ends as one error printed once, not as an abort.
std::unique_ptr<RunFolder> open_run_folder(const RunPlan& p, const TrainOptions& options,
                                           comm::Communicator& world) {
  std::unique_ptr<RunFolder> folder;
  int code = kExitOk;
  std::string message;
  if (p.rank == 0) {
    try {
      folder = std::make_unique<RunFolder>(p.run_dir);
      if (options.resume.empty()) folder->refuse_fresh_start_over_checkpoints();
    } catch (const std::exception& e) {
      code = exit_code_for(e);
      message = e.what();
    } catch (...) {
      code = kExitInternal;
      message = fmt::format("rank 0: opening run folder {} failed with an unknown exception",
                            p.run_dir);
    }
  }
  comm::broadcast_span(world, std::span(&code, 1), 0);
  if (code == kExitOk) return folder;
  throw_for_exit_code(code, comm::broadcast_string(world, message));
}

// Every rank's view of what must agree; a mismatch shows both sides, and for different
// configs the first setting that differs.
void check_ranks_agree(comm::Communicator& world, const std::string& mine,
                       const std::string& config_yaml) {
  const auto all =
      comm::all_gather_bytes(world, std::as_bytes(std::span(mine.data(), mine.size())));
  const auto configs = comm::all_gather_bytes(
      world, std::as_bytes(std::span(config_yaml.data(), config_yaml.size())));
  auto text = [](const std::vector<std::byte>& bytes) {
    return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  };
  const std::string root = text(all[0]);
  for (int r = 1; r < world.size(); ++r) {
    const std::string theirs = text(all[r]);
    const auto changes = config_changes(text(configs[0]), text(configs[r]));
    const std::string config_diff =
        changes.empty() ? std::string()
                        : fmt::format("{}: {} on rank 0, {} on rank {}", changes[0].key,
                                      changes[0].from, changes[0].to, r);
    DOJO_CHECK(
        theirs == root, CommError,
        "ranks disagree at start:\n  rank 0: {}\n  rank {}: {}\n{}(same config, data and "
        "dojo build on every rank?)",
        root, r, theirs,
        config_diff.empty() ? "" : fmt::format("  first config difference: {}\n", config_diff));
  }
}

// The training data's fingerprint for the start-up agreement check: xxh64 over its first,
// middle and last clip, so ranks that read different data of the same size (node-local
// copies that differ) disagree at start instead of training on different data.
std::uint64_t data_fingerprint(const data::Loader& loader) {
  const std::int64_t n = loader.total_clips();
  std::uint64_t hash = 0;
  if (n == 0) return hash;
  for (const std::int64_t i : {std::int64_t{0}, n / 2, n - 1}) {
    const auto clip = loader.read_clip(i);
    hash = XXH64(clip.data(), clip.size(), hash);
  }
  return hash;
}

data::LoaderOptions loader_options(const TrainConfig& cfg, const model::ModelConfig& mc,
                                   std::int64_t batch, int rank, int world) {
  data::LoaderOptions o;
  if (!cfg.data.videos.empty()) {
    o.streaming = true;
    o.videos = cfg.data.videos;
    o.shape = {mc.frames, mc.height, mc.width, mc.channels, 1};
  } else {
    o.source = cfg.data.shards;  // checked by check_data_paths
  }
  o.batch = batch;
  o.rank = rank;
  o.world_size = world;
  o.seed = cfg.train.seed;
  o.augment = cfg.data.augment;
  o.workers = cfg.data.workers;
  o.prefetch = cfg.data.prefetch;
  o.drop_last = true;
  return o;
}

// Debug mode: central finite differences of a few parameters against backward's gradient.
void check_gradients(model::VideoMAE& model, std::span<const float> clips,
                     const model::TubeMask& mask) {
  model.zero_grads();
  model.forward_backward(clips, mask);
  auto params = model.params();
  auto grads = model.grads();
  const auto& tensors = model.tensors();
  int checked = 0, bad = 0;
  for (std::size_t t = 0; t < tensors.size() && checked < 8;
       t += std::max<std::size_t>(1, tensors.size() / 8)) {
    const std::size_t i = tensors[t].offset + tensors[t].size / 2;
    const float original = params[i];
    const float eps = 1e-2f * std::max(1.0f, std::abs(original));
    params[i] = original + eps;
    const double plus = model.forward_loss(clips, mask);
    params[i] = original - eps;
    const double minus = model.forward_loss(clips, mask);
    params[i] = original;
    const double numeric = (plus - minus) / (2.0 * eps);
    const double analytic = grads[i];
    const double rel =
        std::abs(numeric - analytic) / std::max(1e-4, std::abs(numeric) + std::abs(analytic));
    ++checked;
    if (rel > 0.1) ++bad;
    log::info(
        "debug: grad check {}[{}]: backward {:.6g}, finite difference {:.6g}, rel. error {:.2g}{}",
        tensors[t].name, tensors[t].size / 2, analytic, numeric, rel,
        rel > 0.1 ? "  <-- MISMATCH" : "");
  }
  log::info("debug: gradient check: {}/{} parameters agree within 10% (float32, eps 1e-2)",
            checked - bad, checked);
  model.zero_grads();
}

void log_layer_norms(model::VideoMAE& model) {
  for (const auto& [name, norm] : model.activation_norms()) {
    log::info("debug: activations of {:<20} |output| {:.4g}", name, norm);
  }
  const auto ranges = model.layer_grad_ranges();
  const auto& names = model.layer_names();
  auto params = model.params();
  auto grads = model.grads();
  for (std::size_t l = 0; l < ranges.size(); ++l) {
    double g = 0, p = 0;
    for (std::size_t i = ranges[l].first; i < ranges[l].second; ++i) {
      g += static_cast<double>(grads[i]) * grads[i];
      p += static_cast<double>(params[i]) * params[i];
    }
    log::info("debug: layer {:<24} |param| {:.4g}  |grad| {:.4g}", names[l], std::sqrt(p),
              std::sqrt(g));
  }
}


// ---- the replica: this rank's device, model, optimizer and data ------------------------

struct Replica {
  accel::HostDevice device;
  model::VideoMAE model;
  model::AdamW adamw;
  data::Loader loader;

  explicit Replica(const RunPlan& p)
      : device({.threads = p.threads, .dry_run = false, .precision = p.mc.precision}),
        model(p.mc, device, p.micro),
        adamw(model, {.beta1 = static_cast<float>(p.cfg.train.beta1),
                      .beta2 = static_cast<float>(p.cfg.train.beta2),
                      .eps = 1e-8f,
                      .weight_decay = static_cast<float>(p.cfg.train.weight_decay)}),
        loader(loader_options(p.cfg, p.mc, p.rank_batch, p.rank, p.ranks)) {
    model.init(p.cfg.train.seed);
    check_clip_shape(loader.shape(), p.mc,
                p.cfg.data.videos.empty() ? p.cfg.data.shards : "data.videos");
  }
};

void agree_at_start(const RunPlan& p, Replica& r, comm::Communicator& world) {
  // Streaming reads are sequential; a random clip would decode a whole video: shards only.
  const std::string fingerprint = p.cfg.data.videos.empty()
                                      ? fmt::format("{:016x}", data_fingerprint(r.loader))
                                      : std::string("none: streaming");
  const auto& s = r.loader.shape();
  check_ranks_agree(
      world,
      fmt::format("config hash {}, model '{}' with {} parameters, data {} clips of {}x{}x{}x{} "
                  "(fingerprint {})",
                  p.hash, p.mc.name, r.model.params().size(), r.loader.total_clips(), s.frames,
                  s.height, s.width, s.channels, fingerprint),
      to_yaml(p.cfg));
}

// ---- restore or broadcast: where the run starts ------------------------------------------

// Rank 0 decides: a checkpoint to resume (--resume), else weights to start from
// (--init-from), else the fresh init. Every rank then receives the parameters (as DDP
// does), and when resuming also the moments, the step and the loader cursor.
std::int64_t restore_or_broadcast(const RunPlan& p, const TrainOptions& options, Replica& r,
                                  comm::Communicator& world) {
  std::int64_t state[4] = {0, 0, 0, 0};  // step, adam steps, loader epoch, loader position
  if (p.rank == 0) {
    std::optional<Checkpoint> ckpt;
    if (options.resume == "auto") {
      ckpt = load_latest_checkpoint(p.run_dir);
      // Damaged checkpoints are not an empty folder: starting fresh would train over that
      // run's metrics and replace its `latest`.
      const auto files = checkpoint_step_files((fs::path(p.run_dir) / "checkpoints").string());
      DOJO_CHECK(ckpt || files.empty(), FormatError,
                 "resume auto: every checkpoint in {} is damaged ({} files, the newest {}; see "
                 "the warnings above); refusing to start a fresh run over them: move them away "
                 "to start over, or pass --resume FILE",
                 p.run_dir, files.size(), files.front());
      if (!ckpt) log::info("resume auto: no checkpoint in {} yet, starting fresh", p.run_dir);
    } else if (!options.resume.empty()) {
      ckpt = find_checkpoint(options.resume);
    }
    if (ckpt) {
      check_checkpoint_fits(*ckpt, r.model, p.cfg);
      check_config_unchanged(ckpt->meta.config_yaml, to_yaml(p.cfg), ckpt->path,
                             options.allow_config_change);
      std::copy(ckpt->params.begin(), ckpt->params.end(), r.model.params().begin());
      std::copy(ckpt->adam_m.begin(), ckpt->adam_m.end(), r.model.adam_m().begin());
      std::copy(ckpt->adam_v.begin(), ckpt->adam_v.end(), r.model.adam_v().begin());
      state[0] = ckpt->meta.step;
      state[1] = ckpt->meta.adam_steps;
      state[2] = ckpt->meta.loader_epoch;
      state[3] = ckpt->meta.loader_position;
      if (!same_data(ckpt->meta.config_yaml, to_yaml(p.cfg))) {
        log::info("resuming on other data (allowed): the loader starts epoch {} from its beginning",
                  state[2]);
        state[3] = 0;
      }
      log::info("resuming from {} (step {})", ckpt->path, ckpt->meta.step);
    } else if (!options.init_from.empty()) {
      const Checkpoint init = find_checkpoint(options.init_from);
      check_weights_fit(init, r.model, WeightsUse::kInitFrom);
      std::copy(init.params.begin(), init.params.end(), r.model.params().begin());
      log::info("starting from the weights of {} (step {}); fresh optimizer, schedule and data",
                init.path, init.meta.step);
    }
  }
  comm::broadcast_span(world, std::span<std::int64_t>(state), 0);
  comm::broadcast_span(world, r.model.params(), 0);
  const std::int64_t start_step = state[0];
  if (start_step > 0) {
    comm::broadcast_span(world, r.model.adam_m(), 0);
    comm::broadcast_span(world, r.model.adam_v(), 0);
    r.adamw.set_steps(state[1]);
    r.loader.restore({state[2], state[3]});
  }
  return start_step;
}

// ---- the gradient connection -------------------------------------------------------------

struct Connection {
  std::unique_ptr<comm::GlooCommunicator> gloo;
  std::unique_ptr<comm::GradSync> sync;
  std::unique_ptr<comm::Allreducer> stats;  // the per-step loss and stop flag

  Connection(const RunPlan& p, Replica& r, comm::Communicator& world) {
    comm::Communicator* grad_comm = &world;
    if (p.cfg.comm.backend == "gloo" && p.ranks > 1 && world.backend() != "gloo") {
      auto* mpi = dynamic_cast<comm::MpiCommunicator*>(&world);
      DOJO_CHECK(mpi != nullptr, InvalidArgument,
                 "config key 'comm.backend': gloo needs an MPI launch (mpirun/srun) or a "
                 "torchrun-style one to bootstrap");
      gloo = std::make_unique<comm::GlooCommunicator>(*mpi, world.timeout());
      grad_comm = gloo.get();
    }
    sync = std::make_unique<comm::GradSync>(
        *grad_comm, r.model.grads(), r.model.layer_grad_ranges(),
        comm::GradSyncOptions{
            .bucket_bytes = bucket_bytes_for(p.cfg.comm.bucket_mb, r.model.grads().size_bytes()),
            .algorithm = comm::parse_algorithm(p.cfg.comm.algorithm),
            .op = comm::ReduceOp::kSum});
    stats = std::make_unique<comm::Allreducer>(world, comm::Algorithm::kAuto);
  }
};

// ---- rank 0's outputs ----------------------------------------------------------------------

struct Outputs {
  std::unique_ptr<RunFolder> folder;
  std::unique_ptr<MetricsLog> metrics;
  std::unique_ptr<Progress> progress;
  EvalSet eval;  // held-out clips (empty without data.eval_shards)
};

void record_eval(const RunPlan& p, Replica& r, MeshLink& mesh, Outputs& out, std::int64_t step,
                 TrainSummary& summary) {
  if (p.rank != 0 || out.eval.count == 0) return;
  std::vector<Reconstruction> recon;
  // Evaluation is not part of a training step: keep it off the simulated mesh.
  r.device.set_sink(nullptr);
  summary.eval = evaluate(r.model, out.eval, p.cfg.train.seed, &recon, p.cfg.eval.samples);
  summary.has_eval = true;
  r.device.set_sink(&mesh.sink());
  out.metrics->write(eval_metrics_row(summary.eval, step));
  write_reconstructions((fs::path(p.run_dir) / "samples").string(), fmt::format("step-{:06d}", step),
                        out.eval, recon, p.mc);
}

// ---- one step --------------------------------------------------------------------------

struct StepResult {
  double loss = 0;
  float grad_norm = 0, lr = 0;
  bool stop = false;          // every rank agreed to stop after this step
  double step_s = 0, data_wait_s = 0, comm_s = 0, sim_step_s = 0;
  std::int64_t epoch = 0;
};

// Forward and backward over the micro-batches (the last one hands each layer's gradients
// to GradSync as backward finishes them), the mean gradient of the global batch, the
// agreed loss and stop flag, clipping and the AdamW step.
StepResult train_step(const RunPlan& p, const TrainOptions& options, Replica& r,
                      Connection& conn, MeshLink& mesh, std::int64_t step, std::int64_t start_step) {
  const auto& cfg = p.cfg;
  const auto& mc = p.mc;
  StepResult out;
  const auto step_start = Clock::now();
  data::Batch batch = r.loader.next();
  out.data_wait_s = seconds_since(step_start);
  DOJO_ASSERT(batch.size() == p.rank_batch, "loader gave {} clips, expected {}", batch.size(),
              p.rank_batch);
  const std::size_t clip_elems = static_cast<std::size_t>(mc.clip_elems());
  std::vector<std::uint64_t> seeds(static_cast<std::size_t>(p.micro));
  // A clip's slot in the global batch: rank r's local clip q is global slot q*ranks + r.
  auto masks_of = [&](std::int64_t m) {
    for (std::int64_t j = 0; j < p.micro; ++j) {
      const std::int64_t slot = (m * p.micro + j) * p.ranks + p.rank;
      seeds[static_cast<std::size_t>(j)] = mix_seed(cfg.train.seed, static_cast<std::uint64_t>(step),
                                                    static_cast<std::uint64_t>(slot));
    }
    return masks_for(mc, seeds);
  };
  auto clips_of = [&](std::int64_t m) {
    return std::span<const float>(batch.pixels.data() + m * p.micro * clip_elems,
                                  p.micro * clip_elems);
  };
  if (options.debug && step == start_step) {
    r.device.set_sink(nullptr);
    check_gradients(r.model, clips_of(0), masks_of(0));
    r.device.set_sink(&mesh.sink());
  }

  r.model.zero_grads();
  mesh.begin_step();
  conn.sync->start_step();
  double loss_sum = 0;
  for (std::int64_t m = 0; m < p.accum; ++m) {
    const bool last = m + 1 == p.accum;
    loss_sum += r.model.forward_backward(clips_of(m), masks_of(m), [&](std::size_t layer) {
      if (!last) return;
      if (auto bucket = conn.sync->mark_layer_ready(layer)) {
        mesh.gradient_bucket_ready(conn.sync->buckets()[*bucket].count * sizeof(float));
      }
    });
  }
  mesh.gradients_needed();
  conn.sync->wait();
  const auto stats_start = Clock::now();
  // Sum over ranks and micro-batches -> mean gradient of the global batch.
  const float scale = 1.0f / static_cast<float>(p.ranks * p.accum);
  for (float& g : r.model.grads()) g *= scale;
  const bool planned_stop = options.stop_after > 0 && step + 1 - start_step >= options.stop_after;
  float stats[2] = {static_cast<float>(loss_sum / p.accum),
                    g_stop_signal != 0 || planned_stop ? 1.0f : 0.0f};
  conn.stats->run(stats, comm::ReduceOp::kSum);
  out.comm_s = conn.sync->wait_seconds() + seconds_since(stats_start);
  out.loss = stats[0] / p.ranks;
  out.stop = stats[1] > 0;

  if (options.debug && step == start_step) log_layer_norms(r.model);
  out.grad_norm = model::clip_grad_norm(r.model.grads(), static_cast<float>(cfg.train.grad_clip));
  out.lr = model::lr_at(step, cfg.train.warmup_steps, cfg.train.steps,
                        static_cast<float>(cfg.train.lr), static_cast<float>(cfg.train.min_lr));
  r.adamw.step(out.lr);
  out.sim_step_s = mesh.end_step();
  out.step_s = seconds_since(step_start);
  out.epoch = batch.epoch;
  r.loader.recycle(std::move(batch));
  DOJO_CHECK(std::isfinite(out.loss), Error, "step {}: the loss is {} (diverged); lower train.lr",
             step + 1, out.loss);
  return out;
}

void log_step(const RunPlan& p, Outputs& out, Connection& conn, std::int64_t step,
              const StepResult& s) {
  if (p.rank != 0) return;
  const double clips_per_s = static_cast<double>(p.cfg.train.global_batch) / s.step_s;
  if ((step + 1) % p.cfg.train.log_every == 0 || step + 1 == p.cfg.train.steps || s.stop) {
    out.metrics->write({{"step", step + 1},
                        {"loss", s.loss},
                        {"lr", s.lr},
                        {"grad_norm", s.grad_norm},
                        {"clips_per_s", clips_per_s},
                        {"step_s", s.step_s},
                        {"data_wait_s", s.data_wait_s},
                        {"comm_s", s.comm_s},
                        {"comm_total_s", conn.sync->comm_seconds()},
                        {"sim_step_s", s.sim_step_s},
                        {"epoch", s.epoch}});
  }
  out.progress->update(step + 1, s.loss, clips_per_s, s.data_wait_s / s.step_s);
}

void checkpoint(const RunPlan& p, Replica& r, std::int64_t steps_done, TrainSummary& summary) {
  if (p.rank != 0) return;
  const auto cursor = r.loader.cursor();
  CheckpointMeta meta{steps_done,      r.adamw.steps(), p.cfg.train.seed, cursor.epoch,
                      cursor.position, p.hash,          p.mc.name,        to_yaml(p.cfg)};
  summary.last_checkpoint = save_checkpoint(p.run_dir, meta, p.mc, r.model.params(), r.model.adam_m(),
                                            r.model.adam_v(), p.cfg.train.keep_checkpoints);
}

// ---- the end of the run: plots, final eval, trace --------------------------------------

void finish(const RunPlan& p, Replica& r, MeshLink& mesh, Outputs& out, std::int64_t start_step,
            TrainSummary& summary) {
  if (p.rank != 0) return;
  out.progress->finish();
  // The final eval, once: a resumed run with no steps left has it already (unless the run
  // that finished ended before writing it).
  if (summary.steps_done == p.cfg.train.steps &&
      (summary.steps_done > start_step || !fs::exists(fs::path(p.run_dir) / "eval.json"))) {
    record_eval(p, r, mesh, out, summary.steps_done, summary);
  }
  // A resumed run with no steps left (a chained job after the last one) keeps the trace.
  if (summary.steps_done > start_step) {
    mesh.write_trace((fs::path(p.run_dir) / "trace.json").string());
  }
  // loss.png from the whole metrics history (a resumed run includes its earlier part, not
  // the steps after the checkpoint it resumed from).
  std::vector<CurvePoint> train_curve, eval_curve;
  for (const auto& j : read_metrics((fs::path(p.run_dir) / "metrics.jsonl").string())) {
    if (!j.contains("step")) continue;
    if (j.contains("loss"))
      train_curve.push_back({j["step"].get<double>(), j["loss"].get<double>()});
    if (j.contains("eval_loss"))
      eval_curve.push_back({j["step"].get<double>(), j["eval_loss"].get<double>()});
  }
  plot_loss((fs::path(p.run_dir) / "loss.png").string(), train_curve, eval_curve);
  if (summary.has_eval) {
    out.folder->write("eval.json", eval_json(summary.eval, summary.steps_done).dump(2) + "\n");
  }
}

}  // namespace

void install_stop_signals() {
  auto handler = [](int sig) { g_stop_signal = sig; };
  std::signal(SIGTERM, handler);
  std::signal(SIGUSR1, handler);
  std::signal(SIGINT, handler);
}

TrainSummary train(const TrainOptions& options, comm::Communicator& world) {
  const RunPlan p = plan_run(options, world);
  Outputs out;
  out.folder = open_run_folder(p, options, world);
  Replica r(p);
  // On failure the other ranks, already in agree_at_start, end by main's MPI_Abort.
  if (out.folder) out.folder->check_room_for_checkpoint(r.model.params().size());
  agree_at_start(p, r, world);
  const std::int64_t start_step = restore_or_broadcast(p, options, r, world);
  // Only now, when the checkpoint (if any) fits this config: a refused resume leaves the
  // run's files as they were.
  if (out.folder) {
    out.folder->write("config.yaml", to_yaml(p.cfg));
    out.folder->write("model.yaml", model::to_yaml(p.mc));
  }
  Connection conn(p, r, world);
  MeshLink mesh(p.cfg.mesh.preset, r.model, p.rank, p.ranks);
  r.device.set_sink(&mesh.sink());

  TrainSummary summary;
  summary.run_dir = p.run_dir;
  summary.first_step = start_step;
  summary.steps_done = start_step;
  if (p.rank == 0) {
    out.metrics = std::make_unique<MetricsLog>((fs::path(p.run_dir) / "metrics.jsonl").string(),
                                               start_step > 0);
    if (start_step > 0 && start_step < p.cfg.train.steps) {
      out.metrics->write(resume_row(start_step));
    }
    out.progress = std::make_unique<Progress>(start_step, p.cfg.train.steps);
    if (!p.cfg.data.eval_shards.empty()) {
      out.eval = load_eval_set(p.cfg.data.eval_shards, p.cfg.eval.clips, p.mc);
    }
    log::info(
        "training '{}' ({} parameters) on {} rank(s): global batch {} = {} rank(s) x {} "
        "micro-batch(es) of {} clips; {} steps; {} clips in the data",
        p.mc.name, r.model.params().size(), p.ranks, p.cfg.train.global_batch, p.ranks, p.accum,
        p.micro, p.cfg.train.steps, r.loader.total_clips());
  }

  for (std::int64_t step = start_step; step < p.cfg.train.steps; ++step) {
    const StepResult s = train_step(p, options, r, conn, mesh, step, start_step);
    summary.steps_done = step + 1;
    summary.final_loss = s.loss;
    log_step(p, out, conn, step, s);
    const bool checkpoint_now =
        (p.cfg.train.checkpoint_every > 0 && (step + 1) % p.cfg.train.checkpoint_every == 0) ||
        step + 1 == p.cfg.train.steps || s.stop;
    if (checkpoint_now) checkpoint(p, r, step + 1, summary);
    if (p.cfg.train.eval_every > 0 && (step + 1) % p.cfg.train.eval_every == 0 &&
        step + 1 < p.cfg.train.steps) {
      record_eval(p, r, mesh, out, step + 1, summary);
    }
    if (s.stop) {
      summary.stopped_by_signal = g_stop_signal != 0;
      if (p.rank == 0) {
        log::info("{}: checkpoint written at step {}, exiting",
                  g_stop_signal != 0 ? "stop signal" : "--stop-after", step + 1);
      }
      break;
    }
  }
  finish(p, r, mesh, out, start_step, summary);
  world.barrier();
  return summary;
}

}  // namespace dojo::train
