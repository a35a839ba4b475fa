// dojo probe: linear probes of a checkpoint's frozen encoder on the shards' ground truth.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "train/probe.hpp"

namespace dojo::cli {
namespace {

Runner setup(CLI::App& app) {
  auto opts = std::make_shared<train::ProbeOptions>();
  auto json = std::make_shared<bool>(false);
  app.add_option("--checkpoint", opts->checkpoint, "checkpoint file, `latest` pointer or run folder (its newest)")->required();
  app.add_option("--train", opts->train, "shards the probes are fitted on (with /labels)")
      ->required();
  app.add_option("--test", opts->test, "shards the probes are scored on (with /labels)")
      ->required();
  app.add_option("--pixel-grid", opts->pixel_grid,
                 "raw-pixel baseline: mean per time slot over a GRID x GRID partition")
      ->capture_default_str();
  app.add_option("--seed", opts->seed, "random-init weights and the validation split")
      ->capture_default_str();
  app.add_option("--layer", opts->layer,
                 "read the tokens after this many encoder blocks (0: the embedded patches; "
                 "-1: after the final LayerNorm)")
      ->capture_default_str();
  app.add_option("--pool-grid", opts->pool_grid,
                 "average the tokens per cell of a GRID x GRID partition of their positions "
                 "(1: one mean over all tokens)")
      ->capture_default_str();
  app.add_flag("--json", *json, "print {\"labels\": {NAME: {metric, pretrained, ...}}}");
  return [opts, json](Context&) {
    const auto r = train::probe_run(*opts);
    std::cout << (*json ? train::to_json(r).dump() + "\n" : train::format_probe(r));
    return 0;
  };
}

DOJO_COMMAND(probe, "", "probe", "linear probes of a frozen encoder on synth ground truth", kLocal,
             setup);

}  // namespace
}  // namespace dojo::cli
