// `dojo bench calibrate [--out FILE] [--json] [--quick] [--repeats N] [--max-spread X]`: measures
// this machine kernel class by kernel class and the link between two ranks of a host (run under
// mpirun -np 2; one rank assumes the link) and writes the `host` mesh preset
// (accel/calibrate.hpp, train/validate.hpp). With ranks on several hosts (`mpirun --hostfile
// H -np 4 --map-by ppr:2:node`) it also measures the link between hosts and writes a
// two-level preset of the whole cluster.
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "accel/mesh_io.hpp"
#include "cli/command.hpp"
#include "comm/gloo_communicator.hpp"
#include "comm/mpi_communicator.hpp"
#include "train/validate.hpp"

namespace {

struct Options {
  std::string out = "configs/mesh/host.yaml";
  bool json = false;
  bool no_gloo = false;
  dojo::accel::CalibrateOptions calibrate;
};

int run(const Options& opts, dojo::cli::Context& ctx) {
  using namespace dojo;
  auto& world = dynamic_cast<comm::MpiCommunicator&>(*ctx.world);
  std::unique_ptr<comm::GlooCommunicator> gloo;
  if (world.size() >= 2 && !opts.no_gloo)
    gloo = std::make_unique<comm::GlooCommunicator>(world, world.timeout());
  accel::HostMeasurements m;
  const auto spec = train::calibrate_host(world, gloo.get(), opts.calibrate, &m);
  if (world.rank() != 0) return 0;
  const auto parent = std::filesystem::path(opts.out).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  accel::save_mesh_spec(spec, opts.out);
  if (opts.json) {
    std::cout << nlohmann::json{{"out", opts.out}, {"spec", accel::to_json(spec)}}.dump(2) << "\n";
    return 0;
  }
  fmt::print("dojo bench calibrate: {} cores, {:.1f} GB RAM, {:.0f} MiB cache\n", m.cores,
             m.ram_bytes / 1e9, accel::host_cache_bytes() / (1 << 20));
  for (const auto& note : spec.notes) fmt::print("  {}\n", note);
  fmt::print("  wrote {}\n", opts.out);
  return 0;
}

dojo::cli::Runner setup(CLI::App& app) {
  auto opts = std::make_shared<Options>();
  app.add_option("--out", opts->out, "where to write the host preset")->capture_default_str();
  app.add_option("--repeats", opts->calibrate.repeats, "timed repeats per figure (median)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--threads", opts->calibrate.threads, "thread counts to measure (default 1..cores)");
  app.add_flag("--quick", opts->calibrate.quick, "few shapes and sizes (CI)");
  app.add_option("--max-spread", opts->calibrate.max_spread,
                 "refuse a figure whose repeats' upper / lower quartile exceed this")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 100.0));
  app.add_flag("--no-gloo", opts->no_gloo, "measure the MPI link only");
  app.add_flag("--json", opts->json, "print JSON");
  return [opts](dojo::cli::Context& ctx) { return run(*opts, ctx); };
}

DOJO_COMMAND(bench_calibrate, "bench", "calibrate",
             "measure this machine and write the host mesh preset", kMpi, setup);

}  // namespace
