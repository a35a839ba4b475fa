// The host calibration's file form: the `host_calibration` map of a host preset
// (configs/mesh/host.yaml), written by `dojo bench calibrate` and checked field by field on
// reading, so a damaged or older file is refused naming its key.
#include "accel/host_calibration.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.hpp"

namespace dojo::accel {
namespace {

using nlohmann::json;

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

json attention_json(const std::vector<AttentionPoint>& points) {
  json out = json::array();
  for (const auto& p : points)
    out.push_back({p.tokens, p.head_dim, p.batch, int(p.backward), p.flops_per_s});
  return out;
}

std::vector<AttentionPoint> attention_from_json(const json& j, const std::string& where,
                                                const std::string& origin) {
  DOJO_CHECK(j.is_array(), FormatError, "{}: '{}' must be a list", origin, where);
  std::vector<AttentionPoint> out;
  for (const auto& p : j) {
    DOJO_CHECK(p.is_array() && p.size() == 5 &&
                   std::all_of(p.begin(), p.end(), [](const json& v) { return v.is_number(); }),
               FormatError,
               "{}: '{}' has {}, expected [tokens, head_dim, batch, backward, flops_per_s]",
               origin, where, p.dump());
    AttentionPoint a{p[0].get<std::int64_t>(), p[1].get<std::int64_t>(),
                     p[2].get<std::int64_t>(), p[3].get<int>() != 0, p[4].get<double>()};
    DOJO_CHECK(a.tokens > 0 && a.head_dim > 0 && a.batch > 0 && a.flops_per_s > 0, FormatError,
               "{}: '{}' has {}: sizes and rate must be positive", origin, where, p.dump());
    out.push_back(a);
  }
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

}  // namespace

json to_json(const HostCalibration& h) {
  json threads = json::array();
  for (const auto& t : h.threads) {
    json streams = json::object();
    for (const auto& s : t.streams) streams[to_string(s.kernel_class)] = curve_json(s.bytes_per_s);
    threads.push_back({{"threads", t.threads},
                       {"gemm_fp32", gemm_json(t.gemm_fp32)},
                       {"gemm_bf16", gemm_json(t.gemm_bf16)},
                       {"attention_fp32", attention_json(t.attention_fp32)},
                       {"attention_bf16", attention_json(t.attention_bf16)},
                       {"streams_bytes_per_s", streams}});
  }
  json links = json::array();
  for (const auto& l : h.links) {
    json link = {{"level", l.level},
                 {"transport", l.transport},
                 {"hot_s", curve_json(l.hot_s)},
                 {"cold_s", curve_json(l.cold_s)}};
    if (!l.streamed_s.points.empty()) link["streamed_s"] = curve_json(l.streamed_s);
    links.push_back(std::move(link));
  }
  json out = {{"threads", threads},
          {"links", links},
          {"cache_bytes", h.cache_bytes},
          {"ring_segment_bytes", h.ring_segment_bytes},
          {"auto_small_bytes", h.auto_small_bytes},
          {"shm_slot_bytes", h.shm_slot_bytes},
          {"hierarchical_piece_bytes", h.hierarchical_piece_bytes},
          {"hosts", h.hosts},
          {"ranks_per_host", h.ranks_per_host}};
  if (!h.mpi_allreduce_s.points.empty()) out["mpi_allreduce_s"] = curve_json(h.mpi_allreduce_s);
  if (!h.gloo_allreduce_s.points.empty())
    out["gloo_allreduce_s"] = curve_json(h.gloo_allreduce_s);
  return out;
}

HostCalibration host_calibration_from_json(const json& j, const std::string& origin) {
  DOJO_CHECK(j.is_object(), FormatError, "{}: 'host_calibration' must be a map", origin);
  for (const auto& [key, value] : j.items()) {
    DOJO_CHECK(key == "threads" || key == "links" || key == "cache_bytes" ||
                   key == "ring_segment_bytes" || key == "auto_small_bytes" ||
                   key == "shm_slot_bytes" || key == "hierarchical_piece_bytes" ||
                   key == "hosts" || key == "ranks_per_host" || key == "mpi_allreduce_s" ||
                   key == "gloo_allreduce_s",
               FormatError, "{}: unknown key 'host_calibration.{}'", origin, key);
  }
  HostCalibration h;
  h.cache_bytes = get_number(j, "cache_bytes", "host_calibration", origin);
  h.ring_segment_bytes = get_number(j, "ring_segment_bytes", "host_calibration", origin);
  h.auto_small_bytes = get_number(j, "auto_small_bytes", "host_calibration", origin);
  // Written since two-level presets (a one-host file without them: one host, 8 MiB slots).
  if (j.contains("shm_slot_bytes"))
    h.shm_slot_bytes = get_number(j, "shm_slot_bytes", "host_calibration", origin);
  if (j.contains("hierarchical_piece_bytes"))
    h.hierarchical_piece_bytes =
        get_number(j, "hierarchical_piece_bytes", "host_calibration", origin);
  if (j.contains("hosts"))
    h.hosts = static_cast<std::int64_t>(get_number(j, "hosts", "host_calibration", origin));
  if (j.contains("ranks_per_host"))
    h.ranks_per_host =
        static_cast<std::int64_t>(get_number(j, "ranks_per_host", "host_calibration", origin));
  DOJO_CHECK(h.shm_slot_bytes > 0 && h.hierarchical_piece_bytes > 0 && h.hosts >= 1 &&
                 h.ranks_per_host >= 0,
             FormatError,
             "{}: 'host_calibration' needs shm_slot_bytes > 0, hierarchical_piece_bytes > 0, "
             "hosts >= 1 and ranks_per_host >= 0, got {}, {}, {}, {}",
             origin, h.shm_slot_bytes, h.hierarchical_piece_bytes, h.hosts, h.ranks_per_host);
  if (j.contains("mpi_allreduce_s"))
    h.mpi_allreduce_s =
        curve_from_json(j.at("mpi_allreduce_s"), "host_calibration.mpi_allreduce_s", origin);
  if (j.contains("gloo_allreduce_s"))
    h.gloo_allreduce_s =
        curve_from_json(j.at("gloo_allreduce_s"), "host_calibration.gloo_allreduce_s", origin);
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
    // Absent in presets written before the fused attention class (charging one names it).
    if (t.contains("attention_fp32"))
      rates.attention_fp32 =
          attention_from_json(t.at("attention_fp32"), where + ".attention_fp32", origin);
    if (t.contains("attention_bf16"))
      rates.attention_bf16 =
          attention_from_json(t.at("attention_bf16"), where + ".attention_bf16", origin);
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
      DOJO_CHECK(curve.level == 0 || curve.level == 1, FormatError,
                 "{}: '{}.level' must be 0 (within a host) or 1 (between hosts), got {}", origin,
                 where, curve.level);
      curve.transport = l.at("transport").get<std::string>();
      curve.hot_s = curve_from_json(l.at("hot_s"), where + ".hot_s", origin);
      curve.cold_s = curve_from_json(l.at("cold_s"), where + ".cold_s", origin);
      if (l.contains("streamed_s"))
        curve.streamed_s = curve_from_json(l.at("streamed_s"), where + ".streamed_s", origin);
      h.links.push_back(std::move(curve));
    }
  }
  return h;
}

}  // namespace dojo::accel
