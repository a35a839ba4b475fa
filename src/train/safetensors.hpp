#pragma once
// The safetensors format (Hugging Face), for F32 and I64 tensors:
//
//   u64 little-endian   N, the header's length in bytes
//   N bytes             JSON: {"__metadata__": {string: string}, NAME: {"dtype": "F32",
//                       "shape": [d0, ...], "data_offsets": [begin, end]}, ...}, padded
//                       with spaces so the data starts on an 8-byte boundary
//   data                each tensor's bytes, row-major, little-endian, at
//                       [begin, end) counted from the end of the header
//
// Tensors are written in the order given, back to back, covering the data exactly;
// read_safetensors checks that (and every shape against its byte count) and throws
// FormatError naming the file and the tensor.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace dojo::train {

struct SafeTensor {
  std::string name;
  std::string dtype;  // "F32" or "I64"
  std::vector<std::int64_t> shape;
  std::vector<std::uint8_t> bytes;  // little-endian elements
};

struct SafeTensors {
  std::map<std::string, std::string> metadata;
  std::vector<SafeTensor> tensors;                      // file order (by data offset)
  const SafeTensor& at(const std::string& name) const;  // throws FormatError if absent
};

SafeTensor f32_tensor(std::string name, std::vector<std::int64_t> shape, const float* data);
SafeTensor i64_tensor(std::string name, std::vector<std::int64_t> shape, const std::int64_t* data);
std::vector<float> as_f32(const SafeTensor& t);  // throws FormatError unless dtype is F32

// Writes atomically (core/atomic_file.hpp); throws IoError naming the file.
void write_safetensors(const std::string& path, const SafeTensors& file);
SafeTensors read_safetensors(const std::string& path);

}  // namespace dojo::train
