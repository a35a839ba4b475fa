#include "accel/mesh_io.hpp"

#include <filesystem>
#include <fstream>
#include <set>

#include <yaml-cpp/yaml.h>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/yaml.hpp"

namespace dojo::accel {

namespace {

using nlohmann::json;

// YAML scalars become numbers when they parse as numbers, else strings.
json yaml_to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& item : node) out[item.first.as<std::string>()] = yaml_to_json(item.second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& item : node) out.push_back(yaml_to_json(item));
      return out;
    }
    case YAML::NodeType::Scalar: {
      const auto text = node.Scalar();
      double value = 0;
      if (node.Tag() != "!" && YAML::convert<double>::decode(node, value)) return value;
      return text;
    }
    default:
      return nullptr;
  }
}

// Block style for mappings and lists of mappings, flow style for short lists of scalars
// (grid: [18, 20]).
YAML::Node json_to_yaml(const json& j) {
  YAML::Node node;
  if (j.is_object()) {
    for (const auto& [key, value] : j.items()) node[key] = json_to_yaml(value);
    node.SetStyle(YAML::EmitterStyle::Block);
  } else if (j.is_array()) {
    bool scalars = true;
    for (const auto& item : j) {
      node.push_back(json_to_yaml(item));
      scalars = scalars && item.is_number();
    }
    node.SetStyle(scalars ? YAML::EmitterStyle::Flow : YAML::EmitterStyle::Block);
  } else if (j.is_string()) {
    node = j.get<std::string>();
  } else if (j.is_number_integer()) {
    node = j.get<std::int64_t>();
  } else if (j.is_number()) {
    node = j.get<double>();
  } else if (j.is_boolean()) {
    node = j.get<bool>();
  }
  return node;
}

void check_keys(const json& object, const std::set<std::string>& allowed, const std::string& where,
                const std::string& origin) {
  DOJO_CHECK(object.is_object(), FormatError, "{}: '{}' must be a mapping", origin, where);
  for (const auto& [key, value] : object.items()) {
    DOJO_CHECK(allowed.count(key) != 0, FormatError, "{}: unknown key '{}{}'", origin,
               where.empty() ? "" : where + ".", key);
  }
}

double number(const json& object, const std::string& key, const std::string& where,
              const std::string& origin, bool required = true, double fallback = 0) {
  if (!object.contains(key)) {
    DOJO_CHECK(!required, FormatError, "{}: missing key '{}{}'", origin,
               where.empty() ? "" : where + ".", key);
    return fallback;
  }
  const auto& value = object.at(key);
  DOJO_CHECK(value.is_number(), FormatError, "{}: '{}{}' must be a number, got {}", origin,
             where.empty() ? "" : where + ".", key, value.dump());
  return value.get<double>();
}

std::int64_t integer(const json& object, const std::string& key, const std::string& where,
                     const std::string& origin, bool required, std::int64_t fallback) {
  const double value = number(object, key, where, origin, required, static_cast<double>(fallback));
  DOJO_CHECK(value == static_cast<double>(static_cast<std::int64_t>(value)), FormatError,
             "{}: '{}{}' must be an integer, got {}", origin, where.empty() ? "" : where + ".", key,
             value);
  return static_cast<std::int64_t>(value);
}

}  // namespace

json to_json(const MeshSpec& spec) {
  json levels = json::array();
  for (const auto& level : spec.levels) {
    levels.push_back({{"name", level.name},
                      {"grid", {level.grid.x, level.grid.y}},
                      {"link_bytes_per_s", level.link_bytes_per_s},
                      {"hop_latency_s", level.hop_latency_s}});
  }
  json out = {{"name", spec.name},
          {"description", spec.description},
          {"node",
           {{"peak_flops_fp32", spec.node.peak_flops_fp32},
            {"peak_flops_bf16", spec.node.peak_flops_bf16},
            {"peak_flops_cfp8", spec.node.peak_flops_cfp8},
            {"sram_bytes", spec.node.sram_bytes},
            {"sram_bytes_per_s", spec.node.sram_bytes_per_s},
            {"clock_hz", spec.node.clock_hz},
            {"vector_flops_per_s", spec.node.vector_flops_per_s}}},
          {"levels", levels},
          {"usable_nodes_per_chip", spec.usable_nodes_per_chip},
          {"dram",
           {{"devices", spec.dram.devices},
            {"bytes_per_device", spec.dram.bytes_per_device},
            {"bytes_per_s_per_device", spec.dram.bytes_per_s_per_device}}},
          {"notes", spec.notes}};
  if (spec.host) out["host_calibration"] = to_json(*spec.host);
  return out;
}

json to_json(const MeshTotals& t) {
  return {{"grid", {t.grid_x, t.grid_y}},
          {"positions", t.positions},
          {"chips", t.chips},
          {"nodes", t.nodes},
          {"peak_flops_fp32", t.peak_flops_fp32},
          {"peak_flops_bf16", t.peak_flops_bf16},
          {"peak_flops_cfp8", t.peak_flops_cfp8},
          {"sram_bytes", t.sram_bytes},
          {"dram_bytes", t.dram_bytes},
          {"dram_bytes_per_s", t.dram_bytes_per_s},
          {"cut_x_bytes_per_s", t.cut_x_bytes_per_s},
          {"cut_y_bytes_per_s", t.cut_y_bytes_per_s},
          {"bisection_bytes_per_s", t.bisection_bytes_per_s}};
}

MeshSpec mesh_spec_from_json(const json& j, const std::string& origin) {
  check_keys(j,
             {"name", "description", "node", "levels", "usable_nodes_per_chip", "dram", "notes",
              "host_calibration"},
             "", origin);
  MeshSpec spec;
  DOJO_CHECK(j.contains("name") && j.at("name").is_string(), FormatError,
             "{}: missing string key 'name'", origin);
  spec.name = j.at("name").get<std::string>();
  if (j.contains("description") && j.at("description").is_string())
    spec.description = j.at("description").get<std::string>();
  DOJO_CHECK(j.contains("node"), FormatError, "{}: missing key 'node'", origin);
  const auto& node = j.at("node");
  check_keys(node,
             {"peak_flops_fp32", "peak_flops_bf16", "peak_flops_cfp8", "sram_bytes",
              "sram_bytes_per_s", "clock_hz", "vector_flops_per_s"},
             "node", origin);
  spec.node.peak_flops_fp32 = number(node, "peak_flops_fp32", "node", origin);
  spec.node.peak_flops_bf16 = number(node, "peak_flops_bf16", "node", origin);
  spec.node.peak_flops_cfp8 =
      number(node, "peak_flops_cfp8", "node", origin, false, spec.node.peak_flops_bf16);
  spec.node.sram_bytes = number(node, "sram_bytes", "node", origin);
  spec.node.sram_bytes_per_s = number(node, "sram_bytes_per_s", "node", origin);
  spec.node.clock_hz = number(node, "clock_hz", "node", origin, false, 0);
  spec.node.vector_flops_per_s = number(node, "vector_flops_per_s", "node", origin, false, 0);
  DOJO_CHECK(j.contains("levels") && j.at("levels").is_array() && !j.at("levels").empty(),
             FormatError, "{}: 'levels' must be a non-empty list (innermost first)", origin);
  for (std::size_t i = 0; i < j.at("levels").size(); ++i) {
    const auto& l = j.at("levels")[i];
    const auto where = fmt::format("levels[{}]", i);
    check_keys(l, {"name", "grid", "link_bytes_per_s", "hop_latency_s"}, where, origin);
    MeshLevel level;
    level.name = l.contains("name") && l.at("name").is_string() ? l.at("name").get<std::string>()
                                                                : fmt::format("level{}", i);
    DOJO_CHECK(l.contains("grid") && l.at("grid").is_array() && l.at("grid").size() == 2 &&
                   l.at("grid")[0].is_number() && l.at("grid")[1].is_number(),
               FormatError, "{}: '{}.grid' must be [x, y]", origin, where);
    level.grid = {static_cast<std::int64_t>(l.at("grid")[0].get<double>()),
                  static_cast<std::int64_t>(l.at("grid")[1].get<double>())};
    level.link_bytes_per_s = number(l, "link_bytes_per_s", where, origin);
    level.hop_latency_s = number(l, "hop_latency_s", where, origin);
    spec.levels.push_back(level);
  }
  spec.usable_nodes_per_chip = integer(j, "usable_nodes_per_chip", "", origin, false, 0);
  if (j.contains("dram")) {
    const auto& d = j.at("dram");
    check_keys(d, {"devices", "bytes_per_device", "bytes_per_s_per_device"}, "dram", origin);
    spec.dram.devices = integer(d, "devices", "dram", origin, true, 0);
    spec.dram.bytes_per_device = number(d, "bytes_per_device", "dram", origin);
    spec.dram.bytes_per_s_per_device = number(d, "bytes_per_s_per_device", "dram", origin);
  }
  if (j.contains("notes")) {
    DOJO_CHECK(j.at("notes").is_array(), FormatError, "{}: 'notes' must be a list", origin);
    for (const auto& note : j.at("notes"))
      spec.notes.push_back(note.is_string() ? note.get<std::string>() : note.dump());
  }
  if (j.contains("host_calibration"))
    spec.host = host_calibration_from_json(j.at("host_calibration"), origin);
  try {
    validate(spec);
  } catch (const InvalidArgument& e) {
    throw FormatError(fmt::format("{}: {}", origin, e.what()));
  }
  return spec;
}

MeshSpec load_mesh_spec(const std::string& path) {
  DOJO_CHECK(std::filesystem::exists(path), IoError, "mesh spec file '{}' does not exist", path);
  DOJO_CHECK(std::filesystem::is_regular_file(path), IoError,
             "mesh spec '{}' is not a regular file (a folder?)", path);
  json j;
  if (std::filesystem::path(path).extension() == ".json") {
    std::ifstream in(path);
    DOJO_CHECK(in.good(), IoError, "cannot open mesh spec file '{}'", path);
    try {
      j = json::parse(in);
    } catch (const json::exception& e) {
      throw FormatError(fmt::format("{}: not valid JSON: {}", path, e.what()));
    }
  } else {
    j = yaml_to_json(load_yaml_file(path, "mesh spec"));
  }
  return mesh_spec_from_json(j, path);
}

void save_mesh_spec(const MeshSpec& spec, const std::string& path) {
  const auto j = to_json(spec);
  std::string text;
  if (std::filesystem::path(path).extension() == ".json") {
    text = j.dump(2) + "\n";
  } else {
    YAML::Emitter out;
    out.SetDoublePrecision(10);
    out << json_to_yaml(j);
    text = std::string("# dojo mesh spec (see src/accel/mesh_io.hpp)\n") + out.c_str() + "\n";
  }
  write_file_atomic(path, text);
}

}  // namespace dojo::accel
