#include "train/checkpoint.hpp"

#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "h5/digest.hpp"
#include "h5/handles.hpp"
#include "model/params.hpp"

namespace dojo::train {
namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "dojo-checkpoint";
constexpr const char* kArenas[] = {"params", "adam_m", "adam_v"};

std::uint64_t hash_of(std::span<const float> values) {
  return XXH64(values.data(), values.size_bytes(), 0);
}

void write_tensor(hid_t group, const model::TensorInfo& t, std::span<const float> arena,
                  const std::string& path) {
  std::vector<hsize_t> dims(t.shape.begin(), t.shape.end());
  h5::Handle space = h5::check_id(
      H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), path, t.name.c_str());
  h5::Handle set = h5::check_id(H5Dcreate2(group, t.name.c_str(), H5T_NATIVE_FLOAT, space.get(),
                                           H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                                path, t.name.c_str());
  DOJO_CHECK(H5Dwrite(set.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                      arena.data() + t.offset) >= 0,
             IoError, "{}: writing {} failed (disk full?): {}", path, t.name, h5::last_error());
}

void read_tensor(hid_t group, const char* arena_name, const model::TensorInfo& t,
                 std::span<float> arena, const std::string& path) {
  DOJO_CHECK(H5Lexists(group, t.name.c_str(), H5P_DEFAULT) > 0, FormatError,
             "{}: tensor /{}/{} is missing", path, arena_name, t.name);
  h5::Handle set = h5::check_id(H5Dopen2(group, t.name.c_str(), H5P_DEFAULT), path, t.name.c_str());
  h5::Handle space = h5::check_id(H5Dget_space(set.get()), path, t.name.c_str());
  const int rank = H5Sget_simple_extent_ndims(space.get());
  DOJO_CHECK(rank == static_cast<int>(t.shape.size()), FormatError,
             "{}: /{}/{} has {} dimensions, the model's tensor has {}", path, arena_name, t.name,
             rank, t.shape.size());
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  for (int d = 0; d < rank; ++d) {
    DOJO_CHECK(static_cast<std::int64_t>(dims[d]) == t.shape[d], FormatError,
               "{}: /{}/{} has shape [{}], the model's tensor has [{}]", path, arena_name, t.name,
               fmt::join(dims, ", "), fmt::join(t.shape, ", "));
  }
  h5::check_status(H5Dread(set.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                           arena.data() + t.offset),
                   path, t.name.c_str());
}

// The digest lives in the file's first kHeaderBytes (an HDF5 user block, which HDF5 skips):
//   "dojo-checkpoint-digest 1\nbytes <N>\nxxh64 <16 hex>\n", zero-padded,
// over every byte after the header. One file to copy, checked before HDF5 reads any of it.
constexpr std::int64_t kHeaderBytes = 512;
constexpr std::string_view kHeaderMagic = "dojo-checkpoint-digest 1\n";

std::string header_for(const h5::FileDigest& digest) {
  std::string header = fmt::format("{}bytes {}\nxxh64 {}\n", kHeaderMagic, digest.bytes,
                                    h5::to_hex(digest.xxh64));
  header.resize(static_cast<std::size_t>(kHeaderBytes), '\0');
  return header;
}

std::string read_header(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  DOJO_CHECK(in.good(), IoError, "{}: cannot open the checkpoint", path);
  std::string header(static_cast<std::size_t>(kHeaderBytes), '\0');
  in.read(header.data(), kHeaderBytes);
  header.resize(static_cast<std::size_t>(in.gcount()));
  return header;
}

h5::FileDigest read_digest(const std::string& path) {
  const std::string header = read_header(path);
  DOJO_CHECK(header.size() == static_cast<std::size_t>(kHeaderBytes) &&
                 header.starts_with(kHeaderMagic),
             FormatError,
             "{}: not a dojo checkpoint (version 2 and later start with their own digest)", path);
  std::int64_t bytes = -1;
  char hex[17] = {};
  const std::string text = header.substr(kHeaderMagic.size(), header.find('\0') - kHeaderMagic.size());
  const bool parsed = std::sscanf(text.c_str(), "bytes %ld\nxxh64 %16[0-9a-f]\n", &bytes, hex) == 2;
  const auto hash = h5::from_hex(hex);
  DOJO_CHECK(parsed && bytes >= 0 && hash.has_value() &&
                 header_for({bytes, *hash}) == header,  // every byte, the padding included
             FormatError, "{}: the checkpoint's digest header is damaged", path);
  return {bytes, *hash};
}

void check_meta(const CheckpointMeta& m, const std::string& path) {
  DOJO_CHECK(m.step >= 0 && m.step < (std::int64_t{1} << 40), FormatError,
             "{}: step {} is out of range", path, m.step);
  DOJO_CHECK(m.adam_steps >= 0 && m.adam_steps <= m.step, FormatError,
             "{}: {} AdamW steps after {} training steps is impossible", path, m.adam_steps,
             m.step);
  DOJO_CHECK(m.loader_epoch >= 0 && m.loader_position >= 0, FormatError,
             "{}: loader cursor (epoch {}, position {}) is negative", path, m.loader_epoch,
             m.loader_position);
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
                      const model::ModelConfig& model_config, std::span<const float> params,
                      std::span<const float> adam_m, std::span<const float> adam_v) {
  const model::ParamTable table = model::build_param_table(model_config);
  DOJO_ASSERT(params.size() == table.total && adam_m.size() == table.total &&
                  adam_v.size() == table.total,
              "arena sizes {} {} {}, the model's table has {}", params.size(), adam_m.size(),
              adam_v.size(), table.total);
  AtomicFile out(path);
  const std::string partial = out.temp_path().string();
  {
    std::lock_guard lock(h5::mutex());
    h5::silence_errors();
    h5::Handle create = h5::check_id(H5Pcreate(H5P_FILE_CREATE), partial, "H5Pcreate");
    h5::check_status(H5Pset_userblock(create.get(), kHeaderBytes), partial, "H5Pset_userblock");
    hid_t id = H5Fcreate(partial.c_str(), H5F_ACC_TRUNC, create.get(), H5P_DEFAULT);
    DOJO_CHECK(id >= 0, IoError, "{}: cannot create checkpoint file: {}", partial,
               h5::last_error());
    h5::Handle file(id);
    const std::span<const float> arenas[] = {params, adam_m, adam_v};
    for (int a = 0; a < 3; ++a) {
      h5::Handle group = h5::check_id(
          H5Gcreate2(file.get(), kArenas[a], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), partial,
          kArenas[a]);
      for (const auto& t : table.tensors) write_tensor(group.get(), t, arenas[a], partial);
    }
    h5::write_blob(file.get(), "config", meta.config_yaml, partial);
    h5::write_blob(file.get(), "model_config", model::to_yaml(model_config), partial);
    const hid_t root = file.get();
    h5::write_string_attr(root, "format", kFormat, partial);
    h5::write_int_attr(root, "version", kCheckpointVersion, partial);
    h5::write_int_attr(root, "step", meta.step, partial);
    h5::write_int_attr(root, "adam_steps", meta.adam_steps, partial);
    h5::write_uint_attr(root, "seed", meta.seed, partial);
    h5::write_int_attr(root, "loader_epoch", meta.loader_epoch, partial);
    h5::write_int_attr(root, "loader_position", meta.loader_position, partial);
    h5::write_string_attr(root, "config_hash", meta.config_hash, partial);
    h5::write_string_attr(root, "model", meta.model, partial);
    h5::write_uint_attr(root, "params_xxh64", hash_of(params), partial);
    h5::write_uint_attr(root, "adam_m_xxh64", hash_of(adam_m), partial);
    h5::write_uint_attr(root, "adam_v_xxh64", hash_of(adam_v), partial);
    DOJO_CHECK(H5Fflush(root, H5F_SCOPE_GLOBAL) >= 0, IoError,
               "{}: flushing the checkpoint failed (disk full?): {}", partial, h5::last_error());
    const hid_t raw = file.release();
    DOJO_CHECK(H5Fclose(raw) >= 0, IoError, "{}: closing the checkpoint failed (disk full?): {}",
               partial, h5::last_error());
  }
  // The digest of everything after the header, written into the header.
  const h5::FileDigest digest = h5::digest_file(partial, kHeaderBytes);
  const std::string header = header_for(digest);
  {
    std::fstream file(partial, std::ios::in | std::ios::out | std::ios::binary);
    file.write(header.data(), kHeaderBytes);
    file.close();
    DOJO_CHECK(file.good(), IoError, "{}: writing the digest header failed (disk full?)", partial);
  }
  out.commit();
}

bool is_checkpoint(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return false;
  try {
    return read_header(path).starts_with(kHeaderMagic);
  } catch (const Error&) {
    return false;
  }
}

Checkpoint read_checkpoint(const std::string& path) {
  DOJO_CHECK(fs::exists(path), IoError, "{}: checkpoint does not exist", path);
  h5::check_file_digest(path, read_digest(path), "checkpoint", kHeaderBytes);
  std::lock_guard lock(h5::mutex());
  h5::silence_errors();
  const hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  DOJO_CHECK(id >= 0, FormatError, "{}: not a readable HDF5 checkpoint: {}", path,
             h5::last_error());
  h5::Handle file(id);
  const hid_t root = file.get();
  const std::string format = h5::read_string_attr(root, "format", path);
  DOJO_CHECK(format == kFormat, FormatError, "{}: format is '{}', expected '{}'", path, format,
             kFormat);
  const auto version = h5::read_int_attr(root, "version", path);
  DOJO_CHECK(version == kCheckpointVersion, FormatError,
             "{}: checkpoint version {} is not supported (this dojo reads version {})", path,
             version, kCheckpointVersion);
  Checkpoint c;
  c.path = path;
  c.meta.step = h5::read_int_attr(root, "step", path);
  c.meta.adam_steps = h5::read_int_attr(root, "adam_steps", path);
  c.meta.seed = h5::read_uint_attr(root, "seed", path);
  c.meta.loader_epoch = h5::read_int_attr(root, "loader_epoch", path);
  c.meta.loader_position = h5::read_int_attr(root, "loader_position", path);
  c.meta.config_hash = h5::read_string_attr(root, "config_hash", path);
  c.meta.model = h5::read_string_attr(root, "model", path);
  check_meta(c.meta, path);
  c.meta.config_yaml = h5::read_blob(root, "config", path, 1 << 20);
  c.model_config = model::model_config_from_yaml(h5::read_blob(root, "model_config", path, 1 << 20),
                                                 path);
  const model::ParamTable table = model::build_param_table(c.model_config);
  std::vector<float>* arenas[] = {&c.params, &c.adam_m, &c.adam_v};
  const char* hashes[] = {"params_xxh64", "adam_m_xxh64", "adam_v_xxh64"};
  for (int a = 0; a < 3; ++a) {
    arenas[a]->assign(table.total, 0.0f);
    h5::Handle group = h5::check_id(H5Gopen2(root, kArenas[a], H5P_DEFAULT), path, kArenas[a]);
    for (const auto& t : table.tensors) read_tensor(group.get(), kArenas[a], t, *arenas[a], path);
    const auto stored = h5::read_uint_attr(root, hashes[a], path);
    const auto actual = hash_of(*arenas[a]);
    DOJO_CHECK(stored == actual, FormatError,
               "{}: checksum mismatch for {} (stored {:016x}, computed {:016x}): the file is "
               "corrupted",
               path, hashes[a], stored, actual);
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
                            const model::ModelConfig& model_config, std::span<const float> params,
                            std::span<const float> adam_m, std::span<const float> adam_v,
                            std::int64_t keep) {
  const fs::path dir = fs::path(run_dir) / "checkpoints";
  std::error_code ec;
  fs::create_directories(dir, ec);
  DOJO_CHECK(!ec, IoError, "{}: cannot create checkpoint folder: {}", dir.string(), ec.message());
  const std::string name = fmt::format("step-{:06d}.h5", meta.step);
  const std::string path = (dir / name).string();
  write_checkpoint(path, meta, model_config, params, adam_m, adam_v);
  write_file_atomic(dir / "latest", name + "\n");
  prune_checkpoints(dir.string(), meta.step, keep);
  return path;
}

std::optional<Checkpoint> load_latest_checkpoint(const std::string& run_dir) {
  const fs::path dir = fs::path(run_dir) / "checkpoints";
  if (!fs::is_directory(dir)) return std::nullopt;
  std::vector<std::string> candidates;
  std::ifstream pointer(dir / "latest");
  std::string named;
  if (pointer && std::getline(pointer, named) && !named.empty() &&
      named.find('/') == std::string::npos) {
    candidates.push_back((dir / named).string());
  }
  for (auto& path : checkpoint_step_files(dir.string())) {
    if (std::find(candidates.begin(), candidates.end(), path) == candidates.end()) {
      candidates.push_back(std::move(path));
    }
  }
  for (const auto& path : candidates) {
    try {
      return read_checkpoint(path);
    } catch (const Error& e) {
      log::warn("skipping checkpoint {}: {}; trying the previous one", path, e.what());
    }
  }
  return std::nullopt;
}

Checkpoint find_checkpoint(const std::string& path) {
  const fs::path p(path);
  std::error_code ec;
  if (fs::is_directory(p, ec)) {
    fs::path run_dir = p.lexically_normal();
    if (run_dir.filename().empty()) run_dir = run_dir.parent_path();  // a trailing slash
    if (run_dir.filename() == "checkpoints" && !fs::is_directory(run_dir / "checkpoints")) {
      run_dir = run_dir.parent_path();
    }
    auto newest = load_latest_checkpoint(run_dir.string());
    DOJO_CHECK(newest.has_value(), IoError,
               "{}: no usable checkpoint in this folder (looked for checkpoints/step-*.h5)",
               path);
    return std::move(*newest);
  }
  if (p.filename() == "latest" && !is_checkpoint(path)) {
    std::ifstream pointer(p);
    std::string named;
    DOJO_CHECK(pointer && std::getline(pointer, named) && !named.empty() &&
                   named.find('/') == std::string::npos,
               IoError, "{}: cannot read the checkpoint name this pointer should hold", path);
    return read_checkpoint((p.parent_path() / named).string());
  }
  return read_checkpoint(path);
}

}  // namespace dojo::train
