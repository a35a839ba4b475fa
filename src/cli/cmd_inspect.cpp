// `dojo inspect PATH [--verify] [--json]`: summary of a shard or an ingest folder
// (data/inspect.hpp). Exits non-zero, naming shard and clip, when verification fails.
#include <iostream>
#include <memory>

#include "cli/command.hpp"
#include "core/error.hpp"
#include "data/inspect.hpp"

namespace {

struct Options {
  std::string path;
  bool verify = false;
  bool json = false;
};

dojo::cli::Runner setup(CLI::App& app) {
  auto opts = std::make_shared<Options>();
  app.add_option("path", opts->path, "a shard (.h5) or an ingest folder")->required();
  app.add_flag("--verify", opts->verify, "check every clip's checksum");
  app.add_flag("--json", opts->json, "print the report as JSON");
  return [opts](dojo::cli::Context&) {
    const auto report = dojo::data::inspect(opts->path, opts->verify);
    std::cout << (opts->json ? report.to_json() + "\n" : report.to_text()) << std::flush;
    const auto problems = report.problems();
    if (!problems.empty()) {
      std::string all;
      for (const auto& p : problems) all += "\n  " + p;
      throw dojo::FormatError(fmt::format("inspect {}: {} problem(s):{}", opts->path,
                                          problems.size(), all));
    }
    return 0;
  };
}

DOJO_COMMAND(inspect, "", "inspect", "summarize (and verify) shards or an ingest folder", kLocal,
             setup);

}  // namespace
