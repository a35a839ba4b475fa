#pragma once
// Timeline: one simulated training step of one replica, as the kernels and collectives
// were charged to it.
//
// Two streams: compute (kernels, back to back in program order) and communication
// (collectives, one after another). An async collective starts when both the compute
// stream has issued it and the communication stream is free, and the compute stream
// goes on (a gradient bucket overlapping backward); a blocking one also makes the compute
// stream wait for it. The step ends when both streams are idle.
//   step_s       = max(compute stream end, communication stream end)
//   compute_s    = sum of kernel times
//   comm_s       = step_s - compute_s: communication not hidden behind compute
//   utilization  = flops / (step_s x peak FLOP/s of the region at the step's dominant
//                  precision, the one with the most FLOPs)
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "accel/cost_sink.hpp"
#include "accel/kernel_cost.hpp"

namespace dojo::accel {

struct SimStepResult {
  double step_s = 0;
  double compute_s = 0;
  double comm_s = 0;        // not overlapped with compute
  double comm_total_s = 0;  // all collective time, hidden or not
  double utilization = 0;
  double flops = 0;
  double peak_flops_per_s = 0;  // the region's, at the dominant precision
  std::int64_t kernels = 0;
  std::int64_t collectives = 0;
};

struct BreakdownRow {
  std::string name;
  std::int64_t count = 0;
  double time_s = 0;
  double flops = 0;
  double bytes = 0;
  std::map<std::string, double> bound_s;  // time by limiting resource
};

struct TimelineEvent {
  std::string name;
  std::string layer;
  bool compute = true;  // false: on a link track
  int level = -1;       // link level for link events
  double start_s = 0;
  double duration_s = 0;
  double flops = 0;
  double bytes = 0;
  std::string bound;
};

class Timeline {
 public:
  void clear();
  void add_kernel(const KernelRecord& record, const KernelCost& cost);
  // `bytes_per_level`: bytes the collective moves over each link level.
  void add_collective(std::string_view name, double bytes, double duration_s, bool async,
                      const std::vector<double>& bytes_per_level);
  // Closes the step: peak FLOP/s of the region per precision gives the utilization.
  SimStepResult finish(double peak_fp32, double peak_bf16) const;

  const std::vector<TimelineEvent>& events() const { return events_; }
  std::vector<BreakdownRow> per_kernel() const;  // by kernel name, slowest first
  std::vector<BreakdownRow> per_layer() const;   // by layer, slowest first
  // Chrome trace (Perfetto / chrome://tracing): compute events on one track per node
  // group, link events on one track per link level.
  nlohmann::json chrome_trace(const std::vector<std::string>& node_groups,
                              const std::vector<std::string>& level_names,
                              const nlohmann::json& metadata) const;

 private:
  std::vector<TimelineEvent> events_;
  double compute_clock_s_ = 0;
  double comm_clock_s_ = 0;
  double compute_s_ = 0;
  double comm_total_s_ = 0;
  double flops_fp32_ = 0, flops_bf16_ = 0;
  std::int64_t kernels_ = 0, collectives_ = 0;
};

}  // namespace dojo::accel
