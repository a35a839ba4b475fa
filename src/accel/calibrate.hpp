#pragma once
// Calibrating the `host` preset: this machine as a one-level mesh whose nodes are its
// cores, with every kernel class and the link between ranks measured
// (host_calibration.hpp says how the measurements are used).
//
// What is measured (all through the host Device the model runs on, oneDNN included):
//   GEMM     a generic set of transformer-layer shapes (rows R x width d for R in
//            {32, 512, 4096}, d in {16, 64, 192, 384}: the forward (R, 4d, d) and
//            (R, d, 4d), the input gradient (R, d, 4d) with B transposed, the weight gradient
//            (d, 4d, R) with A transposed; batched attention shapes of 48 matrices), fp32
//            and bf16 operands, at each thread count;
//   streams  each streaming class's Device kernels over 2^8 .. 2^23 elements (bytes as the
//            Device reports them), at each thread count;
//   links    the seconds for two ranks to exchange a message both ways at once, 8 B ..
//            64 MiB, with the buffers in cache (the same one every time) and from memory
//            (walking an arena four times the last-level cache), per transport and level:
//            level 0 two ranks of one host, level 1 (ranks on several hosts) the first
//            rank of the first host with the first rank of the second, alone on the link;
//            at level 1 also a stream of messages of 64 KiB .. 4 MiB (two in flight) by
//            every local rank of the first host with its peer on the second at once, the
//            curve's size being the bytes all of them put on the link per message.
// Times: one thread is timed by the thread's CPU time (on a shared machine the time the
// core ran someone else does not count), several threads by wall time; each figure is a
// median of repeats. A figure whose repeats disagree (upper over lower quartile beyond
// `max_spread`) is measured again, twice at most; then calibration refuses with an error
// that names it: the machine is too busy to be measured.
//
// The link side needs two ranks, which accel does not see: the caller binds a LinkEndpoint
// to its communicator (train/validate.hpp does for comm).
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "accel/host_calibration.hpp"
#include "accel/mesh_spec.hpp"

namespace dojo::accel {

struct CalibrateOptions {
  std::vector<int> threads;  // thread counts to measure; empty: 1 .. cores
  int repeats = 5;           // timed repeats per figure (median)
  bool quick = false;        // CI: few shapes and sizes (the same code paths)
  double max_spread = 2.5;   // upper / lower quartile of the repeats beyond which to refuse
};

// One rank's view of the ranks taking part in a link measurement (ranks 0 and 1 measure,
// others only join barriers and reductions).
struct LinkEndpoint {
  std::string transport;  // "mpi", "gloo": names the curve
  int level = 0;          // the curve's level: 0 the pair shares a host, 1 it does not
  int rank = 0;           // 0 and 1: the pair; 2..size-1: the others
  int size = 1;
  int ranks_on_host = 1;  // ranks on this rank's host (at most its cores)
  std::function<void()> barrier;
  // Ranks 0 and 1 only: send `out` to the other and receive `in` from it, both at once.
  std::function<void(std::span<const std::byte> out, std::span<std::byte> in)> exchange;
  // When set (level 1, on every rank): the streamed curve is measured too, with
  // `stream_pairs` pairs across the link at once (local rank l of the first host with local
  // rank l of the second, as comm's stripe rings run); a rank with `in_stream` sends `out`
  // to its peer and receives `in` from it, cut into messages of `message_bytes`, in order,
  // two of each in flight.
  std::function<void(std::span<const std::byte> out, std::span<std::byte> in,
                     std::size_t message_bytes)>
      stream;
  int stream_pairs = 1;
  bool in_stream = false;
  // Every rank: the largest of the ranks' values.
  std::function<double(double)> max_over_ranks;
};

struct HostMeasurements {
  std::int64_t cores = 1;
  double ram_bytes = 0;
  double memory_bytes_per_s = 0;  // one thread, triad a = b + s c on arrays beyond cache
  bool p2p_measured = false;      // false with one rank: link figures are assumed
  std::string p2p_how;            // how the link figures were obtained
  HostCalibration calibration;
};

// The compute side (GEMM and stream classes at every thread count, the triad, the cache
// size) on the calling thread. Throws Error when a figure cannot be measured.
HostMeasurements measure_host_compute(const CalibrateOptions& options);
// The link over `endpoint`: collective over its ranks (every rank calls it). Throws
// InvalidArgument for fewer than two ranks or more ranks on a host than it has cores,
// Error when the repeats disagree.
LinkCurve measure_link(const LinkEndpoint& endpoint, const CalibrateOptions& options);
// Median single-thread bytes/s of a triad over arrays of `elems` floats.
double measure_triad_bytes_per_s(std::size_t elems, int repeats);
std::int64_t host_cores();
double host_ram_bytes();
// The largest CPU cache of this machine (sysfs), or 32 MiB if it does not say.
double host_cache_bytes();

// The `host` preset from measurements: node peak = median single-thread fp32 (bf16) GEMM
// point, "SRAM" = RAM / cores at the triad bandwidth, one link level of cores x 1 whose
// figures come from the MPI curve (8 B latency, 16 MiB bandwidth) or are assumed with one
// rank, and the full calibration attached (`host`). Calibrated across H hosts (a level-1
// MPI curve), a second level of H x 1 hosts with that curve's figures: the mesh is then
// the whole cluster, H x cores nodes, and a replica's host is its level-0 unit.
MeshSpec host_spec(const HostMeasurements& m);

}  // namespace dojo::accel
