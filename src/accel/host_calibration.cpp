#include "accel/host_calibration.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.hpp"

namespace dojo::accel {

namespace {

constexpr KernelClass kClasses[] = {
    KernelClass::kUnspecified, KernelClass::kGemm,      KernelClass::kElementwise,
    KernelClass::kTranscendental, KernelClass::kLayerNorm, KernelClass::kSoftmax,
    KernelClass::kAttention,   KernelClass::kReduction,   KernelClass::kAdamW};

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// Linear interpolation in log-log between the two points around `size`.
double log_interpolate(const std::vector<CurvePoint>& p, double size) {
  auto hi = std::lower_bound(p.begin(), p.end(), size,
                             [](const CurvePoint& a, double s) { return a.size < s; });
  if (hi == p.begin()) return hi->value;
  const auto lo = hi - 1;
  if (hi == p.end()) return lo->value;
  const double t = std::log(size / lo->size) / std::log(hi->size / lo->size);
  return std::exp(std::log(lo->value) + t * std::log(hi->value / lo->value));
}

double gemm_intensity(double m, double n, double k) {
  return m * n * k / (m * n + n * k + m * k);
}

struct NearPoint {
  double d2, rate;  // squared distance to the charged record, the point's rate
};

// The 3 nearest points, weight 1/d^2 (an exact match takes all the weight), averaged as
// time per unit of work, not as rates.
double inverse_distance_rate(std::vector<NearPoint> near) {
  // Stable: of equally near points the first measured wins.
  std::stable_sort(near.begin(), near.end(),
                   [](const NearPoint& a, const NearPoint& b) { return a.d2 < b.d2; });
  near.resize(std::min<std::size_t>(near.size(), 3));
  if (near.front().d2 < 1e-12) return near.front().rate;
  double weights = 0, inverse_rate = 0;
  for (const auto& q : near) {
    const double w = 1.0 / q.d2;
    weights += w;
    inverse_rate += w / q.rate;
  }
  return weights / inverse_rate;
}

double gemm_rate(const std::vector<GemmPoint>& points, const KernelRecord& r) {
  const double m = double(std::max<std::int64_t>(1, r.m)), n = double(std::max<std::int64_t>(1, r.n)),
               k = double(std::max<std::int64_t>(1, r.k));
  const bool batched = r.batch > 1;
  const auto eligible = [&](const GemmPoint& p, bool match_layout) {
    if ((p.batch > 1) != batched) return false;
    return !match_layout || (p.trans_a == r.trans_a && p.trans_b == r.trans_b);
  };
  const bool match_layout = std::any_of(points.begin(), points.end(),
                                        [&](const auto& p) { return eligible(p, true); });
  const bool any_batching = std::any_of(points.begin(), points.end(),
                                        [&](const auto& p) { return eligible(p, false); });
  const double x = std::log2(gemm_intensity(m, n, k));
  const double y = std::log2(std::max(1.0, r.flops));
  std::vector<NearPoint> near;
  for (const auto& p : points) {
    if (any_batching ? !eligible(p, match_layout) : false) continue;
    const double pm = double(p.m), pn = double(p.n), pk = double(p.k);
    const double px = std::log2(gemm_intensity(pm, pn, pk));
    const double py = std::log2(2.0 * pm * pn * pk * double(std::max<std::int64_t>(1, p.batch)));
    near.push_back({(px - x) * (px - x) + 0.25 * (py - y) * (py - y), p.flops_per_s});
  }
  DOJO_CHECK(!near.empty(), InvalidArgument, "host calibration has no GEMM rates for '{}'",
             r.name);
  return inverse_distance_rate(near);
}

double attention_rate(const std::vector<AttentionPoint>& points, const KernelRecord& r) {
  const double x = std::log2(double(std::max<std::int64_t>(1, r.m)));
  const double y = std::log2(double(std::max<std::int64_t>(1, r.k)));
  std::vector<NearPoint> near;
  const bool backward = r.name.ends_with(".backward");
  for (const auto& p : points) {
    if (p.backward != backward) continue;
    const double px = std::log2(double(p.tokens)), py = std::log2(double(p.head_dim));
    near.push_back({(px - x) * (px - x) + (py - y) * (py - y), p.flops_per_s});
  }
  DOJO_CHECK(!near.empty(), InvalidArgument,
             "the host preset has no fused attention rates ({}) for '{}'; it predates them: rerun "
             "`mpirun -np 2 dojo bench calibrate`",
             backward ? "backward" : "forward", r.name);
  return inverse_distance_rate(near);
}

// comm's ring over `n` ranks on `bytes`: 2(n-1) steps of chunk bytes/n in segments, each
// segment's transfer taking `exchange(segment bytes)`.
template <typename Exchange>
double ring_steps_s(double bytes, double n, double segment_bytes, Exchange exchange,
                    double reduce_s_per_byte) {
  const double chunk = bytes / n;
  const double segment = std::min(chunk, segment_bytes);
  const double segments = std::ceil(chunk / segment);
  const double transfer = exchange(segment);
  const double reduce = segment * reduce_s_per_byte;
  // Reduce-scatter: the sum of a segment overlaps the next one's exchange; the last
  // segment's sum is not hidden. All-gather: segments forwarded as they arrive.
  const double scatter = segments * std::max(transfer, reduce) + reduce;
  const double gather = segments * transfer;
  return (n - 1) * (scatter + gather);
}

double ring_s(const HostCalibration& h, std::string_view transport, double bytes, double n,
              bool cold, double reduce_s_per_byte) {
  return ring_steps_s(
      bytes, n, h.ring_segment_bytes, [&](double b) { return h.exchange_s(transport, b, cold); },
      reduce_s_per_byte);
}

double doubling_s(const HostCalibration& h, std::string_view transport, double bytes, double n,
                  bool cold, double reduce_s_per_byte) {
  const double p = std::exp2(std::floor(std::log2(n)));
  const double exchange = h.exchange_s(transport, bytes, cold);
  const double rounds = std::log2(p);
  // n - p extra ranks: one send in, one result back (each about an exchange).
  const double extra = n > p ? 2 * exchange + bytes * reduce_s_per_byte : 0;
  return rounds * (exchange + bytes * reduce_s_per_byte) + extra;
}

// Seconds per byte of comm's sum (add_into, add_in_order) on the communication thread:
// it reads two floats and writes one per element, the elementwise class at one thread.
double reduce_s_per_byte(const HostCalibration& h, double bytes) {
  KernelRecord add;
  add.name = "allreduce.sum";
  add.kind = KernelKind::kElementwise;
  add.kernel_class = KernelClass::kElementwise;
  add.bytes = 3.0 * bytes;
  return h.kernel_s(add, 1) / bytes;
}

// A host loop over `bytes` (a memcpy moves 2x its size) at the elementwise rate, one thread.
double stream_s(const HostCalibration& h, const char* name, double bytes) {
  KernelRecord r;
  r.name = name;
  r.kind = KernelKind::kElementwise;
  r.kernel_class = KernelClass::kElementwise;
  r.bytes = bytes;
  return h.kernel_s(r, 1);
}

// Recursive doubling over the ranks of `layout` (comm's pairing: doubling index i is rank
// 2i+1 for the first n-p, i+n-p after them). A round waits for its slowest exchange: level
// 0 where the partners share a host, level 1 with k streams where k ranks of a host cross.
double doubling_layout_s(const HostCalibration& h, std::string_view transport, double bytes,
                         HostLayout layout, bool cold, double reduce_s_per_byte) {
  const std::int64_t n = layout.ranks();
  std::int64_t p = 1;
  while (2 * p <= n) p *= 2;
  const std::int64_t extra = n - p;
  const auto host_of = [&](std::int64_t rank) { return rank / layout.ranks_per_host; };
  const auto rank_of_index = [&](std::int64_t i) { return i < extra ? 2 * i + 1 : i + extra; };
  // The round's time when the pairs (a[i], b[i]) exchange `bytes` at once.
  const auto round_s = [&](const std::vector<std::pair<std::int64_t, std::int64_t>>& pairs) {
    std::vector<std::int64_t> crossing(static_cast<std::size_t>(layout.hosts), 0);
    bool local = false;
    for (const auto& [a, b] : pairs) {
      if (host_of(a) == host_of(b)) {
        local = true;
      } else {
        ++crossing[static_cast<std::size_t>(host_of(a))];
      }
    }
    const auto k = *std::max_element(crossing.begin(), crossing.end());
    double t = local ? h.exchange_s(0, transport, bytes, cold) : 0.0;
    if (k > 0) t = std::max(t, h.exchange_s(1, transport, double(k) * bytes, cold));
    return t;
  };
  double total = 0;
  for (std::int64_t mask = 1; mask < p; mask *= 2) {
    std::vector<std::pair<std::int64_t, std::int64_t>> pairs;
    for (std::int64_t i = 0; i < p; ++i)
      pairs.emplace_back(rank_of_index(i), rank_of_index(i ^ mask));
    total += round_s(pairs) + bytes * reduce_s_per_byte;
  }
  if (extra > 0) {
    std::vector<std::pair<std::int64_t, std::int64_t>> pairs;
    for (std::int64_t i = 0; i < extra; ++i) pairs.emplace_back(2 * i, 2 * i + 1);
    total += 2 * round_s(pairs) + bytes * reduce_s_per_byte;
  }
  return total;
}

// Every step of a ring over all ranks waits for its cross-host edge (and, with several
// ranks per host, for the local ones too); `streamed`: segments in a stream.
double edge_s(const HostCalibration& h, std::string_view transport, HostLayout layout, double bytes,
              bool cold, bool streamed) {
  double t =
      streamed ? h.streamed_s(1, transport, bytes, cold) : h.exchange_s(1, transport, bytes, cold);
  if (layout.ranks_per_host > 1) t = std::max(t, h.exchange_s(0, transport, bytes, cold));
  return t;
}

// Seconds for one thread to stream `bytes` from memory: the elementwise class at its largest
// measured size (buffers far beyond the last-level cache).
double from_memory_s(const HostCalibration& h, double bytes) {
  for (const auto& s : h.threads.front().streams)
    if (s.kernel_class == KernelClass::kElementwise)
      return bytes / s.bytes_per_s.points.back().value;
  throw InvalidArgument(
      "host calibration has no one-thread elementwise rates, which the shm all-reduce's copies "
      "are charged by; rerun `mpirun -np 2 dojo bench calibrate`");
}

// comm's shared-memory phases on one host for a piece of `bytes`: copy in, the sum of this
// rank's chunk over the L slots, and (after `between`) the copy out, with three barriers.
// A copy reads or writes the rank's buffer, from memory when it is `cold`, and the slot,
// which the piece before left in cache.
double shm_piece_s(const HostCalibration& h, double bytes, double local, double between,
                   bool cold) {
  const double barrier = h.exchange_s(0, "mpi", 8, false);
  const double buffer = cold ? from_memory_s(h, bytes) : stream_s(h, "shm.buffer", bytes);
  return stream_s(h, "shm.copy_in", bytes) + buffer +
         stream_s(h, "shm.sum", (local + 1) * bytes / local) + between +
         stream_s(h, "shm.copy_out", bytes) + buffer + 3 * barrier;
}

// The measured curve of a library's own all-reduce (MPI_Allreduce for mpi, gloo::allreduce
// for gloo) when it was measured on `layout` (each curve is for its layout only), else null.
const Curve* measured_library_curve(const HostCalibration& h, HostAllreduce algo,
                                    HostLayout layout) {
  const Curve* c = algo == HostAllreduce::kMpi    ? &h.mpi_allreduce_s
                   : algo == HostAllreduce::kGloo ? &h.gloo_allreduce_s
                                                  : nullptr;
  const bool on_layout = h.hosts == layout.hosts && h.ranks_per_host == layout.ranks_per_host;
  return c != nullptr && !c->points.empty() && on_layout ? c : nullptr;
}

// `bytes` cut into slot-sized pieces, each taking piece_s(its bytes).
template <typename Piece>
double by_pieces_s(double bytes, double slot_bytes, Piece piece_s) {
  const double full = std::floor(bytes / slot_bytes);
  const double rest = bytes - full * slot_bytes;
  return full * piece_s(slot_bytes) + (rest > 0 ? piece_s(rest) : 0.0);
}

}  // namespace

KernelClass kernel_class_of(const KernelRecord& r) {
  if (r.kernel_class != KernelClass::kUnspecified) return r.kernel_class;
  switch (r.kind) {
    case KernelKind::kGemm:
      return KernelClass::kGemm;
    case KernelKind::kOptimizer:
      return KernelClass::kAdamW;
    case KernelKind::kAttention:
      return r.matmul_flops > 0 ? KernelClass::kAttention : KernelClass::kSoftmax;
    default:
      break;
  }
  if (starts_with(r.name, "layernorm")) return KernelClass::kLayerNorm;
  if (starts_with(r.name, "gelu")) return KernelClass::kTranscendental;
  return r.kind == KernelKind::kReduction ? KernelClass::kReduction : KernelClass::kElementwise;
}

const char* to_string(KernelClass c) {
  switch (c) {
    case KernelClass::kUnspecified:
      return "unspecified";
    case KernelClass::kGemm:
      return "gemm";
    case KernelClass::kElementwise:
      return "elementwise";
    case KernelClass::kTranscendental:
      return "transcendental";
    case KernelClass::kLayerNorm:
      return "layernorm";
    case KernelClass::kSoftmax:
      return "softmax";
    case KernelClass::kAttention:
      return "attention";
    case KernelClass::kReduction:
      return "reduction";
    case KernelClass::kAdamW:
      return "adamw";
  }
  return "?";
}

KernelClass parse_kernel_class(std::string_view name) {
  for (const auto c : kClasses)
    if (name == to_string(c)) return c;
  throw InvalidArgument(fmt::format(
      "unknown kernel class '{}' (expected gemm, elementwise, transcendental, layernorm, softmax, "
      "attention, reduction or adamw)",
      name));
}

const char* to_string(HostAllreduce algo) {
  switch (algo) {
    case HostAllreduce::kAuto:
      return "auto";
    case HostAllreduce::kRing:
      return "ring";
    case HostAllreduce::kRecursiveDoubling:
      return "recursive_doubling";
    case HostAllreduce::kMpi:
      return "mpi";
    case HostAllreduce::kGloo:
      return "gloo";
    case HostAllreduce::kShm:
      return "shm";
    case HostAllreduce::kHierarchical:
      return "hierarchical";
  }
  return "?";
}

HostAllreduce parse_host_allreduce(std::string_view name) {
  for (const auto a : {HostAllreduce::kAuto, HostAllreduce::kRing,
                       HostAllreduce::kRecursiveDoubling, HostAllreduce::kMpi, HostAllreduce::kGloo,
                       HostAllreduce::kShm, HostAllreduce::kHierarchical})
    if (name == to_string(a)) return a;
  if (name == "rd") return HostAllreduce::kRecursiveDoubling;  // comm's short name
  throw InvalidArgument(fmt::format(
      "unknown all-reduce algorithm '{}' (expected auto, ring, recursive_doubling, mpi, gloo, shm "
      "or hierarchical)",
      name));
}

double Curve::rate_at(double size) const {
  DOJO_CHECK(!points.empty(), InvalidArgument, "empty calibration curve");
  return log_interpolate(points, size);
}

double Curve::time_at(double size) const {
  DOJO_CHECK(!points.empty(), InvalidArgument, "empty calibration curve");
  const auto& last = points.back();
  if (size > last.size) return last.value * size / last.size;
  return log_interpolate(points, size);
}

double HostCalibration::kernel_s(const KernelRecord& record, int want_threads) const {
  DOJO_CHECK(!threads.empty(), InvalidArgument, "host calibration has no thread counts");
  const ThreadRates* rates = &threads.front();
  for (const auto& t : threads)
    if (t.threads <= want_threads) rates = &t;
  // Thread counts beyond the measured ones: the work splits in proportion.
  const double scale = want_threads > rates->threads ? double(rates->threads) / want_threads : 1.0;
  const KernelClass c = kernel_class_of(record);
  if (c == KernelClass::kGemm) {
    if (record.flops <= 0) return 0;
    const auto& points = record.precision == Precision::kBf16 && !rates->gemm_bf16.empty()
                             ? rates->gemm_bf16
                             : rates->gemm_fp32;
    return scale * record.flops / gemm_rate(points, record);
  }
  if (c == KernelClass::kAttention) {
    if (record.flops <= 0) return 0;
    const auto& points = record.precision == Precision::kBf16 && !rates->attention_bf16.empty()
                             ? rates->attention_bf16
                             : rates->attention_fp32;
    return scale * record.flops / attention_rate(points, record);
  }
  if (record.bytes <= 0) return 0;
  const StreamRates* stream = nullptr;
  for (const auto& s : rates->streams)
    if (s.kernel_class == c) stream = &s;
  DOJO_CHECK(stream != nullptr, InvalidArgument,
             "host calibration has no '{}' rates at {} threads (kernel '{}')", to_string(c),
             rates->threads, record.name);
  // A call costs at least the smallest measured call (start-up and thread fork).
  const auto& first = stream->bytes_per_s.points.front();
  const double floor_s = first.size / first.value;
  return scale * std::max(floor_s, record.bytes / stream->bytes_per_s.rate_at(record.bytes));
}

const LinkCurve* HostCalibration::link(int level, std::string_view transport) const {
  for (const auto& l : links)
    if (l.level == level && l.transport == transport) return &l;
  return nullptr;
}

double HostCalibration::exchange_s(std::string_view transport, double bytes, bool cold) const {
  const LinkCurve* l = link(0, transport);
  DOJO_CHECK(l != nullptr, InvalidArgument,
             "the host preset has no calibrated '{}' link between ranks; run `mpirun -np 2 dojo "
             "bench calibrate`",
             transport);
  return (cold ? l->cold_s : l->hot_s).time_at(std::max(1.0, bytes));
}

double HostCalibration::exchange_s(int level, std::string_view transport, double bytes,
                                   bool cold) const {
  if (level == 0) return exchange_s(transport, bytes, cold);
  const LinkCurve* l = link(level, transport);
  DOJO_CHECK(l != nullptr, InvalidArgument,
             "the host preset has no calibrated level-{} '{}' link between hosts; run `dojo "
             "bench calibrate` under mpirun with ranks on two hosts",
             level, transport);
  return (cold ? l->cold_s : l->hot_s).time_at(std::max(1.0, bytes));
}

double HostCalibration::streamed_s(int level, std::string_view transport, double bytes,
                                   bool cold) const {
  const LinkCurve* l = link(level, transport);
  if (l == nullptr || l->streamed_s.points.empty())
    return exchange_s(level, transport, bytes, cold);
  return l->streamed_s.time_at(std::max(1.0, bytes));
}

double host_allreduce_s(const HostCalibration& h, HostAllreduce algo, double bytes,
                        std::int64_t ranks) {
  DOJO_CHECK(ranks >= 1 && bytes >= 0, InvalidArgument,
             "all-reduce of {} bytes over {} ranks", bytes, ranks);
  if (algo == HostAllreduce::kShm || algo == HostAllreduce::kHierarchical)
    return host_allreduce_s(h, algo, bytes, HostLayout{1, ranks});
  if (ranks == 1 || bytes == 0) return 0;
  const bool cold = bytes > h.cache_bytes;
  const double reduce_s_per_byte = dojo::accel::reduce_s_per_byte(h, bytes);
  const double n = double(ranks);
  // comm's choose_algorithm on one host: recursive doubling below the threshold, shared
  // memory above it.
  if (algo == HostAllreduce::kAuto) {
    if (bytes >= h.auto_small_bytes) return host_allreduce_s(h, HostAllreduce::kShm, bytes, HostLayout{1, ranks});
    algo = HostAllreduce::kRecursiveDoubling;
  }
  if (const Curve* c = measured_library_curve(h, algo, HostLayout{1, ranks}))
    return c->time_at(bytes);
  switch (algo) {
    case HostAllreduce::kRing:
      return ring_s(h, "mpi", bytes, n, cold, reduce_s_per_byte);
    case HostAllreduce::kRecursiveDoubling:
      return doubling_s(h, "mpi", bytes, n, cold, reduce_s_per_byte);
    case HostAllreduce::kMpi: {
      // Open MPI's whole-buffer and chunked algorithms, unsegmented.
      const double chunk = bytes / n;
      const double ring = 2 * (n - 1) * h.exchange_s("mpi", chunk, cold) +
                          (n - 1) * chunk * reduce_s_per_byte;
      return std::min(doubling_s(h, "mpi", bytes, n, cold, reduce_s_per_byte), ring);
    }
    case HostAllreduce::kGloo: {
      const double chunk = bytes / n;
      return 2 * (n - 1) * h.exchange_s("gloo", chunk, cold) + (n - 1) * chunk * reduce_s_per_byte;
    }
    case HostAllreduce::kAuto:
    case HostAllreduce::kShm:
    case HostAllreduce::kHierarchical:
      break;
  }
  return 0;
}

double host_allreduce_s(const HostCalibration& h, HostAllreduce algo, double bytes,
                        HostLayout layout) {
  DOJO_CHECK(layout.hosts >= 1 && layout.ranks_per_host >= 1 && bytes >= 0, InvalidArgument,
             "all-reduce of {} bytes over {} hosts x {} ranks", bytes, layout.hosts,
             layout.ranks_per_host);
  const bool own_shm = algo == HostAllreduce::kShm || algo == HostAllreduce::kHierarchical;
  if (layout.hosts == 1 && !own_shm) return host_allreduce_s(h, algo, bytes, layout.ranks());
  DOJO_CHECK(layout.hosts == 1 || algo != HostAllreduce::kShm, InvalidArgument,
             "the shm all-reduce needs every rank on one host, the layout has {} hosts "
             "(hierarchical is its form across hosts)",
             layout.hosts);
  if (layout.ranks() == 1 || bytes == 0) return 0;
  const bool cold = bytes > h.cache_bytes;
  const double reduce = reduce_s_per_byte(h, bytes);
  const double hosts = double(layout.hosts), local = double(layout.ranks_per_host);
  const double n = double(layout.ranks());
  if (algo == HostAllreduce::kAuto) algo = HostAllreduce::kHierarchical;  // several hosts here
  if (const Curve* c = measured_library_curve(h, algo, layout)) return c->time_at(bytes);
  switch (algo) {
    case HostAllreduce::kRing:
      return ring_steps_s(
          bytes, n, h.ring_segment_bytes,
          [&](double b) { return edge_s(h, "mpi", layout, b, cold, true); }, reduce);
    case HostAllreduce::kRecursiveDoubling:
      return doubling_layout_s(h, "mpi", bytes, layout, cold, reduce);
    case HostAllreduce::kMpi: {
      const double chunk = bytes / n;
      const double ring =
          2 * (n - 1) * edge_s(h, "mpi", layout, chunk, cold, false) + (n - 1) * chunk * reduce;
      return std::min(doubling_layout_s(h, "mpi", bytes, layout, cold, reduce), ring);
    }
    case HostAllreduce::kGloo: {
      const double chunk = bytes / n;
      return 2 * (n - 1) * edge_s(h, "gloo", layout, chunk, cold, false) + (n - 1) * chunk * reduce;
    }
    case HostAllreduce::kShm:
      return by_pieces_s(bytes, h.shm_slot_bytes,
                         [&](double piece) { return shm_piece_s(h, piece, local, 0.0, cold); });
    case HostAllreduce::kHierarchical: {
      // The stripe rings across hosts, all L at once on the hosts' links.
      const auto across = [&](double chunk) {
        if (layout.hosts == 1) return 0.0;
        return ring_steps_s(
            chunk, hosts, h.ring_segment_bytes,
            [&](double b) { return h.streamed_s(1, "mpi", local * b, cold); }, reduce);
      };
      const double piece = h.hierarchical_piece_bytes;
      if (layout.ranks_per_host == 1) {
        return by_pieces_s(bytes, piece, [&](double p) { return across(p); });
      }
      // Pipelined: piece k crosses the hosts while piece k+1 is gathered and piece k-1
      // handed back (the shared-memory work of one piece: copy in, sum, copy out, three
      // barriers); the first gather and the last crossing stand alone.
      const auto size_of = [&](double k) { return std::min(piece, bytes - k * piece); };
      const double pieces = std::ceil(bytes / piece);
      double t = shm_piece_s(h, size_of(0), local, 0.0, cold);
      for (double k = 0; k + 1 < pieces; ++k) {
        t += std::max(across(size_of(k) / local), shm_piece_s(h, size_of(k + 1), local, 0.0, cold));
      }
      return t + across(size_of(pieces - 1) / local);
    }
    case HostAllreduce::kAuto:
      break;
  }
  return 0;
}

}  // namespace dojo::accel
