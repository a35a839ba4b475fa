// dojo eval: masked-tubelet MSE / PSNR of a run's checkpoint against trivial baselines.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "train/trainer.hpp"

namespace dojo::cli {
namespace {

Runner setup(CLI::App& app) {
  auto opts = std::make_shared<train::EvalOptions>();
  auto json = std::make_shared<bool>(false);
  app.add_option("--run-dir", opts->run_dir, "a run directory made by dojo train")->required();
  app.add_option("--data", opts->data, "held-out shards (default: the run's data.eval_shards)");
  app.add_option("--checkpoint", opts->checkpoint,
                 "checkpoint file (default: the newest valid one)");
  app.add_option("--clips", opts->clips, "clips to evaluate (default: the run's eval.clips)");
  app.add_flag("--json", *json, "print one JSON object");
  return [opts, json](Context&) {
    const auto r = train::evaluate_run(*opts);
    if (*json) {
      std::cout << nlohmann::json{{"masked_mse", r.masked_mse},
                                  {"psnr", r.psnr},
                                  {"baseline_mean_mse", r.baseline_mean_mse},
                                  {"baseline_copy_mse", r.baseline_copy_mse},
                                  {"clips", r.clips},
                                  {"loss", r.loss}}
                       .dump()
                << "\n";
    } else {
      std::cout << fmt::format(
          "held-out clips        {}\nmasked-tubelet MSE    {:.6f}  (PSNR {:.2f} dB)\n"
          "baseline: mean of visible tubelets   {:.6f}\nbaseline: nearest visible tubelet    "
          "{:.6f}\n"
          "model beats both baselines: {}\n",
          r.clips, r.masked_mse, r.psnr, r.baseline_mean_mse, r.baseline_copy_mse,
          r.masked_mse < r.baseline_mean_mse && r.masked_mse < r.baseline_copy_mse ? "yes" : "no");
    }
    return 0;
  };
}

DOJO_COMMAND(eval, "", "eval", "evaluate a run on held-out clips against trivial baselines", kLocal,
             setup);

}  // namespace
}  // namespace dojo::cli
