#pragma once
// Calibrating the `host` preset: this machine as a one-level mesh whose nodes are its
// cores. A node's peak is the measured single-thread OpenBLAS sgemm rate, its "SRAM" is
// its share of the machine's RAM at the measured single-thread memory bandwidth (so the
// roofline is the host's own), and links are the measured point-to-point latency and
// bandwidth between two ranks. Measuring between ranks needs a communicator, which accel
// does not see: the CLI (`dojo bench calibrate`) measures that part and passes it in.
#include <cstdint>
#include <string>

#include "accel/mesh_spec.hpp"

namespace dojo::accel {

struct HostMeasurements {
  std::int64_t cores = 1;
  double ram_bytes = 0;
  std::int64_t gemm_n = 0;        // square sgemm size measured
  double gemm_flops_per_s = 0;    // one thread
  double memory_bytes_per_s = 0;  // one thread, triad a = b + s c on arrays beyond cache
  double vector_flops_per_s = 0;  // one thread, non-GEMM kernels (see below)
  bool p2p_measured = false;      // false with one rank: link figures are assumed
  double p2p_latency_s = 0;       // half a small-message round trip
  double p2p_bytes_per_s = 0;     // one direction, large messages
  std::string p2p_how;            // how the link figures were obtained
};

// Median single-thread sgemm FLOP/s of C = A B with n x n matrices over `repeats` runs.
double measure_sgemm_flops_per_s(std::int64_t n, int repeats);
// Median single-thread bytes/s of a triad over arrays of `elems` floats (3 x 4 bytes per
// element: two loads and a store).
double measure_triad_bytes_per_s(std::size_t elems, int repeats);
// Median single-thread FLOP/s of non-GEMM work: GELU (erf), row softmax (exp) and
// LayerNorm loops over `elems` floats, flops counted as accel::Device counts them (10, 5
// and 8 per element).
double measure_vector_flops_per_s(std::size_t elems, int repeats);
// Cores and RAM of this machine.
std::int64_t host_cores();
double host_ram_bytes();

// The `host` preset from measurements.
MeshSpec host_spec(const HostMeasurements& m);

}  // namespace dojo::accel
