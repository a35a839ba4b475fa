#pragma once
// Reading and writing a MeshSpec as JSON or YAML (the same keys in both):
//
//   name: host
//   description: "..."
//   node: {peak_flops_fp32: 5e10, peak_flops_bf16: 5e10, peak_flops_cfp8: 5e10,
//          sram_bytes: 1e6, sram_bytes_per_s: 1e11, clock_hz: 2e9,
//          vector_flops_per_s: 2e9}        # optional: non-GEMM rate, 0 = the peak
//   levels:                          # innermost first
//     - {name: chip, grid: [2, 1], link_bytes_per_s: 5e9, hop_latency_s: 1e-6}
//   usable_nodes_per_chip: 0         # optional, 0 = all positions compute
//   dram: {devices: 1, bytes_per_device: 8e9, bytes_per_s_per_device: 1e10}  # optional
//   notes: ["..."]                   # optional
//   host_calibration: {...}          # optional: measured rates (accel/host_calibration.hpp)
//
// Unknown keys and missing required keys are FormatErrors naming the file and key.
#include <string>

#include <nlohmann/json.hpp>

#include "accel/mesh_spec.hpp"

namespace dojo::accel {

nlohmann::json to_json(const MeshSpec& spec);
nlohmann::json to_json(const MeshTotals& totals);
// `origin` names the source in error messages (a file path or "<json>").
MeshSpec mesh_spec_from_json(const nlohmann::json& json, const std::string& origin);

// Loads .json with nlohmann_json, anything else as YAML. Validates the result.
MeshSpec load_mesh_spec(const std::string& path);
// Writes YAML (or JSON when the path ends in .json); throws IoError on failure.
void save_mesh_spec(const MeshSpec& spec, const std::string& path);

}  // namespace dojo::accel
