#include "serve/safe_path.hpp"

#include <fmt/format.h>

#include "serve/api.hpp"

namespace dojo::serve {
namespace fs = std::filesystem;

void check_file_name(const std::string& name, const std::string& field) {
  if (name.empty() || name.size() > 255)
    throw ApiError(400, field, fmt::format("'{}': a file name must be 1..255 bytes", field));
  for (const char c : name) {
    if (c == '/' || c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      throw ApiError(400, field,
                     fmt::format("'{}': a file name may not contain '/', '\\\\' or control "
                                 "characters",
                                 field));
  }
  if (name[0] == '.')
    throw ApiError(400, field, fmt::format("'{}': a file name may not start with '.'", field));
}

fs::path resolve_inside(const fs::path& root, const std::string& relative,
                        const std::string& field) {
  if (relative.empty() || relative[0] == '/')
    throw ApiError(400, field, fmt::format("'{}' must be a relative path", field));
  if (relative.find('\0') != std::string::npos)
    throw ApiError(400, field, fmt::format("'{}' contains a NUL byte", field));
  std::size_t start = 0;
  while (start <= relative.size()) {
    auto end = relative.find('/', start);
    if (end == std::string::npos) end = relative.size();
    const auto part = relative.substr(start, end - start);
    if (part.empty() || part == "." || part == ".." || part.find('\\') != std::string::npos)
      throw ApiError(400, field,
                     fmt::format("'{}': empty, '.', '..' and '\\\\' path components are refused",
                                 field));
    start = end + 1;
  }
  std::error_code ec;
  const auto real_root = fs::canonical(root, ec);
  if (ec) throw ApiError(404, field, fmt::format("'{}' not found", relative));
  const auto real = fs::canonical(real_root / relative, ec);
  if (ec) throw ApiError(404, field, fmt::format("'{}' not found", relative));
  const auto rel = real.lexically_relative(real_root);
  if (rel.empty() || *rel.begin() == "..")
    throw ApiError(404, field, fmt::format("'{}' not found", relative));
  return real;
}

}  // namespace dojo::serve
