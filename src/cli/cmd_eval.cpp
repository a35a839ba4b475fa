// dojo eval: a checkpoint on held-out clips against baselines that get the same information.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "train/eval_run.hpp"

namespace dojo::cli {
namespace {

Runner setup(CLI::App& app) {
  auto opts = std::make_shared<train::EvalOptions>();
  auto json = std::make_shared<bool>(false);
  app.add_option("--run-dir", opts->run_dir,
                 "a run directory made by dojo train (its newest valid checkpoint)");
  app.add_option("--checkpoint", opts->checkpoint, "checkpoint file (instead of --run-dir)");
  app.add_option("--data", opts->data, "held-out shards (default: the run's data.eval_shards)");
  app.add_option("--clips", opts->clips,
                 "clips to evaluate, spread evenly over the source videos (default: the run's "
                 "eval.clips)");
  app.add_flag("--json", *json, "print one JSON object (see docs/train.md)");
  return [opts, json](Context&) {
    const auto r = train::evaluate_run(*opts);
    if (*json) {
      std::cout << train::to_json(r).dump() << "\n";
    } else {
      std::cout << train::format_eval_run(r);
    }
    return 0;
  };
}

DOJO_COMMAND(eval, "", "eval", "evaluate a checkpoint on held-out clips against baselines", kLocal,
             setup);

}  // namespace
}  // namespace dojo::cli
