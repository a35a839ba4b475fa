// dojo train: data-parallel training (train/trainer.hpp).
#include "cli/command.hpp"
#include "comm/communicator.hpp"
#include "core/log.hpp"
#include "train/trainer.hpp"

namespace dojo::cli {
namespace {

Runner setup(CLI::App& app) {
  auto opts = std::make_shared<train::TrainOptions>();
  app.add_option("--config", opts->config_path, "training config (YAML)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--set", opts->overrides,
                 "override a config key: --set train.steps=100 (repeatable)");
  app.add_option("--run-dir", opts->run_dir, "output folder (default: runs/<config name>)");
  app.add_option("--resume", opts->resume,
                 "auto: continue from the newest valid checkpoint; or a checkpoint file, `latest` "
                 "pointer or run folder");
  app.add_option("--init-from", opts->init_from,
                 "start from this checkpoint's weights only (a file, `latest` pointer or run "
                 "folder; fine-tuning: fresh optimizer, schedule and data)")
      ->check(CLI::ExistingPath);
  app.add_option("--allow-config-change", opts->allow_config_change,
                 "config keys that may differ from the checkpoint's on --resume (repeatable)");
  app.add_option("--stop-after", opts->stop_after,
                 "stop after this many steps of this run, with a checkpoint (resume later)");
  app.add_flag("--debug", opts->debug,
               "single-node debugging: one thread, finite-difference gradient check at the first "
               "step, per-layer parameter/gradient norms");
  return [opts](Context& ctx) {
    train::install_stop_signals();
    const auto summary = train::train(*opts, *ctx.world);
    if (ctx.world->rank() == 0) {
      if (summary.steps_done == summary.first_step) {
        log::info("nothing to do: the run is already at step {}", summary.steps_done);
      } else {
        log::info("done: {} steps, final loss {:.4f}{}", summary.steps_done, summary.final_loss,
                  summary.stopped_by_signal ? " (stopped by signal)" : "");
      }
      log::info("run directory: {} (metrics.jsonl, loss.png, samples/, trace.json, checkpoints/)",
                summary.run_dir);
      if (summary.has_eval) {
        const auto& e = summary.eval.all;
        log::info(
            "eval on {} held-out clips from {} source(s), normalised masked loss {:.4f}; "
            "baselines: predict zeros {:.4f}, copy nearest visible {:.4f} (dojo eval for the "
            "pixel-space numbers)",
            e.clips, summary.eval.per_source.size(), e.loss, e.baseline_zero_loss,
            e.baseline_copy_loss);
      }
    }
    return 0;
  };
}

DOJO_COMMAND(train, "", "train", "train the masked video autoencoder (mpirun/srun or alone)",
             kDistributed, setup);

}  // namespace
}  // namespace dojo::cli
