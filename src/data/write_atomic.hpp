#pragma once
// Private to src/data: writes a small text file atomically (temporary name, fsync of the
// file, rename, fsync of the folder). Throws IoError naming the file.
#include <string>
#include <string_view>

namespace dojo::data {

void write_text_atomic(const std::string& path, std::string_view text);

}  // namespace dojo::data
