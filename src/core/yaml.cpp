#include "core/yaml.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace dojo {

YAML::Node load_yaml_file(const std::string& path, const std::string& what) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  DOJO_CHECK(!ec && std::filesystem::exists(status), IoError, "{} {}: no such file", what, path);
  DOJO_CHECK(std::filesystem::is_regular_file(status), IoError,
             "{} {}: not a regular file (a folder or a device?)", what, path);
  std::ifstream in(path);
  DOJO_CHECK(in.good(), IoError, "{} {}: cannot read the file", what, path);
  std::stringstream text;
  text << in.rdbuf();
  DOJO_CHECK(!in.bad(), IoError, "{} {}: read failed", what, path);
  return load_yaml_text(text.str(), fmt::format("{} {}", what, path));
}

YAML::Node load_yaml_text(const std::string& text, const std::string& origin) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw FormatError(fmt::format("{}: not valid YAML: {}", origin, e.what()));
  }
}

std::string describe_yaml(const YAML::Node& node) {
  YAML::Emitter out;
  out << YAML::Flow << node;
  std::string text = out.good() ? out.c_str() : "(unprintable)";
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return "'" + text + "'";
}

}  // namespace dojo
