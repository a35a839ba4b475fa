#pragma once
// Validating the calibrated `host` mesh preset against this machine, in one process per
// rank (`dojo bench calibrate`, `dojo bench validate`).
//
// A round: calibrate (accel/calibrate.hpp: compute on rank 0 while the other ranks sleep,
// then the link over MPI and over gloo), then measure and predict
//   step       a training step of each config x precision x thread count (model/bench:
//              median of timed steps; one thread by its process CPU time, several by wall
//              time) against the host preset's replay of the same step's dry-run kernels on
//              a replica of `threads` cores plus the model's host overhead (the CPU time of
//              a dry-run step: the host work between kernels that no record carries);
//   allreduce  comm's all-reduce of each size and algorithm among all ranks (comm/
//              bench_allreduce: median, slowest rank) against host_allreduce_s;
//   train      a 2-rank training step as the trainer runs it (VideoMAE forward/backward with
//              GradSync's buckets all-reduced on its thread as backward finishes them, the
//              gradient scale and clip, AdamW), the slowest rank's process CPU time (on a
//              shared machine the like-for-like figure: calibration rates are per CPU
//              second) and wall time, against the sim_step_s the trainer's mesh link
//              reports for it plus the host overhead as above.
// With several rounds each row reports the medians over rounds and the median of the
// rounds' errors. error = predicted / measured - 1.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "accel/calibrate.hpp"
#include "comm/communicator.hpp"

namespace dojo::train {

// Binds a LinkEndpoint to `comm` (ranks 0 and 1 exchange with each other).
accel::LinkEndpoint link_endpoint(comm::Communicator& comm);
// Ranks `a` and `b` of `comm` exchange, for the curve of `level`; `ranks_on_host` is how
// many ranks share this rank's host.
accel::LinkEndpoint link_endpoint(comm::Communicator& comm, int a, int b, int level,
                                  int ranks_on_host);

// Calibrates this machine: compute on rank 0 (the others wait without spinning), then
// the links over `world` and, when given, `gloo`: level 0 between the first two ranks of
// the first host that has two, level 1 (ranks on several hosts) between the first ranks
// of hosts 0 and 1 (comm/host_topology.hpp), the other ranks idle. The spec records the
// layout (hosts, fewest ranks per host) and, across hosts, is two-level
// (accel::host_spec). Collective. Throws InvalidArgument for more ranks on a host than it
// has cores, Error when a figure cannot be measured. Every rank returns the spec (rank
// 0's measurements).
accel::MeshSpec calibrate_host(comm::Communicator& world, comm::Communicator* gloo,
                               const accel::CalibrateOptions& options,
                               accel::HostMeasurements* measurements = nullptr);

struct ValidateOptions {
  bool quick = false;  // CI: tiny config, 1 thread, small all-reduces, few repeats
  int rounds = 1;
  std::vector<std::string> configs;            // empty: tiny, bench, small (quick: tiny)
  std::vector<std::string> precisions;         // empty: fp32, bf16
  std::vector<int> threads;                    // empty: 1, 2 (at most the cores; quick: 1)
  std::vector<std::size_t> allreduce_bytes;    // empty: 64 KiB, 1, 16, 64 MiB (quick: 64 KiB, 1 MiB)
  std::vector<std::string> allreduce_algos;    // empty: ring, recursive_doubling, auto, mpi, gloo
  std::string train_config;                    // empty: bench (quick: tiny)
  double timeout_s = 120;
  double max_spread = 0;  // 0: calibrate's default (quick: 5)
};

struct ValidationRow {
  std::string group;  // "step", "allreduce", "train"
  std::string name;   // e.g. "bench fp32 1 thread", "ring 16 MiB"
  std::string timing;  // "cpu" or "wall": what `measured` is
  std::vector<double> measured_s, predicted_s;  // one per round
  double measured_median_s = 0, predicted_median_s = 0, error = 0;  // median of round errors
};

struct ValidationReport {
  int ranks = 1, rounds = 1;
  std::vector<ValidationRow> rows;
  // Median |error| per group ("step", "allreduce", "train") and over every row.
  nlohmann::json median_abs_error;
  nlohmann::json calibration;  // the last round's figures
  nlohmann::json to_json() const;
  std::string table() const;  // markdown
};

// Runs the rounds. Collective over `world` (MPI; `gloo` may be null, then the gloo rows
// are left out); the all-reduce and train rows need two ranks. Every rank returns the
// report.
ValidationReport validate_host(comm::Communicator& world, comm::Communicator* gloo,
                               const ValidateOptions& options);

}  // namespace dojo::train
