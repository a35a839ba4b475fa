#include "data/labels.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "core/error.hpp"

namespace dojo::data {
namespace fs = std::filesystem;
using nlohmann::json;

std::int64_t FrameLabels::frames() const {
  return columns.empty() ? 0 : static_cast<std::int64_t>(values.size()) / width();
}

std::vector<std::string> FrameLabels::names() const {
  std::vector<std::string> out;
  for (const auto& c : columns) out.push_back(c.name);
  return out;
}

std::string labels_path_for(const std::string& video) {
  fs::path p(video);
  return (p.parent_path() / (p.stem().string() + kLabelsSuffix)).string();
}

bool is_labels_file(const std::string& path) {
  return fs::path(path).filename().string().ends_with(kLabelsSuffix);
}

void write_labels(const std::string& path, const FrameLabels& labels) {
  DOJO_ASSERT(labels.values.size() % std::max<std::size_t>(1, labels.columns.size()) == 0,
              "{} values for {} columns", labels.values.size(), labels.columns.size());
  json j;
  j["format"] = kLabelsFormat;
  j["version"] = kLabelsVersion;
  j["fps"] = labels.fps;
  j["columns"] = json::array();
  for (const auto& c : labels.columns)
    j["columns"].push_back({{"name", c.name}, {"unit", c.unit}, {"aggregate", c.aggregate}});
  j["frames"] = json::array();
  const auto width = static_cast<std::size_t>(labels.width());
  for (std::size_t r = 0; width > 0 && r < labels.values.size() / width; ++r) {
    j["frames"].push_back(std::vector<double>(labels.values.begin() + r * width,
                                              labels.values.begin() + (r + 1) * width));
  }
  write_file_atomic(path, j.dump() + "\n");
}

FrameLabels read_labels(const std::string& path) {
  std::ifstream in(path);
  DOJO_CHECK(in.good(), IoError, "{}: cannot read labels file", path);
  std::stringstream text;
  text << in.rdbuf();
  try {
    const json j = json::parse(text.str());
    DOJO_CHECK(j.is_object() && j.value("format", "") == kLabelsFormat, FormatError,
               "{}: not a dojo labels file (format field is not '{}')", path, kLabelsFormat);
    const auto version = j.at("version").get<std::int64_t>();
    DOJO_CHECK(version == kLabelsVersion, FormatError,
               "{}: labels version {}, this dojo reads version {}", path, version, kLabelsVersion);
    FrameLabels labels;
    labels.fps = j.at("fps").get<double>();
    for (const json& c : j.at("columns")) {
      LabelColumn column{c.at("name").get<std::string>(), c.value("unit", ""),
                         c.value("aggregate", "mean")};
      DOJO_CHECK(column.aggregate == "mean" || column.aggregate == "majority", FormatError,
                 "{}: column '{}': aggregate '{}', expected 'mean' or 'majority'", path,
                 column.name, column.aggregate);
      labels.columns.push_back(std::move(column));
    }
    DOJO_CHECK(!labels.columns.empty(), FormatError, "{}: no label columns", path);
    std::int64_t row = 0;
    for (const json& r : j.at("frames")) {
      DOJO_CHECK(r.is_array() && std::ssize(r) == labels.width(), FormatError,
                 "{}: frame {} has {} values, the file has {} columns", path, row,
                 r.is_array() ? r.size() : 0, labels.width());
      for (const json& v : r) labels.values.push_back(v.get<double>());
      ++row;
    }
    return labels;
  } catch (const json::exception& e) {
    throw FormatError(fmt::format("{}: malformed labels file: {}", path, e.what()));
  }
}

std::vector<float> aggregate_clip(const FrameLabels& labels, std::span<const std::int64_t> frames,
                                  const std::string& origin) {
  const std::int64_t width = labels.width();
  std::vector<float> out(static_cast<std::size_t>(width), 0.0f);
  if (frames.empty()) return out;
  for (std::int64_t c = 0; c < width; ++c) {
    double sum = 0.0;
    for (const std::int64_t f : frames) {
      DOJO_CHECK(f >= 0 && f < labels.frames(), FormatError,
                 "{}: labels cover {} frames, a clip needs frame {}", origin, labels.frames(), f);
      sum += labels.values[static_cast<std::size_t>(f * width + c)];
    }
    const auto n = static_cast<double>(frames.size());
    const bool majority = labels.columns[static_cast<std::size_t>(c)].aggregate == "majority";
    out[static_cast<std::size_t>(c)] =
        static_cast<float>(majority ? (sum > 0.5 * n ? 1.0 : 0.0) : sum / n);
  }
  return out;
}

}  // namespace dojo::data
