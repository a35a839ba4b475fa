#pragma once
// Placement: the region of nodes a data-parallel replica occupies, and whether its state
// fits in the region's SRAM.
//
// A replica needs its parameters, gradients, optimizer state and activations resident.
// It gets the smallest rectangle (fewest nodes, then squarest) inside the area it may use
// whose SRAM holds all of that. If even the whole area is too small, the replica takes the
// whole area and the excess spills to off-mesh memory: that share of every kernel's bytes
// moves at the region's share of the off-mesh bandwidth (reported in SramFit).
#include <cstdint>
#include <string>

#include "accel/mesh_spec.hpp"
#include "accel/partition.hpp"

namespace dojo::accel {

struct ReplicaFootprint {
  double param_bytes = 0;
  double grad_bytes = 0;
  double optimizer_bytes = 0;   // AdamW moments
  double activation_bytes = 0;  // peak live activations of one step
  double total_bytes() const {
    return param_bytes + grad_bytes + optimizer_bytes + activation_bytes;
  }
};

struct SramFit {
  Rect region;
  double region_nodes = 0;    // usable nodes in the region
  double capacity_bytes = 0;  // region SRAM
  ReplicaFootprint footprint;
  bool fits = true;
  double spill_bytes = 0;       // footprint beyond capacity, held off-mesh
  double spill_fraction = 0;    // spill_bytes / footprint
  double dram_bytes_per_s = 0;  // off-mesh bandwidth available to the region
  // First kernel whose own working set exceeds the region's SRAM ("" if none).
  std::string first_unfit_kernel;
  double first_unfit_kernel_bytes = 0;
};

// Off-mesh bandwidth share of a region: total bandwidth x region nodes / all nodes.
double region_dram_bytes_per_s(const MeshSpec& spec, const Rect& region);
// The fit report for a footprint in a given region.
SramFit sram_fit(const MeshSpec& spec, const Rect& region, const ReplicaFootprint& footprint);
// Smallest region inside `area` (placed at its corner) that holds the footprint, or all of
// `area` with the spill reported.
SramFit place_replica(const MeshSpec& spec, const Rect& area, const ReplicaFootprint& footprint);

}  // namespace dojo::accel
