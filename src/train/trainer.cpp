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
#include <sstream>

#include "accel/host_device.hpp"
#include "comm/allreduce.hpp"
#include "comm/gloo_communicator.hpp"
#include "comm/grad_sync.hpp"
#include "comm/mpi_communicator.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "data/loader.hpp"
#include "model/optim.hpp"
#include "model/videomae.hpp"
#include "train/checkpoint.hpp"
#include "train/masks.hpp"
#include "train/mesh_link.hpp"
#include "train/report.hpp"

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

// Rank 0: the run directory exists and takes a file, before any training starts.
void prepare_run_dir(const std::string& run_dir) {
  std::error_code ec;
  fs::create_directories(fs::path(run_dir) / "samples", ec);
  DOJO_CHECK(!ec, IoError, "run directory {}: cannot create it: {}", run_dir, ec.message());
  const fs::path probe = fs::path(run_dir) / ".write-test";
  {
    std::ofstream out(probe);
    out << "dojo\n";
    out.close();
    DOJO_CHECK(out.good(), IoError, "run directory {} is not writable (disk full or no permission)",
               run_dir);
  }
  fs::remove(probe, ec);
}

// Rank 0: the run directory's file system has room for one checkpoint, so a full disk is
// reported before training and not at the first checkpoint, hours later (save_checkpoint
// still reports it there, keeping the previous checkpoint).
void check_room_for_checkpoint(const std::string& run_dir, std::size_t params) {
  // A lower bound: the three float32 arenas (parameters, two AdamW moments).
  const std::uintmax_t need_bytes = 3 * params * sizeof(float);
  std::error_code ec;
  const auto space = fs::space(run_dir, ec);
  if (ec) return;  // unknown here; a failing checkpoint write reports itself
  DOJO_CHECK(space.available >= need_bytes, IoError,
             "run directory {}: {:.2f} MiB free, a checkpoint of this model needs {:.2f} MiB "
             "(disk full?)",
             run_dir, static_cast<double>(space.available) / (1 << 20),
             static_cast<double>(need_bytes) / (1 << 20));
}

void write_text(const std::string& path, const std::string& text) {
  const std::string partial = path + ".partial";
  {
    std::ofstream out(partial, std::ios::trunc);
    out << text;
    out.close();
    DOJO_CHECK(out.good(), IoError, "{}: cannot write (disk full?)", partial);
  }
  DOJO_CHECK(std::rename(partial.c_str(), path.c_str()) == 0, IoError, "rename {} -> {} failed",
             partial, path);
}

// The first setting where two effective configs (to_yaml) differ, as "train.lr: 0.001 on
// rank 0, 0.002 on rank 1"; empty when they are equal.
std::string first_config_difference(const std::string& a, const std::string& b, int rank_b) {
  std::istringstream in_a(a), in_b(b);
  std::vector<std::pair<std::size_t, std::string>> parents;  // (indent, key) above the line
  std::string line_a, line_b;
  while (true) {
    const bool more_a = static_cast<bool>(std::getline(in_a, line_a));
    const bool more_b = static_cast<bool>(std::getline(in_b, line_b));
    if (!more_a && !more_b) return "";
    if (!more_a) line_a.clear();
    if (!more_b) line_b.clear();
    const std::string& line = more_a ? line_a : line_b;
    const std::size_t indent = line.find_first_not_of(' ');
    const std::size_t colon = line.find(':');
    const std::string key =
        indent == std::string::npos || colon == std::string::npos || colon < indent
            ? line
            : line.substr(indent, colon - indent);
    while (!parents.empty() && parents.back().first >= indent) parents.pop_back();
    if (line_a != line_b) {
      std::string path;
      for (const auto& [_, parent] : parents) path += parent + ".";
      auto value = [](const std::string& l) {
        const std::size_t c = l.find(':');
        const std::size_t v =
            c == std::string::npos ? std::string::npos : l.find_first_not_of(' ', c + 1);
        return v == std::string::npos ? std::string("(nothing)") : l.substr(v);
      };
      return fmt::format("{}{}: {} on rank 0, {} on rank {}", path, key, value(line_a),
                         value(line_b), rank_b);
    }
    parents.emplace_back(indent, key);
  }
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
    const std::string config_diff = first_config_difference(text(configs[0]), text(configs[r]), r);
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
    DOJO_CHECK(!cfg.data.shards.empty(), InvalidArgument,
               "config: set data.shards (a folder made by dojo ingest) or data.videos "
               "(streaming from video files)");
    o.source = cfg.data.shards;
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

void check_shape(const data::ClipShape& s, const model::ModelConfig& mc, const std::string& what) {
  DOJO_CHECK(s.frames == mc.frames && s.height == mc.height && s.width == mc.width &&
                 s.channels == mc.channels,
             InvalidArgument,
             "{} holds clips of {}x{}x{}x{} (T x H x W x C), model '{}' needs {}x{}x{}x{}: ingest "
             "with --frames {} --size {}x{}",
             what, s.frames, s.height, s.width, s.channels, mc.name, mc.frames, mc.height, mc.width,
             mc.channels, mc.frames, mc.width, mc.height);
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

}  // namespace

void install_stop_signals() {
  auto handler = [](int sig) { g_stop_signal = sig; };
  std::signal(SIGTERM, handler);
  std::signal(SIGUSR1, handler);
  std::signal(SIGINT, handler);
}

TrainSummary train(const TrainOptions& options, comm::Communicator& world) {
  const TrainConfig cfg = load_train_config(options.config_path, options.overrides);
  const int rank = world.rank(), ranks = world.size();
  world.set_timeout(comm::Millis(static_cast<std::int64_t>(cfg.comm.timeout_s * 1000)));
  TrainSummary summary;
  summary.run_dir =
      options.run_dir.empty() ? default_run_dir(options.config_path) : options.run_dir;
  const std::string& run_dir = summary.run_dir;
  const std::string hash = config_hash(cfg);

  // --- model, batch geometry ----------------------------------------------------------
  model::ModelConfig mc = model::load_model_config(cfg.model);
  mc.precision = accel::parse_precision(cfg.precision);
  DOJO_CHECK(cfg.train.global_batch % ranks == 0, InvalidArgument,
             "config key 'train.global_batch': {} clips do not split evenly over {} ranks",
             cfg.train.global_batch, ranks);
  const std::int64_t rank_batch = cfg.train.global_batch / ranks;
  const std::int64_t micro = cfg.train.micro_batch > 0 ? cfg.train.micro_batch : rank_batch;
  DOJO_CHECK(rank_batch % micro == 0, InvalidArgument,
             "config key 'train.micro_batch': {} does not divide the per-rank batch {} "
             "(train.global_batch {} over {} ranks)",
             micro, rank_batch, cfg.train.global_batch, ranks);
  const std::int64_t accum = rank_batch / micro;
  const int threads = options.debug ? 1 : cfg.train.threads;

  // --- rank 0 prepares the run directory before anything long starts -----------------
  int prepared = 1;
  std::string prepare_error;
  if (rank == 0) {
    try {
      prepare_run_dir(run_dir);
      write_text((fs::path(run_dir) / "config.yaml").string(), to_yaml(cfg));
    } catch (const Error& e) {
      prepared = 0;
      prepare_error = e.what();
    }
  }
  comm::broadcast_span(world, std::span(&prepared, 1), 0);
  if (!prepared) {
    if (rank == 0) throw IoError(prepare_error);
    throw IoError(fmt::format("rank 0 could not prepare run directory {}", run_dir));
  }

  accel::HostDevice device({.threads = threads, .dry_run = false, .precision = mc.precision});
  model::VideoMAE model(mc, device, micro);
  model.init(cfg.train.seed);
  // On failure the other ranks, already in check_ranks_agree, end by main's MPI_Abort.
  if (rank == 0) check_room_for_checkpoint(run_dir, model.params().size());
  model::AdamW adamw(model, {.beta1 = static_cast<float>(cfg.train.beta1),
                             .beta2 = static_cast<float>(cfg.train.beta2),
                             .eps = 1e-8f,
                             .weight_decay = static_cast<float>(cfg.train.weight_decay)});

  data::Loader loader(loader_options(cfg, mc, rank_batch, rank, ranks));
  check_shape(loader.shape(), mc, cfg.data.videos.empty() ? cfg.data.shards : "data.videos");

  // Streaming reads are sequential; a random clip would decode a whole video: shards only.
  const std::string fingerprint = cfg.data.videos.empty()
                                      ? fmt::format("{:016x}", data_fingerprint(loader))
                                      : std::string("none: streaming");
  check_ranks_agree(
      world,
      fmt::format("config hash {}, model '{}' with {} parameters, data {} clips of {}x{}x{}x{} "
                  "(fingerprint {})",
                  hash, mc.name, model.params().size(), loader.total_clips(), loader.shape().frames,
                  loader.shape().height, loader.shape().width, loader.shape().channels,
                  fingerprint),
      to_yaml(cfg));

  // --- resume: rank 0 reads, everybody receives ---------------------------------------
  std::int64_t start_step = 0;
  {
    std::optional<Checkpoint> ckpt;
    if (rank == 0 && !options.resume.empty()) {
      if (options.resume == "auto") {
        ckpt = load_latest_checkpoint(run_dir);
        if (!ckpt) log::info("resume auto: no usable checkpoint in {}, starting fresh", run_dir);
      } else {
        ckpt = read_checkpoint(options.resume);
      }
      if (ckpt) {
        DOJO_CHECK(ckpt->params.size() == model.params().size(), FormatError,
                   "checkpoint {} has {} parameters, model '{}' has {}", ckpt->path,
                   ckpt->params.size(), mc.name, model.params().size());
        if (ckpt->meta.config_hash != hash) {
          log::warn("checkpoint {} was written with config hash {}, this run's is {}; continuing",
                    ckpt->path, ckpt->meta.config_hash, hash);
        }
        std::copy(ckpt->params.begin(), ckpt->params.end(), model.params().begin());
        std::copy(ckpt->adam_m.begin(), ckpt->adam_m.end(), model.adam_m().begin());
        std::copy(ckpt->adam_v.begin(), ckpt->adam_v.end(), model.adam_v().begin());
        log::info("resuming from {} (step {})", ckpt->path, ckpt->meta.step);
      }
    }
    std::int64_t state[4] = {0, 0, 0, 0};  // step, adam steps, loader epoch, loader position
    if (ckpt) {
      state[0] = ckpt->meta.step;
      state[1] = ckpt->meta.adam_steps;
      state[2] = ckpt->meta.loader_epoch;
      state[3] = ckpt->meta.loader_position;
    }
    comm::broadcast_span(world, std::span<std::int64_t>(state), 0);
    start_step = state[0];
    // Parameters always come from rank 0 (as DDP does); moments only when resuming.
    comm::broadcast_span(world, model.params(), 0);
    if (start_step > 0) {
      comm::broadcast_span(world, model.adam_m(), 0);
      comm::broadcast_span(world, model.adam_v(), 0);
      adamw.set_steps(state[1]);
      loader.restore({state[2], state[3]});
    }
  }
  summary.first_step = start_step;
  summary.steps_done = start_step;

  // --- communication ------------------------------------------------------------------
  std::unique_ptr<comm::GlooCommunicator> gloo;
  comm::Communicator* grad_comm = &world;
  if (cfg.comm.backend == "gloo" && ranks > 1) {
    auto* mpi = dynamic_cast<comm::MpiCommunicator*>(&world);
    DOJO_CHECK(mpi != nullptr, InvalidArgument,
               "config key 'comm.backend': gloo needs an MPI launch (mpirun/srun) to bootstrap");
    gloo = std::make_unique<comm::GlooCommunicator>(*mpi, world.timeout());
    grad_comm = gloo.get();
  }
  comm::GradSync sync(*grad_comm, model.grads(), model.layer_grad_ranges(),
                      {.bucket_bytes = static_cast<std::size_t>(cfg.comm.bucket_mb * (1 << 20)),
                       .algorithm = comm::parse_algorithm(cfg.comm.algorithm),
                       .op = comm::ReduceOp::kSum});
  comm::Allreducer stats_reducer(world, comm::Algorithm::kAuto);

  // --- the simulated mesh -------------------------------------------------------------
  MeshLink mesh(cfg.mesh.preset, model, rank, ranks);
  device.set_sink(&mesh.sink());

  // --- rank 0's outputs ---------------------------------------------------------------
  std::unique_ptr<MetricsLog> metrics;
  std::unique_ptr<Progress> progress;
  EvalSet eval_set;
  if (rank == 0) {
    metrics = std::make_unique<MetricsLog>((fs::path(run_dir) / "metrics.jsonl").string(),
                                           start_step > 0);
    progress = std::make_unique<Progress>(start_step, cfg.train.steps);
    if (!cfg.data.eval_shards.empty()) {
      eval_set = load_eval_set(cfg.data.eval_shards, cfg.eval.clips, mc);
    }
    log::info(
        "training '{}' ({} parameters) on {} rank(s): global batch {} = {} rank(s) x {} "
        "micro-batch(es) of {} clips; {} steps; {} clips in the data",
        mc.name, model.params().size(), ranks, cfg.train.global_batch, ranks, accum, micro,
        cfg.train.steps, loader.total_clips());
  }

  auto run_eval = [&](std::int64_t step) {
    if (rank != 0 || eval_set.count == 0) return;
    std::vector<Reconstruction> recon;
    // Evaluation is not part of a training step: keep it off the simulated mesh.
    device.set_sink(nullptr);
    summary.eval = evaluate(model, eval_set, cfg.train.seed, &recon, cfg.eval.samples);
    summary.has_eval = true;
    // The eval row: metrics_json's keys, with "loss" as "eval_loss" ("loss" is the
    // training curve's key in metrics.jsonl).
    nlohmann::json row = metrics_json(summary.eval.all);
    row["eval_loss"] = row["loss"];
    row.erase("loss");
    row["kind"] = "eval";
    row["step"] = step;
    metrics->write(row);
    device.set_sink(&mesh.sink());
    write_reconstructions((fs::path(run_dir) / "samples").string(), fmt::format("step-{:06d}", step),
                          eval_set, recon, mc);
  };

  // --- the loop -----------------------------------------------------------------------
  const std::size_t clip_elems = static_cast<std::size_t>(mc.clip_elems());
  std::vector<std::uint64_t> seeds(static_cast<std::size_t>(micro));
  double last_loss = 0;
  for (std::int64_t step = start_step; step < cfg.train.steps; ++step) {
    const auto step_start = Clock::now();
    const auto data_start = Clock::now();
    data::Batch batch = loader.next();
    const double data_wait_s = seconds_since(data_start);
    DOJO_ASSERT(batch.size() == rank_batch, "loader gave {} clips, expected {}", batch.size(),
                rank_batch);

    if (options.debug && step == start_step) {
      for (std::int64_t j = 0; j < micro; ++j) {
        seeds[j] = mix_seed(cfg.train.seed, static_cast<std::uint64_t>(step),
                            static_cast<std::uint64_t>(j * ranks + rank));
      }
      device.set_sink(nullptr);
      check_gradients(model, std::span<const float>(batch.pixels).first(clip_elems * micro),
                      masks_for(mc, seeds));
      device.set_sink(&mesh.sink());
    }

    model.zero_grads();
    mesh.begin_step();
    sync.start_step();
    double loss_sum = 0;
    for (std::int64_t m = 0; m < accum; ++m) {
      // A clip's slot in the global batch: rank r's local clip q is global slot q*ranks + r.
      for (std::int64_t j = 0; j < micro; ++j) {
        const std::int64_t slot = (m * micro + j) * ranks + rank;
        seeds[j] = mix_seed(cfg.train.seed, static_cast<std::uint64_t>(step),
                            static_cast<std::uint64_t>(slot));
      }
      const auto mask = masks_for(mc, seeds);
      std::span<const float> clips(batch.pixels.data() + m * micro * clip_elems,
                                   micro * clip_elems);
      const bool last = m + 1 == accum;
      loss_sum += model.forward_backward(clips, mask, [&](std::size_t layer) {
        if (!last) return;
        if (auto bucket = sync.mark_layer_ready(layer)) {
          mesh.gradient_bucket_ready(sync.buckets()[*bucket].count * sizeof(float));
        }
      });
    }
    mesh.gradients_needed();
    sync.wait();
    const auto stats_start = Clock::now();
    // Sum over ranks and micro-batches -> mean gradient of the global batch.
    const float scale = 1.0f / static_cast<float>(ranks * accum);
    for (float& g : model.grads()) g *= scale;
    const bool planned_stop = options.stop_after > 0 && step + 1 - start_step >= options.stop_after;
    float stats[2] = {static_cast<float>(loss_sum / accum),
                      g_stop_signal != 0 || planned_stop ? 1.0f : 0.0f};
    stats_reducer.run(stats, comm::ReduceOp::kSum);
    const double comm_s = sync.wait_seconds() + seconds_since(stats_start);
    const double loss = stats[0] / ranks;
    const bool stop = stats[1] > 0;
    last_loss = loss;

    if (options.debug && step == start_step) log_layer_norms(model);
    const float grad_norm =
        model::clip_grad_norm(model.grads(), static_cast<float>(cfg.train.grad_clip));
    const float lr =
        model::lr_at(step, cfg.train.warmup_steps, cfg.train.steps,
                     static_cast<float>(cfg.train.lr), static_cast<float>(cfg.train.min_lr));
    adamw.step(lr);
    const double sim_step_s = mesh.end_step();
    const double step_s = seconds_since(step_start);
    summary.steps_done = step + 1;
    const std::int64_t epoch = batch.epoch;
    loader.recycle(std::move(batch));
    DOJO_CHECK(std::isfinite(loss), Error, "step {}: the loss is {} (diverged); lower train.lr",
               step + 1, loss);

    if (rank == 0) {
      const double clips_per_s = static_cast<double>(cfg.train.global_batch) / step_s;
      if ((step + 1) % cfg.train.log_every == 0 || step + 1 == cfg.train.steps || stop) {
        metrics->write({{"step", step + 1},
                        {"loss", loss},
                        {"lr", lr},
                        {"grad_norm", grad_norm},
                        {"clips_per_s", clips_per_s},
                        {"step_s", step_s},
                        {"data_wait_s", data_wait_s},
                        {"comm_s", comm_s},
                        {"comm_total_s", sync.comm_seconds()},
                        {"sim_step_s", sim_step_s},
                        {"epoch", epoch}});
      }
      progress->update(step + 1, loss, clips_per_s, data_wait_s / step_s);
    }
    const bool checkpoint_now =
        (cfg.train.checkpoint_every > 0 && (step + 1) % cfg.train.checkpoint_every == 0) ||
        step + 1 == cfg.train.steps || stop;
    if (checkpoint_now && rank == 0) {
      const auto cursor = loader.cursor();
      CheckpointMeta meta{step + 1,        adamw.steps(), cfg.train.seed, cursor.epoch,
                          cursor.position, hash,          mc.name,        to_yaml(cfg)};
      summary.last_checkpoint = save_checkpoint(run_dir, meta, model.params(), model.adam_m(),
                                                model.adam_v(), cfg.train.keep_checkpoints);
    }
    if (cfg.train.eval_every > 0 && (step + 1) % cfg.train.eval_every == 0 &&
        step + 1 < cfg.train.steps) {
      run_eval(step + 1);
    }
    if (stop) {
      summary.stopped_by_signal = g_stop_signal != 0;
      if (rank == 0) {
        progress->finish();
        log::info("{}: checkpoint written at step {}, exiting",
                  g_stop_signal != 0 ? "stop signal" : "--stop-after", step + 1);
      }
      break;
    }
  }
  summary.final_loss = last_loss;
  if (rank == 0) {
    progress->finish();
    if (summary.steps_done == cfg.train.steps) run_eval(summary.steps_done);
    // A resumed run with no steps left (a chained job after the last one) keeps the trace.
    if (summary.steps_done > start_step) {
      mesh.write_trace((fs::path(run_dir) / "trace.json").string());
    }
    // loss.png from the whole metrics history (a resumed run includes its earlier part).
    std::vector<CurvePoint> train_curve, eval_curve;
    std::ifstream in(fs::path(run_dir) / "metrics.jsonl");
    for (std::string line; std::getline(in, line);) {
      const auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded()) continue;
      if (j.contains("loss"))
        train_curve.push_back({j["step"].get<double>(), j["loss"].get<double>()});
      if (j.contains("eval_loss"))
        eval_curve.push_back({j["step"].get<double>(), j["eval_loss"].get<double>()});
    }
    plot_loss((fs::path(run_dir) / "loss.png").string(), train_curve, eval_curve);
    if (summary.has_eval) {
      nlohmann::json eval = to_json(summary.eval);
      eval["step"] = summary.steps_done;
      write_text((fs::path(run_dir) / "eval.json").string(), eval.dump(2) + "\n");
    }
  }
  world.barrier();
  return summary;
}

}  // namespace dojo::train
