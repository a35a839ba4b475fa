#pragma once
// HostCalibration: what `dojo bench calibrate` measured on this machine, kernel class by
// kernel class, and how a kernel record or a collective is charged from it.
//
// Words:
//   class      what a kernel's cost scales with and how fast the host runs it: GEMMs by
//              shape and precision; streaming kernels (elementwise, GELU, LayerNorm,
//              softmax, reductions, AdamW) by the bytes they move. A KernelRecord names its
//              class (KernelRecord::kernel_class); records that leave it kUnspecified get
//              one from their kind and name (kernel_class_of).
//   threads    a host replica on N nodes (cores) runs every kernel with N threads, so each
//              class is measured at every thread count the host uses (1 .. cores).
//   curve      a measured function of a size, as points (size, value) sorted by size;
//              between points it is interpolated linearly in log(size)-log(value); below
//              the first point a *time* stays at the first point's (a call costs at least
//              its start-up), a *rate* stays at the first point's; above the last, a rate
//              stays at the last point's and a time grows in proportion to the size.
//   GEMM point one measured GEMM: its shape, batch and transposes, and its FLOP/s. A GEMM
//              record is charged at the rate of the points nearest in (log2 of its
//              intensity m n k / (m n + n k + m k), log2 of its FLOPs), weighted by inverse
//              distance, among the points of the same precision, thread count, batching
//              and transposes (any transposes if none match). The transposes stand for
//              the model's three calls: A B^T with a bias (a layer's forward), A B (its
//              input gradient), A^T B accumulated into C (its weight gradient).
//   attention point  the fused attention kernel (Device::attention_forward or _backward)
//              measured at one shape: tokens T, head width h, sequences x heads B; its
//              FLOP/s as the kernel reports them (products and softmax). An attention
//              record (m = n = T, k = h, batch = B) is charged at the rate of the points
//              of its direction nearest in (log2 T, log2 h), weighted by inverse distance.
//   link       one transport between two ranks (MPI shared memory, gloo TCP, ...) at one
//              level of the machine (0: two ranks on one host; 1: two ranks on different
//              hosts, one pair alone on the hosts' link): the seconds to exchange `bytes`
//              both ways at once, with buffers in cache (`hot`) and streaming from memory
//              (`cold`). Between hosts also `streamed`: the seconds per message round
//              when messages go both ways back to back, two in flight, between every local
//              rank of one host and its peer on the other at once (comm's stripe rings),
//              `bytes` being what all of them put on the link per round. Over TCP through a
//              rate-capped link a lone message of a MiB is slower per byte than messages in
//              streams (measured at 1 Gbit/s: 68 MB/s alone, 82 in one stream).
//   layout     where an all-reduce's ranks sit: H hosts of L ranks each, rank r on host
//              r / L (Open MPI's by-slot mapping, `--map-by ppr:L:node`). A calibration
//              records the layout it was measured on (`hosts`, `ranks_per_host`).
//   streams    k ranks of one host sending across hosts at once share its link: k
//              messages of b bytes each take as long as one of k b bytes alone.
// The host all-reduce is predicted per algorithm and layout from these (host_allreduce_s).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "accel/cost_sink.hpp"

namespace dojo::accel {

// The class a record is charged by: its own kernel_class, or else derived from its kind
// (kGemm, kOptimizer -> kAdamW, kAttention -> kAttention when it has products
// (matmul_flops > 0: the fused kernel), else kSoftmax) and name ("layernorm*", "gelu*");
// other reductions kReduction, the rest kElementwise.
KernelClass kernel_class_of(const KernelRecord& record);
const char* to_string(KernelClass kernel_class);
// Throws InvalidArgument naming the value for an unknown name.
KernelClass parse_kernel_class(std::string_view name);

struct CurvePoint {
  double size = 0;
  double value = 0;
};

struct Curve {
  std::vector<CurvePoint> points;  // sorted by size, sizes and values > 0
  // The curve's value as a rate at `size` (see "curve" above).
  double rate_at(double size) const;
  // The curve's value as a time at `size`.
  double time_at(double size) const;
};

struct GemmPoint {
  std::int64_t m = 0, n = 0, k = 0, batch = 1;
  bool trans_a = false, trans_b = false;
  double flops_per_s = 0;
};

struct AttentionPoint {
  // batch: sequences x heads, as measured (a record's batch does not pick the point).
  std::int64_t tokens = 0, head_dim = 0, batch = 1;
  bool backward = false;
  double flops_per_s = 0;
};

struct StreamRates {
  KernelClass kernel_class = KernelClass::kElementwise;
  Curve bytes_per_s;  // size: the record's bytes; value: bytes per second
};

// Every class measured with one thread count.
struct ThreadRates {
  int threads = 1;
  std::vector<GemmPoint> gemm_fp32, gemm_bf16;
  std::vector<AttentionPoint> attention_fp32, attention_bf16;
  std::vector<StreamRates> streams;
};

struct LinkCurve {
  int level = 0;          // 0: ranks on one host, 1: ranks on different hosts
  std::string transport;  // "mpi", "gloo"
  Curve hot_s;            // size: bytes each way; value: seconds
  Curve cold_s;
  Curve streamed_s;  // level 1: seconds per message in a stream (may be empty)
};

// The all-reduce algorithms of comm (comm/allreduce.hpp), as the host predicts them.
enum class HostAllreduce { kAuto, kRing, kRecursiveDoubling, kMpi, kGloo, kShm, kHierarchical };
const char* to_string(HostAllreduce algo);
HostAllreduce parse_host_allreduce(std::string_view name);

// See "layout" above.
struct HostLayout {
  std::int64_t hosts = 1;
  std::int64_t ranks_per_host = 1;
  std::int64_t ranks() const { return hosts * ranks_per_host; }
};

struct HostCalibration {
  std::vector<ThreadRates> threads;  // ascending thread counts
  std::vector<LinkCurve> links;
  double cache_bytes = 0;  // a buffer up to this size stays in cache between uses
  // comm's ring all-reduce segment and its auto-selection threshold (comm/allreduce.cpp).
  double ring_segment_bytes = 1 << 20;
  double auto_small_bytes = 256 << 10;
  // comm's shared-memory slot (allreduce_shm.hpp): the piece a host reduces at a time.
  double shm_slot_bytes = 8 << 20;
  // comm's hierarchical piece (allreduce_hierarchical.hpp): pipelined, a piece crosses the
  // hosts while the next is gathered and the one before handed back.
  double hierarchical_piece_bytes = 4 << 20;
  // The layout the links were measured on (one host unless calibrated across hosts).
  std::int64_t hosts = 1;
  std::int64_t ranks_per_host = 0;  // 0: not recorded (files written before it was)
  // Open MPI's own MPI_Allreduce (comm's `mpi` algorithm) measured on the calibrated
  // layout (hosts x ranks_per_host), size: bytes per rank, value: seconds. Which algorithm
  // Open MPI's tuned component runs is its own choice, so the library is measured as a
  // black box at sizes 2^13, 2^15, ... and interpolated (may be empty).
  Curve mpi_allreduce_s;
  // gloo's own all-reduce (comm's `gloo` algorithm, gloo::allreduce's ring) measured the
  // same way, when calibrate ran with a gloo communicator (may be empty). Its time is not
  // its point-to-point curve's: on a 2-core VM it has a floor of about 4 ms, a timed
  // wake-up of gloo's TCP loop (docs/mesh-model.md).
  Curve gloo_allreduce_s;

  // Seconds the host takes for `record` on `threads` threads (the nearest measured count
  // at or below, scaled by the ratio for counts beyond the last).
  double kernel_s(const KernelRecord& record, int threads) const;
  const LinkCurve* link(int level, std::string_view transport) const;
  // Exchange time of `bytes` both ways between two ranks of one host over `transport`;
  // `cold` picks the from-memory curve.
  double exchange_s(std::string_view transport, double bytes, bool cold) const;
  // The same at `level` (1: between hosts). Throws InvalidArgument naming the level and
  // transport when they were not calibrated.
  double exchange_s(int level, std::string_view transport, double bytes, bool cold) const;
  // Seconds per message of `bytes` streamed both ways at `level` (the streamed curve where
  // measured, else exchange_s).
  double streamed_s(int level, std::string_view transport, double bytes, bool cold) const;
};

// Seconds for an all-reduce of `bytes` per rank among `ranks` ranks of one host, each rank
// summing with one thread. ring: 2(n-1) steps of chunk c = bytes/n moved in segments, the
// sum of each reduce-scatter segment overlapped with the next segment's exchange;
// recursive doubling: log2(p) exchanges of the whole buffer, each followed by its sum (plus
// a send and a return when n is not a power of two); mpi: the measured mpi_allreduce_s
// curve where the calibration has one for this layout, else the cheaper of the two over
// MPI (what Open MPI's tuned all-reduce chooses between); gloo: likewise its measured
// gloo_allreduce_s curve, else the ring over the gloo transport; auto: what comm's
// choose_algorithm picks (recursive doubling below auto_small_bytes, shm above). Buffers
// larger than cache_bytes use the links' cold curves. Throws InvalidArgument if the
// transport was not calibrated.
// shm and hierarchical (one host: the same thing) are host_allreduce_s of the layout
// {1, ranks} below.
double host_allreduce_s(const HostCalibration& host, HostAllreduce algo, double bytes,
                        std::int64_t ranks);

// The same for ranks on `layout.hosts` hosts (one host: exactly the function above, except
// for shm and hierarchical). Every step waits for its slowest transfer, and k ranks of a
// host sending across hosts at once share the host's link ("streams" above):
//   ring    comm's ring over all H L ranks in rank order: H of its edges cross hosts, one
//           stream each way per host link, so each segment's exchange is the level-1
//           streamed one;
//   recursive_doubling  rounds whose partners are on one host exchange at level 0, the
//           others at level 1 with every rank of the host crossing at once;
//   mpi     the measured curve on its layout, else the cheaper of those two, unsegmented
//           (as on one host);
//   gloo    the ring over the gloo transport at level 1;
//   shm     one host only: per slot-sized piece P, every rank copies P in (P into the
//           slot at the elementwise rate, P of its buffer at the from-memory rate when the
//           buffer exceeds cache_bytes), sums its chunk P/L of the L slots ((L+1) P/L
//           bytes), copies P out (the same two sides), and three shared-memory barriers (a
//           level-0 8-byte exchange each);
//   hierarchical  per piece: the shm copy in and chunk sum, then the L stripe rings across
//           H hosts at once (comm's ring on chunk P/L, each segment exchange the level-1
//           streamed time of L segments), then the copy out and the barriers; with one rank
//           per host
//           just the ring across hosts on each piece;
//   auto    comm's choose_algorithm: hierarchical across hosts, otherwise as above.
// Throws InvalidArgument for shm across hosts and when a level or transport needed was not
// calibrated.
double host_allreduce_s(const HostCalibration& host, HostAllreduce algo, double bytes,
                        HostLayout layout);

nlohmann::json to_json(const HostCalibration& host);
// `origin` names the file in FormatErrors.
HostCalibration host_calibration_from_json(const nlohmann::json& json, const std::string& origin);

}  // namespace dojo::accel
