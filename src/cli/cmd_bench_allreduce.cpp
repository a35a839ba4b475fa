// dojo bench allreduce: the all-reduce algorithms side by side (comm/bench_allreduce.hpp).
#include <nlohmann/json.hpp>

#include <iostream>

#include "cli/command.hpp"
#include "comm/bench_allreduce.hpp"
#include "comm/gloo_communicator.hpp"
#include "comm/host_topology.hpp"
#include "comm/mpi_communicator.hpp"
#include "core/log.hpp"

namespace dojo::cli {
namespace {

struct Options {
  std::string algo = "all";
  std::string sizes = "4K,64K,1M,16M,64M";
  int iters = 0;
  bool json = false;
  double timeout_s = 120;
};

int run(const Options& opts, Context& ctx) {
  auto& mpi = dynamic_cast<comm::MpiCommunicator&>(*ctx.world);
  mpi.set_timeout(comm::Millis(static_cast<long>(opts.timeout_s * 1000)));
  comm::AllreduceBenchOptions bench;
  bench.sizes_bytes = comm::parse_sizes(opts.sizes);
  bench.iters = opts.iters;
  if (opts.algo == "all") {
    bench.algorithms = {comm::Algorithm::kRing, comm::Algorithm::kRecursiveDoubling,
                        comm::Algorithm::kAuto, comm::Algorithm::kMpi,
                        comm::Algorithm::kGloo, comm::Algorithm::kHierarchical};
    // shm works among the ranks of one host only.
    if (comm::gather_host_topology(mpi).host_count() == 1) {
      bench.algorithms.push_back(comm::Algorithm::kShm);
    }
  } else {
    bench.algorithms = {comm::parse_algorithm(opts.algo)};
  }
  std::unique_ptr<comm::GlooCommunicator> gloo;
  if (std::count(bench.algorithms.begin(), bench.algorithms.end(), comm::Algorithm::kGloo)) {
    gloo = std::make_unique<comm::GlooCommunicator>(mpi, mpi.timeout());
  }
  const auto rows = comm::bench_allreduce(mpi, gloo.get(), bench);
  if (mpi.rank() != 0) return 0;
  if (opts.json) {
    for (const auto& row : rows) {
      nlohmann::json j = {{"algo", comm::to_string(row.algorithm)},
                          {"bytes", row.bytes},
                          {"ranks", row.ranks},
                          {"time_us_median", row.time_us_median},
                          {"algbw_GBps", row.algbw_gbps},
                          {"busbw_GBps", row.busbw_gbps},
                          {"correct", row.correct}};
      std::cout << j.dump() << "\n";
    }
  } else {
    std::cout << fmt::format(
        "# dojo bench allreduce: {} ranks, float32 sum, median of timed runs\n", mpi.size());
    std::cout << fmt::format("{:>10} {:>20} {:>14} {:>12} {:>12} {:>8}\n", "size", "algo",
                             "time (us)", "algbw GB/s", "busbw GB/s", "correct");
    for (const auto& row : rows) {
      std::cout << fmt::format("{:>10} {:>20} {:>14.1f} {:>12.2f} {:>12.2f} {:>8}\n",
                               comm::format_bytes(row.bytes), comm::to_string(row.algorithm),
                               row.time_us_median, row.algbw_gbps, row.busbw_gbps,
                               row.correct ? "yes" : "NO");
    }
  }
  const bool all_correct =
      std::all_of(rows.begin(), rows.end(), [](const auto& r) { return r.correct; });
  if (!all_correct) log::error("bench allreduce: some results were wrong (see 'correct')");
  return all_correct ? 0 : 1;
}

Runner setup(CLI::App& app) {
  auto opts = std::make_shared<Options>();
  app.add_option("--algo", opts->algo, "ring|recursive_doubling|auto|mpi|gloo|shm|hierarchical|all")
      ->capture_default_str();
  app.add_option("--sizes", opts->sizes, "comma-separated message sizes (K/M/G suffixes)")
      ->capture_default_str();
  app.add_option("--iters", opts->iters, "timed runs per size (default: by size)");
  app.add_option("--timeout", opts->timeout_s, "seconds before a silent peer is an error")
      ->capture_default_str();
  app.add_flag("--json", opts->json, "one JSON object per line");
  return [opts](Context& ctx) { return run(*opts, ctx); };
}

DOJO_COMMAND(bench_allreduce, "bench", "allreduce",
             "all-reduce algorithms side by side (run under mpirun -np N)", kMpi, setup);

}  // namespace
}  // namespace dojo::cli
