#pragma once
// dojo tensor files (the PyTorch reference's exchange format), little endian:
//   "DOJOTNS1", u32 version (1), u32 count, then per tensor:
//   u32 name length, name, u32 ndim, i64 dims[ndim], f32 data.
// Also read and written by scripts/reference/videomae_torch.py.
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace dojo::model::testing {

struct StoredTensor {
  std::vector<std::int64_t> dims;
  std::vector<float> data;
};
using TensorMap = std::map<std::string, StoredTensor>;

inline constexpr char kTensorMagic[8] = {'D', 'O', 'J', 'O', 'T', 'N', 'S', '1'};

inline TensorMap read_tensor_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  DOJO_CHECK(in.good(), IoError, "{}: cannot open tensor file", path);
  char magic[8];
  std::uint32_t version = 0, count = 0;
  in.read(magic, 8);
  in.read(reinterpret_cast<char*>(&version), 4);
  in.read(reinterpret_cast<char*>(&count), 4);
  DOJO_CHECK(in.good() && std::memcmp(magic, kTensorMagic, 8) == 0, FormatError,
             "{}: not a dojo tensor file (bad magic); regenerate it with "
             "scripts/reference/videomae_reference.py",
             path);
  DOJO_CHECK(version == 1, FormatError, "{}: tensor file version {}, expected 1", path, version);
  TensorMap out;
  for (std::uint32_t i = 0; i < count; ++i) {
    std::uint32_t name_len = 0, ndim = 0;
    in.read(reinterpret_cast<char*>(&name_len), 4);
    std::string name(name_len, '\0');
    in.read(name.data(), name_len);
    in.read(reinterpret_cast<char*>(&ndim), 4);
    DOJO_CHECK(in.good() && ndim <= 8, FormatError, "{}: tensor {} header is corrupt", path, i);
    StoredTensor t;
    t.dims.resize(ndim);
    in.read(reinterpret_cast<char*>(t.dims.data()), std::streamsize(8 * ndim));
    std::size_t n = 1;
    for (const auto d : t.dims) n *= std::size_t(d);
    t.data.resize(n);
    in.read(reinterpret_cast<char*>(t.data.data()), std::streamsize(4 * n));
    DOJO_CHECK(in.good(), FormatError, "{}: tensor '{}' is truncated", path, name);
    out.emplace(std::move(name), std::move(t));
  }
  return out;
}

inline void write_tensor_file(const std::string& path, const TensorMap& tensors) {
  std::ofstream out(path, std::ios::binary);
  DOJO_CHECK(out.good(), IoError, "{}: cannot create tensor file", path);
  const std::uint32_t version = 1, count = std::uint32_t(tensors.size());
  out.write(kTensorMagic, 8);
  out.write(reinterpret_cast<const char*>(&version), 4);
  out.write(reinterpret_cast<const char*>(&count), 4);
  for (const auto& [name, t] : tensors) {
    const std::uint32_t name_len = std::uint32_t(name.size()), ndim = std::uint32_t(t.dims.size());
    out.write(reinterpret_cast<const char*>(&name_len), 4);
    out.write(name.data(), name_len);
    out.write(reinterpret_cast<const char*>(&ndim), 4);
    out.write(reinterpret_cast<const char*>(t.dims.data()), std::streamsize(8 * ndim));
    out.write(reinterpret_cast<const char*>(t.data.data()), std::streamsize(4 * t.data.size()));
  }
  DOJO_CHECK(out.good(), IoError, "{}: write failed", path);
}

}  // namespace dojo::model::testing
