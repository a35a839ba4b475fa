// `dojo bench validate [--json] [--quick] [--rounds N]`: calibrates the host preset, then
// measures and predicts training steps, all-reduces and a 2-rank training step, and prints
// measured vs predicted (train/validate.hpp). Run under mpirun -np 2.
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "cli/command.hpp"
#include "comm/allreduce.hpp"
#include "comm/bench_allreduce.hpp"
#include "comm/gloo_communicator.hpp"
#include "comm/mpi_communicator.hpp"
#include "train/validate.hpp"

namespace {

struct Options {
  dojo::train::ValidateOptions validate;
  std::string sizes;
  bool json = false;
  bool no_gloo = false;
};

int run(const Options& opts, dojo::cli::Context& ctx) {
  using namespace dojo;
  auto& world = dynamic_cast<comm::MpiCommunicator&>(*ctx.world);
  world.set_timeout(comm::Millis(static_cast<long>(opts.validate.timeout_s * 1000)));
  auto validate = opts.validate;
  if (!opts.sizes.empty()) validate.allreduce_bytes = comm::parse_sizes(opts.sizes);
  std::unique_ptr<comm::GlooCommunicator> gloo;
  if (world.size() >= 2 && !opts.no_gloo)
    gloo = std::make_unique<comm::GlooCommunicator>(world, world.timeout());
  const auto report = train::validate_host(world, gloo.get(), validate);
  if (world.rank() != 0) return 0;
  if (opts.json) {
    std::cout << report.to_json().dump(2) << "\n";
  } else {
    fmt::print("# dojo bench validate: {} rank(s), {} round(s); error = predicted / measured - 1\n",
               report.ranks, report.rounds);
    std::cout << report.table();
  }
  return 0;
}

dojo::cli::Runner setup(CLI::App& app) {
  auto opts = std::make_shared<Options>();
  auto& v = opts->validate;
  app.add_flag("--quick", v.quick, "CI: tiny config, 1 thread, small all-reduces, few repeats");
  app.add_option("--rounds", v.rounds, "calibrate-measure-predict rounds (medians over them)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--configs", v.configs, "model configs (default tiny bench small)");
  app.add_option("--precisions", v.precisions, "fp32 and/or bf16 (default both)");
  app.add_option("--threads", v.threads, "thread counts (default 1 2)");
  app.add_option("--sizes", opts->sizes, "all-reduce sizes, e.g. 64K,1M,16M,64M");
  app.add_option("--algos", v.allreduce_algos,
                 "all-reduce algorithms (default ring recursive_doubling auto mpi gloo)");
  app.add_option("--train-config", v.train_config, "config of the 2-rank training step");
  app.add_option("--timeout", v.timeout_s, "seconds before a silent peer is an error")
      ->capture_default_str();
  app.add_option("--max-spread", v.max_spread,
                 "calibration: refuse a figure whose repeats' upper / lower quartile exceed this "
                 "(default 2.5, quick 5)")
      ->check(CLI::Range(1.0, 100.0));
  app.add_flag("--no-gloo", opts->no_gloo, "leave out the gloo transport");
  app.add_flag("--json", opts->json, "print one JSON object");
  return [opts](dojo::cli::Context& ctx) { return run(*opts, ctx); };
}

DOJO_COMMAND(bench_validate, "bench", "validate",
             "calibrate the host preset and compare its predictions with measurements "
             "(mpirun -np 2)",
             kMpi, setup);

}  // namespace
