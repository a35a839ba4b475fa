// dojo export: a checkpoint's weights as safetensors with the PyTorch reference's names.
#include <iostream>

#include "cli/command.hpp"
#include "core/log.hpp"
#include "train/export.hpp"

namespace dojo::cli {
namespace {

Runner setup(CLI::App& app) {
  auto opts = std::make_shared<train::ExportOptions>();
  app.add_option("checkpoint", opts->checkpoint, "checkpoint file (step-NNNNNN.h5), `latest` pointer or run folder")->required();
  app.add_option("--out", opts->out, "safetensors file to write")->required();
  app.add_option("--check-clip", opts->check_clip,
                 "also write one clip with dojo's loss, predictions and embedding on it "
                 "(safetensors; scripts/reference/load_dojo.py compares PyTorch against it)");
  app.add_option("--check-seed", opts->check_seed, "seed of the check clip's pixels and mask");
  return [opts](Context&) {
    const auto s = train::export_checkpoint(*opts);
    log::info("wrote {}: {} tensors, {} parameters", opts->out, s.tensors, s.parameters);
    if (!opts->check_clip.empty()) {
      log::info("wrote {}: check clip, dojo loss {:.7f}", opts->check_clip, s.check_loss);
    }
    return 0;
  };
}

DOJO_COMMAND(export_, "", "export", "export a checkpoint as safetensors (PyTorch names)", kLocal,
             setup);

}  // namespace
}  // namespace dojo::cli
