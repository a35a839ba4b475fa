// `dojo mesh --preset NAME [--json]`: a mesh preset, its totals and the published figures
// they reproduce.
#include <cmath>
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "accel/mesh_io.hpp"
#include "accel/presets.hpp"
#include "cli/command.hpp"

namespace {

struct Options {
  std::string preset = "exapod";
  bool json = false;
};

std::string si(double value, const char* unit) {
  const char* prefixes[] = {"", "k", "M", "G", "T", "P", "E"};
  int i = 0;
  while (std::abs(value) >= 1000 && i < 6) value /= 1000, ++i;
  return fmt::format("{:.4g} {}{}", value, prefixes[i], unit);
}

double field(const nlohmann::json& totals, const std::string& key) {
  return totals.contains(key) ? totals.at(key).get<double>() : 0.0;
}

int run(const Options& opts) {
  using namespace dojo::accel;
  const auto spec = resolve_preset(opts.preset);
  const auto t = totals(spec);
  const auto totals_json = to_json(t);
  nlohmann::json published = nlohmann::json::array();
  for (const auto& figure : published_figures(spec.name)) {
    const double ours = field(totals_json, figure.key);
    published.push_back({{"key", figure.key},
                         {"published", figure.value},
                         {"dojo", ours},
                         {"error", ours / figure.value - 1.0},
                         {"source", figure.source}});
  }
  if (opts.json) {
    auto out = totals_json;
    out["preset"] = spec.name;
    out["spec"] = to_json(spec);
    out["published"] = published;
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  fmt::print("mesh preset '{}': {}\n", spec.name, spec.description);
  fmt::print("  node: {} FP32, {} BF16, {} CFP8, SRAM {} at {}\n",
             si(spec.node.peak_flops_fp32, "FLOP/s"), si(spec.node.peak_flops_bf16, "FLOP/s"),
             si(spec.node.peak_flops_cfp8, "FLOP/s"), si(spec.node.sram_bytes, "B"),
             si(spec.node.sram_bytes_per_s, "B/s"));
  for (std::size_t l = 0; l < spec.levels.size(); ++l) {
    const auto& level = spec.levels[l];
    fmt::print("  level {} {:8} grid {}x{}  link {} per direction, {} per hop\n", l, level.name,
               level.grid.x, level.grid.y, si(level.link_bytes_per_s, "B/s"),
               si(level.hop_latency_s, "s"));
  }
  fmt::print("  off-mesh memory: {} x {} at {}\n", spec.dram.devices,
             si(spec.dram.bytes_per_device, "B"), si(spec.dram.bytes_per_s_per_device, "B/s"));
  fmt::print("totals:\n");
  fmt::print("  grid {}x{} positions, {} chips, {} usable nodes\n", t.grid_x, t.grid_y, t.chips,
             t.nodes);
  fmt::print("  peak {} BF16, {} FP32, {} CFP8\n", si(t.peak_flops_bf16, "FLOP/s"),
             si(t.peak_flops_fp32, "FLOP/s"), si(t.peak_flops_cfp8, "FLOP/s"));
  fmt::print("  SRAM {}, off-mesh {} at {}\n", si(t.sram_bytes, "B"), si(t.dram_bytes, "B"),
             si(t.dram_bytes_per_s, "B/s"));
  fmt::print("  cut across x {}, across y {} (bisection {})\n", si(t.cut_x_bytes_per_s, "B/s"),
             si(t.cut_y_bytes_per_s, "B/s"), si(t.bisection_bytes_per_s, "B/s"));
  if (!published.empty()) {
    fmt::print("published figures:\n");
    for (const auto& p : published) {
      fmt::print("  {:20} published {:>12.5g}  dojo {:>12.5g}  {:+.2f}%  ({})\n",
                 p["key"].get<std::string>(), p["published"].get<double>(), p["dojo"].get<double>(),
                 100 * p["error"].get<double>(), p["source"].get<std::string>());
    }
  }
  fmt::print("notes:\n");
  for (const auto& note : spec.notes) fmt::print("  - {}\n", note);
  return 0;
}

dojo::cli::Runner setup(CLI::App& app) {
  auto opts = std::make_shared<Options>();
  app.add_option(
         "--preset", opts->preset,
         "d1, tile, tray, cabinet, exapod, host, test4x4, test_tiles, or a .yaml/.json file")
      ->capture_default_str();
  app.add_flag("--json", opts->json, "print JSON");
  return [opts](dojo::cli::Context&) { return run(*opts); };
}

DOJO_COMMAND(mesh, "", "mesh", "print a simulated mesh preset and its totals", kLocal, setup);

}  // namespace
