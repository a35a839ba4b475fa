#pragma once
// The one YAML idiom of dojo (configs, model configs, mesh presets): load a file with an
// error that names it, and read a scalar with an error that names its key. yaml-cpp's own
// exceptions ("bad conversion", "basic_filebuf::underflow") never reach a user.
#include <string>

#include <yaml-cpp/yaml.h>

#include "core/error.hpp"

namespace dojo {

// Parses the YAML file at `path`. `what` says what it is ("config", "mesh preset").
// Throws IoError when it is missing, a folder or unreadable; FormatError when it is not
// YAML (with yaml-cpp's line and column).
YAML::Node load_yaml_file(const std::string& path, const std::string& what);
// Parses YAML text; `origin` names where it came from in errors.
YAML::Node load_yaml_text(const std::string& text, const std::string& origin);

// A one-line rendering of a node for error messages (flow style, truncated).
std::string describe_yaml(const YAML::Node& node);

// Reads `node` (the value of `key`) as T. `expected` reads like "an integer". A map, a
// list or a value that does not convert throws InvalidArgument naming the key, what it
// got and what was expected.
template <typename T>
T yaml_scalar(const YAML::Node& node, const std::string& key, const char* expected) {
  DOJO_CHECK(node.IsScalar(), InvalidArgument, "config key '{}': expected {}, got {}", key,
             expected,
             node.IsMap() ? "a mapping" : node.IsSequence() ? "a list" : describe_yaml(node));
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    throw InvalidArgument(
        fmt::format("config key '{}': '{}' is not {}", key, node.Scalar(), expected));
  }
}

}  // namespace dojo
