#pragma once
// Built-in mesh presets (Tesla's published Dojo figures, small test meshes) and lookup of
// a preset by name or file. Every figure's source and every assumption is recorded in the
// preset's `notes` (printed by `dojo mesh`) and in docs/mesh-model.md.
#include <string>
#include <string_view>
#include <vector>

#include "accel/mesh_spec.hpp"

namespace dojo::accel {

// Names of the built-in presets: d1, tile, tray, cabinet, exapod, test4x4, test_tiles.
std::vector<std::string> builtin_preset_names();
// Throws InvalidArgument listing the known names when `name` is not built in.
MeshSpec builtin_preset(std::string_view name);

// A preset by name or path:
//   - a path to a .yaml/.yml/.json file (or any existing file): loaded with load_mesh_spec;
//   - a built-in name;
//   - "host": the calibrated file written by `dojo bench calibrate`, looked up as
//     $DOJO_MESH_DIR/host.yaml, then ./configs/mesh/host.yaml, then
//     <source dir>/configs/mesh/host.yaml.
// Throws InvalidArgument (unknown name, with the list) or IoError/FormatError (file).
MeshSpec resolve_preset(std::string_view name_or_path);

// The published figures a preset must reproduce (within 2%), for tests and `dojo mesh`.
struct PublishedFigure {
  std::string key;          // a MeshTotals field name, e.g. "peak_flops_bf16"
  double value = 0;         // as published
  std::string source;       // where the figure comes from
  double tolerance = 0.02;  // relative; wider only where the published figure is rounded
};
std::vector<PublishedFigure> published_figures(std::string_view preset);

}  // namespace dojo::accel
