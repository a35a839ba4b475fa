// dojo embed: one embedding per clip (the checkpoint's encoder, unmasked, mean over tokens).
#include "cli/command.hpp"
#include "core/log.hpp"
#include "train/embed.hpp"

namespace dojo::cli {
namespace {

Runner setup(CLI::App& app) {
  auto opts = std::make_shared<train::EmbedOptions>();
  app.add_option("--checkpoint", opts->checkpoint, "checkpoint file, `latest` pointer or run folder (its newest)")->required();
  app.add_option("--data", opts->data, "shards: an ingest folder, a shard, or shards,a,b")
      ->required();
  app.add_option("--out", opts->out, "HDF5 file to write (/embeddings (N, D), /source, ...)")
      ->required();
  app.add_option("--layer", opts->layer,
                 "read the tokens after this many encoder blocks (0: the embedded patches; "
                 "-1: after the final LayerNorm)")
      ->capture_default_str();
  app.add_option("--pool-grid", opts->pool_grid,
                 "average the tokens per cell of a GRID x GRID partition of their positions "
                 "(1: one mean over all tokens)")
      ->capture_default_str();
  return [opts](Context&) {
    const auto e = train::embed_run(*opts);
    log::info("wrote {}: {} embeddings of {} values from {} source(s)", opts->out, e.clips, e.dim,
              e.sources.size());
    return 0;
  };
}

DOJO_COMMAND(embed, "", "embed", "write one embedding per clip (frozen encoder)", kLocal, setup);

}  // namespace
}  // namespace dojo::cli
