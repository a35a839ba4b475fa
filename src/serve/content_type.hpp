#pragma once
#include <string>

namespace dojo::serve {
// The Content-Type of a file served by name (artifacts, the dashboard's files).
std::string content_type_for(const std::string& path);
}  // namespace dojo::serve
