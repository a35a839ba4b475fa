#pragma once
// `dojo bench serve`: the service under load, on this machine. A server runs in this
// process on an ephemeral port with a temporary state folder; two tiny training jobs run
// (local executor) while `clients` threads poll GET /v1/jobs/{id} for `seconds`. Measures
// status polls per second and their p50/p99 latency, submit latency, and submit -> running
// time; optionally `streams` event streams on one job, each checked to receive every
// metrics row.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace dojo::serve {

struct BenchServeOptions {
  std::int64_t clients = 64;
  double seconds = 10;
  std::int64_t streams = 0;
  std::string dojo_bin;  // the dojo executable for jobs and synth ("" = this one)
};

struct BenchServeResult {
  std::int64_t clients = 0;
  double seconds = 0;
  std::int64_t polls = 0, poll_errors = 0;
  double polls_per_s = 0, poll_p50_ms = 0, poll_p99_ms = 0;
  double submit_ms_median = 0;          // POST /v1/jobs, client side
  double submit_to_running_s_median = 0;  // started_s - created_s of the job records
  std::int64_t streams = 0, streams_complete = 0, metrics_rows = 0;
  nlohmann::json to_json() const;
};

BenchServeResult bench_serve(const BenchServeOptions& options);

}  // namespace dojo::serve
