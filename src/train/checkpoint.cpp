#include "train/checkpoint.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "data/h5_handles.hpp"
#include "data/shard.hpp"

namespace dojo::train {
namespace fs = std::filesystem;
namespace h5 = data::h5;

namespace {

constexpr const char* kFormat = "dojo-checkpoint";

std::uint64_t hash_of(std::span<const float> values) {
  return XXH64(values.data(), values.size_bytes(), 0);
}

void write_attr_i64(hid_t obj, const char* name, std::int64_t value, const std::string& path) {
  auto space = h5::check_id(H5Screate(H5S_SCALAR), path, "H5Screate");
  auto attr = h5::check_id(
      H5Acreate2(obj, name, H5T_NATIVE_INT64, space.get(), H5P_DEFAULT, H5P_DEFAULT), path, name);
  h5::check_status(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value), path, name);
}

void write_attr_u64(hid_t obj, const char* name, std::uint64_t value, const std::string& path) {
  auto space = h5::check_id(H5Screate(H5S_SCALAR), path, "H5Screate");
  auto attr = h5::check_id(
      H5Acreate2(obj, name, H5T_NATIVE_UINT64, space.get(), H5P_DEFAULT, H5P_DEFAULT), path, name);
  h5::check_status(H5Awrite(attr.get(), H5T_NATIVE_UINT64, &value), path, name);
}

h5::Handle string_type(const std::string& path) {
  auto type = h5::check_id(H5Tcopy(H5T_C_S1), path, "H5Tcopy");
  h5::check_status(H5Tset_size(type.get(), H5T_VARIABLE), path, "H5Tset_size");
  return type;
}

void write_attr_str(hid_t obj, const char* name, const std::string& value,
                    const std::string& path) {
  auto type = string_type(path);
  auto space = h5::check_id(H5Screate(H5S_SCALAR), path, "H5Screate");
  auto attr = h5::check_id(H5Acreate2(obj, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                           path, name);
  const char* text = value.c_str();
  h5::check_status(H5Awrite(attr.get(), type.get(), &text), path, name);
}

template <typename T>
T read_attr(hid_t obj, const char* name, hid_t mem_type, const std::string& path) {
  DOJO_CHECK(H5Aexists(obj, name) > 0, FormatError,
             "{}: not a complete dojo checkpoint: attribute '{}' is missing", path, name);
  auto attr = h5::check_id(H5Aopen(obj, name, H5P_DEFAULT), path, name);
  T value{};
  h5::check_status(H5Aread(attr.get(), mem_type, &value), path, name);
  return value;
}

std::string read_attr_str(hid_t obj, const char* name, const std::string& path) {
  DOJO_CHECK(H5Aexists(obj, name) > 0, FormatError,
             "{}: not a complete dojo checkpoint: attribute '{}' is missing", path, name);
  auto attr = h5::check_id(H5Aopen(obj, name, H5P_DEFAULT), path, name);
  auto type = string_type(path);
  char* text = nullptr;
  h5::check_status(H5Aread(attr.get(), type.get(), &text), path, name);
  std::string out = text != nullptr ? text : "";
  H5free_memory(text);
  return out;
}

void write_floats(hid_t file, const char* name, std::span<const float> values,
                  const std::string& path) {
  const hsize_t dims[1] = {values.size()};
  auto space = h5::check_id(H5Screate_simple(1, dims, nullptr), path, "H5Screate_simple");
  auto set = h5::check_id(
      H5Dcreate2(file, name, H5T_NATIVE_FLOAT, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
      path, name);
  if (!values.empty()) {
    DOJO_CHECK(
        H5Dwrite(set.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0,
        IoError, "{}: writing /{} failed (disk full?): {}", path, name, h5::last_error());
  }
}

std::vector<float> read_floats(hid_t file, const char* name, const std::string& path) {
  DOJO_CHECK(H5Lexists(file, name, H5P_DEFAULT) > 0, FormatError,
             "{}: not a complete dojo checkpoint: dataset /{} is missing", path, name);
  auto set = h5::check_id(H5Dopen2(file, name, H5P_DEFAULT), path, name);
  auto space = h5::check_id(H5Dget_space(set.get()), path, "H5Dget_space");
  hsize_t dims[1] = {0};
  DOJO_CHECK(H5Sget_simple_extent_ndims(space.get()) == 1, FormatError,
             "{}: /{} is not one-dimensional", path, name);
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  std::vector<float> out(dims[0]);
  if (!out.empty()) {
    DOJO_CHECK(H5Dread(set.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) >= 0,
               FormatError, "{}: reading /{} failed (truncated or corrupted file?): {}", path, name,
               h5::last_error());
  }
  return out;
}

}  // namespace

std::int64_t checkpoint_step_of(const std::string& path) {
  static const std::regex pattern(R"(step-(\d+)\.h5)");
  std::smatch m;
  const std::string name = fs::path(path).filename().string();
  return std::regex_match(name, m, pattern) ? std::stoll(m[1]) : -1;
}

std::vector<std::string> checkpoint_step_files(const std::string& dir) {
  std::vector<std::pair<std::int64_t, std::string>> files;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {};
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const auto step = checkpoint_step_of(entry.path().string());
    if (step >= 0) files.emplace_back(step, entry.path().string());
  }
  std::sort(files.begin(), files.end(), std::greater<>());
  std::vector<std::string> out;
  for (auto& [step, path] : files) out.push_back(std::move(path));
  return out;
}

void write_checkpoint(const std::string& path, const CheckpointMeta& meta,
                      std::span<const float> params, std::span<const float> adam_m,
                      std::span<const float> adam_v) {
  DOJO_ASSERT(params.size() == adam_m.size() && params.size() == adam_v.size(),
              "arena sizes differ: {} {} {}", params.size(), adam_m.size(), adam_v.size());
  AtomicFile out(path);
  const std::string partial = out.temp_path().string();
  {
    std::lock_guard lock(data::hdf5_mutex());
    h5::silence_errors();
    hid_t id = H5Fcreate(partial.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    DOJO_CHECK(id >= 0, IoError, "{}: cannot create checkpoint file: {}", partial,
               h5::last_error());
    h5::Handle file(id);
    write_floats(file.get(), "params", params, partial);
    write_floats(file.get(), "adam_m", adam_m, partial);
    write_floats(file.get(), "adam_v", adam_v, partial);
    {
      auto type = string_type(partial);
      auto space = h5::check_id(H5Screate(H5S_SCALAR), partial, "H5Screate");
      auto set = h5::check_id(H5Dcreate2(file.get(), "config", type.get(), space.get(), H5P_DEFAULT,
                                         H5P_DEFAULT, H5P_DEFAULT),
                              partial, "config");
      const char* text = meta.config_yaml.c_str();
      h5::check_status(H5Dwrite(set.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &text),
                       partial, "config");
    }
    const hid_t root = file.get();
    write_attr_str(root, "format", kFormat, partial);
    write_attr_i64(root, "version", kCheckpointVersion, partial);
    write_attr_i64(root, "step", meta.step, partial);
    write_attr_i64(root, "adam_steps", meta.adam_steps, partial);
    write_attr_u64(root, "seed", meta.seed, partial);
    write_attr_i64(root, "loader_epoch", meta.loader_epoch, partial);
    write_attr_i64(root, "loader_position", meta.loader_position, partial);
    write_attr_str(root, "config_hash", meta.config_hash, partial);
    write_attr_str(root, "model", meta.model, partial);
    write_attr_u64(root, "params_xxh64", hash_of(params), partial);
    write_attr_u64(root, "adam_m_xxh64", hash_of(adam_m), partial);
    write_attr_u64(root, "adam_v_xxh64", hash_of(adam_v), partial);
    DOJO_CHECK(H5Fflush(root, H5F_SCOPE_GLOBAL) >= 0, IoError,
               "{}: flushing the checkpoint failed (disk full?): {}", partial, h5::last_error());
    const hid_t raw = file.release();
    DOJO_CHECK(H5Fclose(raw) >= 0, IoError, "{}: closing the checkpoint failed (disk full?): {}",
               partial, h5::last_error());
  }
  out.commit();
}

bool is_checkpoint(const std::string& path) {
  std::lock_guard lock(data::hdf5_mutex());
  h5::silence_errors();
  if (H5Fis_hdf5(path.c_str()) <= 0) return false;
  const hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) return false;
  h5::Handle file(id);
  if (H5Aexists(file.get(), "format") <= 0) return false;
  try {
    return read_attr_str(file.get(), "format", path) == kFormat;
  } catch (const Error&) {
    return false;
  }
}

Checkpoint read_checkpoint(const std::string& path) {
  std::lock_guard lock(data::hdf5_mutex());
  h5::silence_errors();
  DOJO_CHECK(fs::exists(path), IoError, "{}: checkpoint does not exist", path);
  const hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  DOJO_CHECK(id >= 0, FormatError, "{}: not a readable HDF5 checkpoint (truncated?): {}", path,
             h5::last_error());
  h5::Handle file(id);
  const hid_t root = file.get();
  const std::string format = read_attr_str(root, "format", path);
  DOJO_CHECK(format == kFormat, FormatError, "{}: format is '{}', expected '{}'", path, format,
             kFormat);
  const auto version = read_attr<std::int64_t>(root, "version", H5T_NATIVE_INT64, path);
  DOJO_CHECK(version == kCheckpointVersion, FormatError,
             "{}: checkpoint version {} is not supported (this dojo reads version {})", path,
             version, kCheckpointVersion);
  Checkpoint c;
  c.path = path;
  c.meta.step = read_attr<std::int64_t>(root, "step", H5T_NATIVE_INT64, path);
  c.meta.adam_steps = read_attr<std::int64_t>(root, "adam_steps", H5T_NATIVE_INT64, path);
  c.meta.seed = read_attr<std::uint64_t>(root, "seed", H5T_NATIVE_UINT64, path);
  c.meta.loader_epoch = read_attr<std::int64_t>(root, "loader_epoch", H5T_NATIVE_INT64, path);
  c.meta.loader_position = read_attr<std::int64_t>(root, "loader_position", H5T_NATIVE_INT64, path);
  c.meta.config_hash = read_attr_str(root, "config_hash", path);
  c.meta.model = read_attr_str(root, "model", path);
  {
    DOJO_CHECK(H5Lexists(root, "config", H5P_DEFAULT) > 0, FormatError,
               "{}: not a complete dojo checkpoint: dataset /config is missing", path);
    auto set = h5::check_id(H5Dopen2(root, "config", H5P_DEFAULT), path, "config");
    auto type = string_type(path);
    char* text = nullptr;
    h5::check_status(H5Dread(set.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &text), path,
                     "config");
    c.meta.config_yaml = text != nullptr ? text : "";
    H5free_memory(text);
  }
  c.params = read_floats(root, "params", path);
  c.adam_m = read_floats(root, "adam_m", path);
  c.adam_v = read_floats(root, "adam_v", path);
  DOJO_CHECK(c.adam_m.size() == c.params.size() && c.adam_v.size() == c.params.size(), FormatError,
             "{}: arena sizes differ (params {}, adam_m {}, adam_v {})", path, c.params.size(),
             c.adam_m.size(), c.adam_v.size());
  const struct {
    const char* attr;
    const std::vector<float>* values;
  } checks[] = {
      {"params_xxh64", &c.params}, {"adam_m_xxh64", &c.adam_m}, {"adam_v_xxh64", &c.adam_v}};
  for (const auto& check : checks) {
    const auto stored = read_attr<std::uint64_t>(root, check.attr, H5T_NATIVE_UINT64, path);
    const auto actual = hash_of(*check.values);
    DOJO_CHECK(stored == actual, FormatError,
               "{}: checksum mismatch for {} (stored {:016x}, computed {:016x}): the file is "
               "corrupted",
               path, check.attr, stored, actual);
  }
  c.params_xxh64 = hash_of(c.params);
  return c;
}

void prune_checkpoints(const std::string& dir, std::int64_t newest_step, std::int64_t keep) {
  // Only this lineage's older checkpoints go: a file with a higher step belongs to a run
  // this one did not continue, and is left for its owner to decide about.
  std::int64_t kept = 0;
  for (const auto& file : checkpoint_step_files(dir)) {
    const std::int64_t step = checkpoint_step_of(file);
    if (step > newest_step) continue;
    if (++kept <= keep) continue;
    std::error_code ec;
    fs::remove(file, ec);
  }
}

std::string save_checkpoint(const std::string& run_dir, const CheckpointMeta& meta,
                            std::span<const float> params, std::span<const float> adam_m,
                            std::span<const float> adam_v, std::int64_t keep) {
  const fs::path dir = fs::path(run_dir) / "checkpoints";
  std::error_code ec;
  fs::create_directories(dir, ec);
  DOJO_CHECK(!ec, IoError, "{}: cannot create checkpoint folder: {}", dir.string(), ec.message());
  const std::string name = fmt::format("step-{:06d}.h5", meta.step);
  const std::string path = (dir / name).string();
  write_checkpoint(path, meta, params, adam_m, adam_v);

  write_file_atomic(dir / "latest", name + "\n");
  prune_checkpoints(dir.string(), meta.step, keep);
  return path;
}

std::optional<Checkpoint> load_latest_checkpoint(const std::string& run_dir) {
  const fs::path dir = fs::path(run_dir) / "checkpoints";
  if (!fs::is_directory(dir)) return std::nullopt;
  std::vector<fs::path> candidates;
  std::ifstream pointer(dir / "latest");
  std::string named;
  if (pointer && std::getline(pointer, named) && !named.empty()) candidates.push_back(dir / named);
  for (auto& path : checkpoint_step_files(dir.string())) {
    if (std::find(candidates.begin(), candidates.end(), fs::path(path)) == candidates.end()) {
      candidates.push_back(std::move(path));
    }
  }
  for (const auto& path : candidates) {
    try {
      return read_checkpoint(path.string());
    } catch (const Error& e) {
      log::warn("skipping checkpoint {}: {}; trying the previous one", path.string(), e.what());
    }
  }
  return std::nullopt;
}

}  // namespace dojo::train
