#pragma once
// Names from requests never leave their folder. A file name (an upload) is one path
// component; a relative path (an artifact) is checked component by component and then
// resolved with every symlink followed, and must still lie inside its root.
#include <filesystem>
#include <string>

namespace dojo::serve {

// Throws ApiError 400 naming `field` unless `name` is a plain file name: 1..255 bytes, no
// '/', no NUL or control character, not "." or "..", not starting with '.'.
void check_file_name(const std::string& name, const std::string& field);

// `root`/`relative` with symlinks resolved, if it exists and lies inside `root` (itself
// resolved). ApiError 400 for an absolute path, a NUL, an empty, "." or ".." component;
// 404 for a path that does not exist or resolves outside `root`.
std::filesystem::path resolve_inside(const std::filesystem::path& root, const std::string& relative,
                                     const std::string& field);

}  // namespace dojo::serve
