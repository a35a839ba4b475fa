#include "accel/host_calibration.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "core/error.hpp"

namespace dojo::accel {

namespace {

using nlohmann::json;

constexpr KernelClass kClasses[] = {
    KernelClass::kUnspecified, KernelClass::kGemm,      KernelClass::kElementwise,
    KernelClass::kTranscendental, KernelClass::kLayerNorm, KernelClass::kSoftmax,
    KernelClass::kReduction,   KernelClass::kAdamW};

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

// Inverse-distance weighted FLOP/s of the points nearest to the record's features.
double gemm_rate(const std::vector<GemmPoint>& points, const KernelRecord& r) {
  const double m = double(std::max<std::int64_t>(1, r.m)), n = double(std::max<std::int64_t>(1, r.n)),
               k = double(std::max<std::int64_t>(1, r.k));
  const bool batched = r.batch > 1;
  const bool layout_known = r.kernel_class != KernelClass::kUnspecified;
  const auto eligible = [&](const GemmPoint& p, bool match_layout) {
    if ((p.batch > 1) != batched) return false;
    return !match_layout || (p.trans_a == r.trans_a && p.trans_b == r.trans_b);
  };
  bool match_layout = layout_known && std::any_of(points.begin(), points.end(), [&](const auto& p) {
                        return eligible(p, true);
                      });
  const bool any_batching = std::any_of(points.begin(), points.end(),
                                        [&](const auto& p) { return eligible(p, false); });
  const double x = std::log2(gemm_intensity(m, n, k));
  const double y = std::log2(std::max(1.0, r.flops));
  // The 3 nearest, weight 1/d^2 (an exact match takes all the weight).
  struct Near {
    double d2, rate;
  };
  std::vector<Near> near;
  for (const auto& p : points) {
    if (any_batching ? !eligible(p, match_layout) : false) continue;
    const double pm = double(p.m), pn = double(p.n), pk = double(p.k);
    const double px = std::log2(gemm_intensity(pm, pn, pk));
    const double py = std::log2(2.0 * pm * pn * pk * double(std::max<std::int64_t>(1, p.batch)));
    near.push_back({(px - x) * (px - x) + 0.25 * (py - y) * (py - y), p.flops_per_s});
  }
  DOJO_CHECK(!near.empty(), InvalidArgument, "host calibration has no GEMM rates for '{}'",
             r.name);
  std::sort(near.begin(), near.end(), [](const Near& a, const Near& b) { return a.d2 < b.d2; });
  near.resize(std::min<std::size_t>(near.size(), 3));
  if (near.front().d2 < 1e-12) return near.front().rate;
  double weights = 0, inverse_rate = 0;
  for (const auto& q : near) {
    const double w = 1.0 / q.d2;
    weights += w;
    inverse_rate += w / q.rate;  // average time per flop, not rate
  }
  return weights / inverse_rate;
}

json curve_json(const Curve& c) {
  json out = json::array();
  for (const auto& p : c.points) out.push_back({p.size, p.value});
  return out;
}

Curve curve_from_json(const json& j, const std::string& where, const std::string& origin) {
  DOJO_CHECK(j.is_array() && !j.empty(), FormatError,
             "{}: '{}' must be a non-empty list of [size, value]", origin, where);
  Curve c;
  for (const auto& p : j) {
    DOJO_CHECK(p.is_array() && p.size() == 2 && p[0].is_number() && p[1].is_number() &&
                   p[0].get<double>() > 0 && p[1].get<double>() > 0 &&
                   std::isfinite(p[1].get<double>()),
               FormatError, "{}: '{}' has point {}, expected [size > 0, value > 0]", origin, where,
               p.dump());
    const CurvePoint point{p[0].get<double>(), p[1].get<double>()};
    DOJO_CHECK(c.points.empty() || point.size > c.points.back().size, FormatError,
               "{}: '{}' sizes must increase, got {} after {}", origin, where, point.size,
               c.points.back().size);
    c.points.push_back(point);
  }
  return c;
}

double get_number(const json& j, const char* key, const std::string& where,
                  const std::string& origin) {
  DOJO_CHECK(j.contains(key) && j.at(key).is_number(), FormatError,
             "{}: '{}.{}' must be a number", origin, where, key);
  return j.at(key).get<double>();
}

json gemm_json(const std::vector<GemmPoint>& points) {
  json out = json::array();
  for (const auto& p : points)
    out.push_back({p.m, p.n, p.k, p.batch, int(p.trans_a), int(p.trans_b), p.flops_per_s});
  return out;
}

std::vector<GemmPoint> gemm_from_json(const json& j, const std::string& where,
                                      const std::string& origin) {
  DOJO_CHECK(j.is_array(), FormatError, "{}: '{}' must be a list", origin, where);
  std::vector<GemmPoint> out;
  for (const auto& p : j) {
    DOJO_CHECK(p.is_array() && p.size() == 7 &&
                   std::all_of(p.begin(), p.end(), [](const json& v) { return v.is_number(); }),
               FormatError,
               "{}: '{}' has {}, expected [m, n, k, batch, trans_a, trans_b, flops_per_s]", origin,
               where, p.dump());
    GemmPoint g{p[0].get<std::int64_t>(), p[1].get<std::int64_t>(), p[2].get<std::int64_t>(),
                p[3].get<std::int64_t>(),  p[4].get<int>() != 0,     p[5].get<int>() != 0,
                p[6].get<double>()};
    DOJO_CHECK(g.m > 0 && g.n > 0 && g.k > 0 && g.batch > 0 && g.flops_per_s > 0, FormatError,
               "{}: '{}' has {}: sizes and rate must be positive", origin, where, p.dump());
    out.push_back(g);
  }
  return out;
}

double ring_s(const HostCalibration& h, std::string_view transport, double bytes, double n,
              bool cold, double reduce_s_per_byte) {
  const double chunk = bytes / n;
  const double segment = std::min(chunk, h.ring_segment_bytes);
  const double segments = std::ceil(chunk / segment);
  const double exchange = h.exchange_s(transport, segment, cold);
  const double reduce = segment * reduce_s_per_byte;
  // Reduce-scatter: the sum of a segment overlaps the next one's exchange; the last
  // segment's sum is not hidden. All-gather: segments forwarded as they arrive.
  const double scatter = segments * std::max(exchange, reduce) + reduce;
  const double gather = segments * exchange;
  return (n - 1) * (scatter + gather);
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

}  // namespace

KernelClass kernel_class_of(const KernelRecord& r) {
  if (r.kernel_class != KernelClass::kUnspecified) return r.kernel_class;
  switch (r.kind) {
    case KernelKind::kGemm:
      return KernelClass::kGemm;
    case KernelKind::kOptimizer:
      return KernelClass::kAdamW;
    case KernelKind::kAttention:
      return KernelClass::kSoftmax;
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
      "reduction or adamw)",
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
  }
  return "?";
}

HostAllreduce parse_host_allreduce(std::string_view name) {
  for (const auto a : {HostAllreduce::kAuto, HostAllreduce::kRing,
                       HostAllreduce::kRecursiveDoubling, HostAllreduce::kMpi, HostAllreduce::kGloo})
    if (name == to_string(a)) return a;
  throw InvalidArgument(fmt::format(
      "unknown all-reduce algorithm '{}' (expected auto, ring, recursive_doubling, mpi or gloo)",
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

double host_allreduce_s(const HostCalibration& h, HostAllreduce algo, double bytes,
                        std::int64_t ranks) {
  DOJO_CHECK(ranks >= 1 && bytes >= 0, InvalidArgument,
             "all-reduce of {} bytes over {} ranks", bytes, ranks);
  if (ranks == 1 || bytes == 0) return 0;
  const bool cold = bytes > h.cache_bytes;
  // The sum reads two floats and writes one per element: the elementwise class at one
  // thread (GradSync's communication thread).
  KernelRecord add;
  add.name = "allreduce.sum";
  add.kind = KernelKind::kElementwise;
  add.kernel_class = KernelClass::kElementwise;
  add.bytes = 3.0 * bytes;
  const double reduce_s_per_byte = h.kernel_s(add, 1) / bytes;
  const double n = double(ranks);
  if (algo == HostAllreduce::kAuto) algo = bytes < h.auto_small_bytes ? HostAllreduce::kMpi : HostAllreduce::kRing;
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
      break;
  }
  return 0;
}

json to_json(const HostCalibration& h) {
  json threads = json::array();
  for (const auto& t : h.threads) {
    json streams = json::object();
    for (const auto& s : t.streams) streams[to_string(s.kernel_class)] = curve_json(s.bytes_per_s);
    threads.push_back({{"threads", t.threads},
                       {"gemm_fp32", gemm_json(t.gemm_fp32)},
                       {"gemm_bf16", gemm_json(t.gemm_bf16)},
                       {"streams_bytes_per_s", streams}});
  }
  json links = json::array();
  for (const auto& l : h.links)
    links.push_back({{"level", l.level},
                     {"transport", l.transport},
                     {"hot_s", curve_json(l.hot_s)},
                     {"cold_s", curve_json(l.cold_s)}});
  return {{"threads", threads},
          {"links", links},
          {"cache_bytes", h.cache_bytes},
          {"ring_segment_bytes", h.ring_segment_bytes},
          {"auto_small_bytes", h.auto_small_bytes}};
}

HostCalibration host_calibration_from_json(const json& j, const std::string& origin) {
  DOJO_CHECK(j.is_object(), FormatError, "{}: 'host_calibration' must be a map", origin);
  for (const auto& [key, value] : j.items()) {
    DOJO_CHECK(key == "threads" || key == "links" || key == "cache_bytes" ||
                   key == "ring_segment_bytes" || key == "auto_small_bytes",
               FormatError, "{}: unknown key 'host_calibration.{}'", origin, key);
  }
  HostCalibration h;
  h.cache_bytes = get_number(j, "cache_bytes", "host_calibration", origin);
  h.ring_segment_bytes = get_number(j, "ring_segment_bytes", "host_calibration", origin);
  h.auto_small_bytes = get_number(j, "auto_small_bytes", "host_calibration", origin);
  DOJO_CHECK(j.contains("threads") && j.at("threads").is_array() && !j.at("threads").empty(),
             FormatError, "{}: 'host_calibration.threads' must be a non-empty list", origin);
  for (std::size_t i = 0; i < j.at("threads").size(); ++i) {
    const auto& t = j.at("threads")[i];
    const auto where = fmt::format("host_calibration.threads[{}]", i);
    ThreadRates rates;
    rates.threads = static_cast<int>(get_number(t, "threads", where, origin));
    DOJO_CHECK(rates.threads >= 1 && (h.threads.empty() || rates.threads > h.threads.back().threads),
               FormatError, "{}: '{}.threads' must be >= 1 and ascending, got {}", origin, where,
               rates.threads);
    DOJO_CHECK(t.contains("gemm_fp32") && t.contains("gemm_bf16") &&
                   t.contains("streams_bytes_per_s"),
               FormatError, "{}: '{}' needs gemm_fp32, gemm_bf16 and streams_bytes_per_s", origin,
               where);
    rates.gemm_fp32 = gemm_from_json(t.at("gemm_fp32"), where + ".gemm_fp32", origin);
    rates.gemm_bf16 = gemm_from_json(t.at("gemm_bf16"), where + ".gemm_bf16", origin);
    DOJO_CHECK(!rates.gemm_fp32.empty(), FormatError, "{}: '{}.gemm_fp32' is empty", origin,
               where);
    for (const auto& [name, curve] : t.at("streams_bytes_per_s").items()) {
      KernelClass c;
      try {
        c = parse_kernel_class(name);
      } catch (const InvalidArgument& e) {
        throw FormatError(fmt::format("{}: '{}.streams_bytes_per_s': {}", origin, where, e.what()));
      }
      rates.streams.push_back({c, curve_from_json(curve, where + ".streams_bytes_per_s." + name,
                                                  origin)});
    }
    h.threads.push_back(std::move(rates));
  }
  if (j.contains("links")) {
    DOJO_CHECK(j.at("links").is_array(), FormatError, "{}: 'host_calibration.links' must be a list",
               origin);
    for (std::size_t i = 0; i < j.at("links").size(); ++i) {
      const auto& l = j.at("links")[i];
      const auto where = fmt::format("host_calibration.links[{}]", i);
      DOJO_CHECK(l.contains("transport") && l.at("transport").is_string() && l.contains("hot_s") &&
                     l.contains("cold_s"),
                 FormatError, "{}: '{}' needs transport, hot_s and cold_s", origin, where);
      LinkCurve curve;
      curve.level = static_cast<int>(get_number(l, "level", where, origin));
      curve.transport = l.at("transport").get<std::string>();
      curve.hot_s = curve_from_json(l.at("hot_s"), where + ".hot_s", origin);
      curve.cold_s = curve_from_json(l.at("cold_s"), where + ".cold_s", origin);
      h.links.push_back(std::move(curve));
    }
  }
  return h;
}

}  // namespace dojo::accel
