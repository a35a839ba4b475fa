#pragma once
// `dojo bench serve`: the service under load, on this machine. A server runs in this
// process on an ephemeral port with a temporary state folder; two tiny training jobs run
// while `clients` threads poll GET /v1/jobs/{id} for `seconds`. Measures status polls per
// second and their p50/p99 latency, submit latency, and submit -> running time; optionally
// `streams` event streams on one job, each checked to receive every metrics row.
//
// executor "slurm" runs the jobs on the Slurm cluster that SLURM_CONF names (e.g.
// scripts/slurm/local-cluster.sh). Before the polls it times `sbatch_runs` pairs on a
// settled cluster (idle, then three seconds): a plain `sbatch --wrap` job with the #SBATCH
// options of the service's train.sbatch, then a job through the service. Both are wall clock on this side, from the submit call until the job is
// seen running (squeue RUNNING; the job's started_s, which the service sets when Slurm
// runs it), polled every 20 ms, so the two differ only by what the service adds.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace dojo::serve {

struct BenchServeOptions {
  std::int64_t clients = 64;
  double seconds = 10;
  std::int64_t streams = 0;
  std::string executor = "local";  // local | slurm
  std::int64_t sbatch_runs = 7;    // slurm: paired plain-sbatch / service rounds
  std::string dojo_bin;  // the dojo executable for jobs and synth ("" = this one)
};

struct BenchServeResult {
  std::string executor;
  std::int64_t clients = 0;
  double seconds = 0;
  std::int64_t polls = 0, poll_errors = 0;
  double polls_per_s = 0, poll_p50_ms = 0, poll_p99_ms = 0;
  double submit_ms_median = 0;          // POST /v1/jobs, client side
  double submit_to_running_s_median = 0;  // started_s - created_s of the job records
  double submit_to_running_wall_s_median = 0;  // client side: submit call -> seen running
  double sbatch_submit_to_running_s_median = -1;  // slurm: plain sbatch, the same way
  std::int64_t streams = 0, streams_complete = 0, metrics_rows = 0;
  nlohmann::json to_json() const;
};

BenchServeResult bench_serve(const BenchServeOptions& options);

}  // namespace dojo::serve
