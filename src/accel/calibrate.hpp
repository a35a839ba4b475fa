#pragma once
// Calibrating the `host` preset: this machine as a one-level mesh whose nodes are its
// cores. A node's peak is the measured single-thread GEMM rate of the host Device, its "SRAM" is
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
  double gemm_flops_per_s = 0;    // one thread
  double memory_bytes_per_s = 0;  // one thread, triad a = b + s c on arrays beyond cache
  double vector_flops_per_s = 0;  // one thread, non-GEMM kernels (see below)
  bool p2p_measured = false;      // false with one rank: link figures are assumed
  double p2p_latency_s = 0;       // half a small-message round trip
  double p2p_bytes_per_s = 0;     // one direction, large messages
  std::string p2p_how;            // how the link figures were obtained
};

// All rates are per second of the measuring thread's CPU time, so that a busy machine
// (other processes taking the core) does not lower them.
// Single-thread FLOP/s of the host Device's fp32 GEMM (oneDNN) on transformer-layer
// shapes: for d in {128, 256, 512}, (4096 x d) times (d x d), (d x 4d) and (4d x d)
// (tokens x width: projections and the MLP). Each shape's median over `repeats` runs; the
// result is the median over the shapes. Not this project's model's shapes: a generic set.
double measure_gemm_flops_per_s(int repeats);
// Median single-thread bytes/s of a triad over arrays of `elems` floats (3 x 4 bytes per
// element: two loads and a store).
double measure_triad_bytes_per_s(std::size_t elems, int repeats);
// Median single-thread FLOP/s of non-GEMM work: the host Device's GELU, softmax and
// LayerNorm kernels (forward and backward) over `elems` floats in rows of 256, flops as
// the Device reports them.
double measure_vector_flops_per_s(std::size_t elems, int repeats);
// Cores and RAM of this machine.
std::int64_t host_cores();
double host_ram_bytes();

// The `host` preset from measurements.
MeshSpec host_spec(const HostMeasurements& m);

}  // namespace dojo::accel
