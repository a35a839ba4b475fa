#include "accel/flows.hpp"

#include <algorithm>
#include <limits>

#include "core/error.hpp"

namespace dojo::accel {

double FlowProfile::time_s(double bytes) const {
  double worst = 0;
  for (const auto& term : terms) worst = std::max(worst, term.latency_s + bytes * term.s_per_byte);
  return worst;
}

FlowProfile profile_flows(const Topology& topo, std::span<const Flow> flows) {
  FlowProfile profile;
  profile.flows = flows.size();
  profile.hops_per_level.assign(static_cast<std::size_t>(topo.level_count()), 0.0);
  std::vector<std::uint32_t> load(topo.resource_count(), 0);
  for (const auto& flow : flows) {
    DOJO_ASSERT(topo.contains(flow.src) && topo.contains(flow.dst), "flow ({},{})->({},{})",
                flow.src.x, flow.src.y, flow.dst.x, flow.dst.y);
    topo.route(flow.src, flow.dst, [&](std::size_t resource, int level) {
      ++load[resource];
      profile.hops_per_level[static_cast<std::size_t>(level)] += 1;
      profile.max_link_level = std::max(profile.max_link_level, level);
    });
  }
  std::vector<FlowProfile::Term> terms;
  terms.reserve(flows.size());
  for (const auto& flow : flows) {
    if (flow.src == flow.dst) continue;
    FlowProfile::Term term;
    topo.route(flow.src, flow.dst, [&](std::size_t resource, int level) {
      term.latency_s += topo.hop_latency_s(level);
      term.s_per_byte = std::max(
          term.s_per_byte, static_cast<double>(load[resource]) / topo.link_bytes_per_s(level));
    });
    terms.push_back(term);
  }
  // Keep the Pareto set: by latency descending, a term matters only if its s_per_byte is
  // larger than that of every term with at least its latency.
  std::sort(terms.begin(), terms.end(), [](const auto& a, const auto& b) {
    return a.latency_s != b.latency_s ? a.latency_s > b.latency_s : a.s_per_byte > b.s_per_byte;
  });
  double best_spb = -1;
  for (const auto& term : terms) {
    if (term.s_per_byte > best_spb) {
      profile.terms.push_back(term);
      best_spb = term.s_per_byte;
    }
  }
  return profile;
}

double transfer_time_s(const Topology& topo, Coord src, Coord dst, double bytes) {
  const Flow flow{src, dst};
  return profile_flows(topo, std::span(&flow, 1)).time_s(bytes);
}

}  // namespace dojo::accel
