#pragma once
// Concurrent transfers on the mesh and the time they take with link contention.
//
// A set of flows starts together and each carries the same number of bytes. A flow's time
// is the sum of its hop latencies (cut-through routing) plus bytes divided by its share of
// its most loaded link: a link of bandwidth B crossed by n flows of the set gives each
// B / n (every flow of a set moves at once). The set finishes when its slowest flow does.
// Where no link is shared this is exactly hops x latency + bytes / bandwidth.
//
// Because a pattern is usually reused with many payload sizes (each ring step, each
// gradient bucket), it is reduced once to a FlowProfile: the (latency, seconds-per-byte)
// pairs that can be the slowest for some payload.
#include <cstdint>
#include <span>
#include <vector>

#include "accel/topology.hpp"

namespace dojo::accel {

struct Flow {
  Coord src;
  Coord dst;
};

struct FlowProfile {
  struct Term {
    double latency_s = 0;
    double s_per_byte = 0;
  };
  std::vector<Term> terms;             // Pareto set: no term dominated by another
  std::vector<double> hops_per_level;  // link hops summed over all flows, per level
  std::size_t flows = 0;
  int max_link_level = -1;  // outermost level any flow crosses (-1: no hops)

  // Time for every flow to carry `bytes`: max over terms of latency + bytes * s_per_byte.
  double time_s(double bytes) const;
  bool empty() const { return terms.empty(); }
};

// Profiles the flows as one concurrent set. Flows with src == dst are free.
FlowProfile profile_flows(const Topology& topo, std::span<const Flow> flows);

// Time for one transfer of `bytes` alone on an idle mesh.
double transfer_time_s(const Topology& topo, Coord src, Coord dst, double bytes);

}  // namespace dojo::accel
