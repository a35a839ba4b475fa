#include "train/safetensors.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "core/error.hpp"

namespace dojo::train {
namespace {

// Elements are copied as they lie in memory: the format is little-endian, so is the host.
static_assert(std::endian::native == std::endian::little,
              "safetensors I/O copies host memory; a big-endian host needs byte swaps here");

std::size_t dtype_bytes(const std::string& dtype, const std::string& where) {
  if (dtype == "F32") return 4;
  if (dtype == "I64") return 8;
  throw FormatError(fmt::format("{}: dtype '{}' (dojo reads F32 and I64)", where, dtype));
}

std::int64_t elements(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (const auto d : shape) n *= d;
  return n;
}

template <typename T>
SafeTensor make(std::string name, std::string dtype, std::vector<std::int64_t> shape,
                const T* data) {
  SafeTensor t{std::move(name), std::move(dtype), std::move(shape), {}};
  t.bytes.resize(static_cast<std::size_t>(elements(t.shape)) * sizeof(T));
  if (!t.bytes.empty()) std::memcpy(t.bytes.data(), data, t.bytes.size());
  return t;
}

}  // namespace

const SafeTensor& SafeTensors::at(const std::string& name) const {
  for (const auto& t : tensors) {
    if (t.name == name) return t;
  }
  throw FormatError(fmt::format("safetensors: no tensor named '{}'", name));
}

SafeTensor f32_tensor(std::string name, std::vector<std::int64_t> shape, const float* data) {
  return make(std::move(name), "F32", std::move(shape), data);
}

SafeTensor i64_tensor(std::string name, std::vector<std::int64_t> shape, const std::int64_t* data) {
  return make(std::move(name), "I64", std::move(shape), data);
}

std::vector<float> as_f32(const SafeTensor& t) {
  DOJO_CHECK(t.dtype == "F32", FormatError, "safetensors tensor '{}' is {}, expected F32", t.name,
             t.dtype);
  std::vector<float> out(t.bytes.size() / sizeof(float));
  if (!out.empty()) std::memcpy(out.data(), t.bytes.data(), t.bytes.size());
  return out;
}

void write_safetensors(const std::string& path, const SafeTensors& file) {
  nlohmann::ordered_json header;
  if (!file.metadata.empty()) header["__metadata__"] = file.metadata;
  std::uint64_t offset = 0;
  for (const auto& t : file.tensors) {
    DOJO_CHECK(t.name != "__metadata__" && !header.contains(t.name), InvalidArgument,
               "safetensors {}: tensor name '{}' is reserved or repeated", path, t.name);
    const std::size_t expect =
        static_cast<std::size_t>(elements(t.shape)) * dtype_bytes(t.dtype, path + " " + t.name);
    DOJO_CHECK(t.bytes.size() == expect, InvalidArgument,
               "safetensors {}: tensor '{}' holds {} bytes, its shape needs {}", path, t.name,
               t.bytes.size(), expect);
    header[t.name] = {{"dtype", t.dtype},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string text = header.dump();
  text.append((8 - (8 + text.size()) % 8) % 8, ' ');  // data starts 8-byte aligned
  const std::uint64_t n = text.size();

  AtomicFile file_out(path);
  const std::string partial = file_out.temp_path().string();
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    DOJO_CHECK(out.good(), IoError, "{}: cannot open for writing", partial);
    out.write(reinterpret_cast<const char*>(&n), sizeof(n));
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& t : file.tensors) {
      out.write(reinterpret_cast<const char*>(t.bytes.data()),
                static_cast<std::streamsize>(t.bytes.size()));
    }
    out.flush();
    DOJO_CHECK(out.good(), IoError, "{}: write failed (disk full?)", partial);
  }
  file_out.commit();
}

SafeTensors read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  DOJO_CHECK(in.good(), IoError, "{}: cannot open", path);
  const auto size = static_cast<std::uint64_t>(std::filesystem::file_size(path));
  std::uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), sizeof(n));
  DOJO_CHECK(in.good() && size >= 8 && n <= size - 8, FormatError,
             "{}: not a safetensors file (header length {} in a file of {} bytes)", path, n, size);
  std::string text(n, '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  const auto header = nlohmann::json::parse(text, nullptr, false);
  DOJO_CHECK(!header.is_discarded() && header.is_object(), FormatError,
             "{}: the safetensors header is not a JSON object", path);
  const std::uint64_t data_bytes = size - 8 - n;
  SafeTensors file;
  struct Entry {
    std::uint64_t begin, end;
    SafeTensor t;
  };
  std::vector<Entry> entries;
  for (const auto& [name, v] : header.items()) {
    if (name == "__metadata__") {
      for (const auto& [k, s] : v.items()) {
        DOJO_CHECK(s.is_string(), FormatError, "{}: __metadata__ '{}' is not a string", path, k);
        file.metadata[k] = s.get<std::string>();
      }
      continue;
    }
    const std::string where = fmt::format("{}: tensor '{}'", path, name);
    DOJO_CHECK(v.is_object() && v.contains("dtype") && v.contains("shape") &&
                   v.contains("data_offsets") && v["data_offsets"].size() == 2,
               FormatError, "{}: needs dtype, shape and data_offsets [begin, end]", where);
    Entry e{v["data_offsets"][0].get<std::uint64_t>(),
            v["data_offsets"][1].get<std::uint64_t>(),
            {name, v["dtype"].get<std::string>(), v["shape"].get<std::vector<std::int64_t>>(), {}}};
    const std::uint64_t expect =
        static_cast<std::uint64_t>(elements(e.t.shape)) * dtype_bytes(e.t.dtype, where);
    DOJO_CHECK(e.begin <= e.end && e.end <= data_bytes && e.end - e.begin == expect, FormatError,
               "{}: data_offsets [{}, {}] for {} bytes of shape, {} bytes of data in the file",
               where, e.begin, e.end, expect, data_bytes);
    entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  std::uint64_t at = 0;
  for (auto& e : entries) {
    DOJO_CHECK(e.begin == at, FormatError,
               "{}: tensor '{}' starts at byte {} of the data, expected {} (gap or overlap)", path,
               e.t.name, e.begin, at);
    e.t.bytes.resize(e.end - e.begin);
    in.read(reinterpret_cast<char*>(e.t.bytes.data()),
            static_cast<std::streamsize>(e.t.bytes.size()));
    DOJO_CHECK(in.good() || e.t.bytes.empty(), FormatError, "{}: truncated in tensor '{}'", path,
               e.t.name);
    at = e.end;
    file.tensors.push_back(std::move(e.t));
  }
  DOJO_CHECK(at == data_bytes, FormatError, "{}: {} bytes of data after the last tensor", path,
             data_bytes - at);
  return file;
}

}  // namespace dojo::train
