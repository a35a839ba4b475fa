#include "accel/timeline.hpp"

#include <algorithm>
#include <unordered_map>

namespace dojo::accel {

void Timeline::clear() {
  *this = Timeline();
}

void Timeline::add_kernel(const KernelRecord& record, const KernelCost& cost) {
  TimelineEvent event;
  event.name = std::string(record.name);
  event.layer = std::string(record.layer);
  event.start_s = compute_clock_s_;
  event.duration_s = cost.time_s;
  event.flops = record.flops;
  event.bytes = record.bytes;
  event.bound = cost.bound;
  events_.push_back(event);
  if (cost.link_level >= 0 && cost.link_s > 0) {
    TimelineEvent link = event;
    link.compute = false;
    link.level = cost.link_level;
    link.name = event.name + " (operand broadcast)";
    link.duration_s = cost.link_s;
    link.flops = 0;
    link.bytes = cost.link_bytes;
    events_.push_back(link);
  }
  compute_clock_s_ += cost.time_s;
  compute_s_ += cost.time_s;
  (record.precision == Precision::kBf16 ? flops_bf16_ : flops_fp32_) += record.flops;
  ++kernels_;
}

void Timeline::add_collective(std::string_view name, double bytes, double duration_s, bool async,
                              const std::vector<double>& bytes_per_level) {
  const double start = std::max(compute_clock_s_, comm_clock_s_);
  comm_clock_s_ = start + duration_s;
  if (!async) compute_clock_s_ = comm_clock_s_;
  comm_total_s_ += duration_s;
  ++collectives_;
  bool placed = false;
  for (std::size_t level = 0; level < bytes_per_level.size(); ++level) {
    if (bytes_per_level[level] <= 0) continue;
    events_.push_back({std::string(name), "", false, static_cast<int>(level), start, duration_s, 0,
                       bytes_per_level[level], async ? "async" : "blocking"});
    placed = true;
  }
  if (!placed && duration_s > 0)
    events_.push_back({std::string(name), "", false, 0, start, duration_s, 0, bytes,
                       async ? "async" : "blocking"});
}

SimStepResult Timeline::finish(double peak_fp32, double peak_bf16) const {
  SimStepResult r;
  r.step_s = std::max(compute_clock_s_, comm_clock_s_);
  r.compute_s = compute_s_;
  r.comm_s = std::max(0.0, r.step_s - compute_s_);
  r.comm_total_s = comm_total_s_;
  r.flops = flops_fp32_ + flops_bf16_;
  r.peak_flops_per_s = flops_bf16_ > flops_fp32_ ? peak_bf16 : peak_fp32;
  r.utilization =
      r.step_s > 0 && r.peak_flops_per_s > 0 ? r.flops / (r.step_s * r.peak_flops_per_s) : 0;
  r.kernels = kernels_;
  r.collectives = collectives_;
  return r;
}

namespace {

std::vector<BreakdownRow> group_by(const std::vector<TimelineEvent>& events, bool by_layer) {
  std::unordered_map<std::string, BreakdownRow> rows;
  for (const auto& e : events) {
    if (!e.compute) continue;
    const std::string key = by_layer ? (e.layer.empty() ? std::string("(top)") : e.layer) : e.name;
    auto& row = rows[key];
    row.name = key;
    ++row.count;
    row.time_s += e.duration_s;
    row.flops += e.flops;
    row.bytes += e.bytes;
    row.bound_s[e.bound] += e.duration_s;
  }
  std::vector<BreakdownRow> out;
  for (auto& [key, row] : rows) out.push_back(std::move(row));
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.time_s != b.time_s ? a.time_s > b.time_s : a.name < b.name;
  });
  return out;
}

}  // namespace

std::vector<BreakdownRow> Timeline::per_kernel() const {
  return group_by(events_, false);
}
std::vector<BreakdownRow> Timeline::per_layer() const {
  return group_by(events_, true);
}

nlohmann::json Timeline::chrome_trace(const std::vector<std::string>& node_groups,
                                      const std::vector<std::string>& level_names,
                                      const nlohmann::json& metadata) const {
  using nlohmann::json;
  constexpr int kPid = 1;
  constexpr int kLinkTid0 = 1000;
  json events = json::array();
  events.push_back({{"ph", "M"},
                    {"pid", kPid},
                    {"name", "process_name"},
                    {"args", {{"name", "dojo mesh (simulated step)"}}}});
  for (std::size_t g = 0; g < node_groups.size(); ++g) {
    events.push_back({{"ph", "M"},
                      {"pid", kPid},
                      {"tid", static_cast<int>(g)},
                      {"name", "thread_name"},
                      {"args", {{"name", node_groups[g]}}}});
  }
  for (std::size_t l = 0; l < level_names.size(); ++l) {
    events.push_back({{"ph", "M"},
                      {"pid", kPid},
                      {"tid", kLinkTid0 + static_cast<int>(l)},
                      {"name", "thread_name"},
                      {"args", {{"name", level_names[l]}}}});
  }
  for (const auto& e : events_) {
    json args = {{"flops", e.flops}, {"bytes", e.bytes}, {"bound", e.bound}};
    if (!e.layer.empty()) args["layer"] = e.layer;
    const double ts_us = e.start_s * 1e6, dur_us = e.duration_s * 1e6;
    if (e.compute) {
      for (std::size_t g = 0; g < node_groups.size(); ++g) {
        events.push_back({{"ph", "X"},
                          {"pid", kPid},
                          {"tid", static_cast<int>(g)},
                          {"name", e.name},
                          {"cat", "compute"},
                          {"ts", ts_us},
                          {"dur", dur_us},
                          {"args", args}});
      }
    } else {
      events.push_back({{"ph", "X"},
                        {"pid", kPid},
                        {"tid", kLinkTid0 + e.level},
                        {"name", e.name},
                        {"cat", "link"},
                        {"ts", ts_us},
                        {"dur", dur_us},
                        {"args", args}});
    }
  }
  return {{"traceEvents", events}, {"displayTimeUnit", "ns"}, {"otherData", metadata}};
}

}  // namespace dojo::accel
