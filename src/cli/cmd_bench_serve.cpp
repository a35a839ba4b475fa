// `dojo bench serve --clients 64 --seconds 10 [--streams N] [--executor slurm] [--json]`
// (serve/bench.hpp).
#include <iostream>

#include <fmt/format.h>

#include "cli/command.hpp"
#include "serve/bench.hpp"

namespace dojo::cli {
namespace {

Runner setup(CLI::App& app) {
  auto opts = std::make_shared<serve::BenchServeOptions>();
  auto json = std::make_shared<bool>(false);
  app.add_option("--clients", opts->clients, "concurrent status pollers")->capture_default_str();
  app.add_option("--seconds", opts->seconds, "how long they poll")->capture_default_str();
  app.add_option("--streams", opts->streams, "event streams on one job meanwhile")
      ->capture_default_str();
  app.add_option("--executor", opts->executor,
                 "local, or slurm (the cluster SLURM_CONF names; plain sbatch is timed too)")
      ->capture_default_str();
  app.add_option("--sbatch-runs", opts->sbatch_runs, "slurm: paired rounds of plain sbatch and a service job")
      ->capture_default_str();
  app.add_flag("--json", *json, "print JSON");
  return [opts, json](Context&) {
    const auto r = serve::bench_serve(*opts);
    if (*json) {
      std::cout << r.to_json().dump(2) << "\n";
      return 0;
    }
    fmt::print("dojo bench serve: {} clients for {:.1f} s while 2 tiny training jobs run ({} "
               "executor)\n",
               r.clients, r.seconds, r.executor);
    fmt::print("  status polls: {:.0f}/s, p50 {:.2f} ms, p99 {:.2f} ms ({} polls, {} errors)\n",
               r.polls_per_s, r.poll_p50_ms, r.poll_p99_ms, r.polls, r.poll_errors);
    fmt::print("  submit: {:.1f} ms (median); submit -> running: {:.3f} s as the client saw it, "
               "{:.3f} s in the job record (medians)\n",
               r.submit_ms_median, r.submit_to_running_wall_s_median,
               r.submit_to_running_s_median);
    if (r.sbatch_submit_to_running_s_median >= 0)
      fmt::print("  plain sbatch on the same cluster: submit -> RUNNING {:.3f} s (median); the "
                 "service adds {:+.3f} s\n",
                 r.sbatch_submit_to_running_s_median,
                 r.submit_to_running_wall_s_median - r.sbatch_submit_to_running_s_median);
    if (r.streams > 0)
      fmt::print("  event streams: {} of {} received every metrics row in order ({} rows)\n",
                 r.streams_complete, r.streams, r.metrics_rows);
    return 0;
  };
}

DOJO_COMMAND(bench_serve, "bench", "serve", "the service under load: status polls, submits",
             kLocal, setup);

}  // namespace
}  // namespace dojo::cli
