#include "train/embed.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "data/clip_source.hpp"
#include "data/h5_handles.hpp"
#include "data/shard.hpp"
#include "train/eval_run.hpp"
#include "train/run_model.hpp"

namespace dojo::train {
namespace h5 = data::h5;

struct ClipBatches::Impl {
  data::ShardSet shards;
  std::string path;
  explicit Impl(const std::string& p) : shards(p), path(p) {}
};

ClipBatches::ClipBatches(const std::string& path, const model::ModelConfig& mc)
    : impl_(std::make_unique<Impl>(path)) {
  check_clip_shape(impl_->shards.shape(), mc, path);
  DOJO_CHECK(impl_->shards.size() > 0, InvalidArgument, "{}: no clips", path);
}

ClipBatches::~ClipBatches() = default;

std::int64_t ClipBatches::size() const {
  return impl_->shards.size();
}

const std::string& ClipBatches::source(std::int64_t i) const {
  const auto [reader, local] = impl_->shards.locate(i);
  return reader->source(local);
}

std::vector<float> ClipBatches::read(std::int64_t first, std::int64_t count) const {
  std::vector<float> out;
  for (std::int64_t i = first; i < first + count; ++i) {
    const auto [reader, local] = impl_->shards.locate(i);
    for (const std::uint8_t v : reader->read_clip(local, /*verify=*/true)) {
      out.push_back(static_cast<float>(v) / 255.0f);
    }
  }
  return out;
}

std::vector<float> embed_all(model::VideoMAE& model, const ClipBatches& clips) {
  const std::int64_t n = clips.size(), b = model.batch(), d = model.config().encoder_dim;
  const auto clip_elems = static_cast<std::size_t>(model.config().clip_elems());
  std::vector<float> out(static_cast<std::size_t>(n * d));
  for (std::int64_t first = 0; first < n; first += b) {
    const std::int64_t real = std::min(b, n - first);
    std::vector<float> batch = clips.read(first, real);
    for (std::int64_t j = real; j < b; ++j) {  // pad with the last clip
      batch.insert(batch.end(), batch.end() - static_cast<std::ptrdiff_t>(clip_elems), batch.end());
    }
    const auto e = model.embed(batch);
    std::copy_n(e.begin(), real * d, out.begin() + first * d);
  }
  return out;
}

std::int64_t pixel_feature_dim(const model::ModelConfig& c, std::int64_t grid) {
  return c.grid_t() * grid * grid * c.channels;
}

std::vector<float> pixel_features(const ClipBatches& clips, const model::ModelConfig& c,
                                  std::int64_t grid) {
  DOJO_CHECK(grid >= 1 && grid <= c.height && grid <= c.width, InvalidArgument,
             "pixel features: grid {} for {}x{} frames", grid, c.height, c.width);
  const std::int64_t n = clips.size(), d = pixel_feature_dim(c, grid);
  std::vector<float> out(static_cast<std::size_t>(n * d), 0.0f);
  std::vector<double> sums(static_cast<std::size_t>(d));
  std::vector<double> counts(static_cast<std::size_t>(d));
  for (std::int64_t i = 0; i < n; ++i) {
    const auto clip = clips.read(i, 1);
    std::fill(sums.begin(), sums.end(), 0.0);
    std::fill(counts.begin(), counts.end(), 0.0);
    for (std::int64_t t = 0; t < c.frames; ++t) {
      for (std::int64_t y = 0; y < c.height; ++y) {
        for (std::int64_t x = 0; x < c.width; ++x) {
          const std::int64_t cell =
              ((t / c.tubelet_frames) * grid + y * grid / c.height) * grid + x * grid / c.width;
          for (std::int64_t ch = 0; ch < c.channels; ++ch) {
            const auto k = static_cast<std::size_t>(cell * c.channels + ch);
            sums[k] += clip[static_cast<std::size_t>(
                ((t * c.height + y) * c.width + x) * c.channels + ch)];
            counts[k] += 1;
          }
        }
      }
    }
    for (std::int64_t k = 0; k < d; ++k) {
      out[static_cast<std::size_t>(i * d + k)] = static_cast<float>(sums[k] / counts[k]);
    }
  }
  return out;
}

Embeddings embed_run(const EmbedOptions& o) {
  DOJO_CHECK(!o.out.empty() && !o.data.empty(), InvalidArgument,
             "dojo embed: --data and --out are required");
  LoadedModel m = load_model(o.checkpoint, 8);
  const ClipBatches clips(o.data, m.model_config);
  Embeddings e;
  e.values = embed_all(*m.model, clips);
  e.clips = clips.size();
  e.dim = m.model_config.encoder_dim;
  std::map<std::string, std::int64_t> id;
  for (std::int64_t i = 0; i < e.clips; ++i) {
    e.clip.push_back(i);
    const std::string& s = clips.source(i);
    auto [it, fresh] = id.try_emplace(s, static_cast<std::int64_t>(e.sources.size()));
    if (fresh) e.sources.push_back(s);
    e.source.push_back(it->second);
  }
  e.checkpoint = std::filesystem::absolute(o.checkpoint).string();
  e.model = m.model_config.name;
  e.step = m.checkpoint.meta.step;
  write_embeddings(o.out, e);
  return e;
}

namespace {

h5::Handle string_type(const std::string& path) {
  auto type = h5::check_id(H5Tcopy(H5T_C_S1), path, "H5Tcopy");
  h5::check_status(H5Tset_size(type.get(), H5T_VARIABLE), path, "H5Tset_size");
  return type;
}

void write_attr(hid_t obj, const char* name, const std::string& value, const std::string& path) {
  auto type = string_type(path);
  auto space = h5::check_id(H5Screate(H5S_SCALAR), path, "H5Screate");
  auto attr = h5::check_id(H5Acreate2(obj, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                           path, name);
  const char* text = value.c_str();
  h5::check_status(H5Awrite(attr.get(), type.get(), &text), path, name);
}

void write_attr(hid_t obj, const char* name, std::int64_t value, const std::string& path) {
  auto space = h5::check_id(H5Screate(H5S_SCALAR), path, "H5Screate");
  auto attr = h5::check_id(
      H5Acreate2(obj, name, H5T_NATIVE_INT64, space.get(), H5P_DEFAULT, H5P_DEFAULT), path, name);
  h5::check_status(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value), path, name);
}

std::string read_attr_str(hid_t obj, const char* name, const std::string& path) {
  DOJO_CHECK(H5Aexists(obj, name) > 0, FormatError, "{}: attribute '{}' is missing", path, name);
  auto attr = h5::check_id(H5Aopen(obj, name, H5P_DEFAULT), path, name);
  auto type = string_type(path);
  char* text = nullptr;
  h5::check_status(H5Aread(attr.get(), type.get(), &text), path, name);
  std::string out = text != nullptr ? text : "";
  H5free_memory(text);
  return out;
}

std::int64_t read_attr_i64(hid_t obj, const char* name, const std::string& path) {
  DOJO_CHECK(H5Aexists(obj, name) > 0, FormatError, "{}: attribute '{}' is missing", path, name);
  auto attr = h5::check_id(H5Aopen(obj, name, H5P_DEFAULT), path, name);
  std::int64_t v = 0;
  h5::check_status(H5Aread(attr.get(), H5T_NATIVE_INT64, &v), path, name);
  return v;
}

template <typename T>
void write_set(hid_t file, const char* name, hid_t type, std::vector<hsize_t> dims, const T* data,
               const std::string& path) {
  auto space = h5::check_id(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                            path, "H5Screate_simple");
  auto set = h5::check_id(
      H5Dcreate2(file, name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), path, name);
  DOJO_CHECK(H5Dwrite(set.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0, IoError,
             "{}: writing /{} failed (disk full?): {}", path, name, h5::last_error());
}

template <typename T>
std::vector<T> read_set(hid_t file, const char* name, hid_t type, std::vector<hsize_t>& dims,
                        const std::string& path) {
  DOJO_CHECK(H5Lexists(file, name, H5P_DEFAULT) > 0, FormatError,
             "{}: not a dojo embeddings file: /{} is missing", path, name);
  auto set = h5::check_id(H5Dopen2(file, name, H5P_DEFAULT), path, name);
  auto space = h5::check_id(H5Dget_space(set.get()), path, "H5Dget_space");
  dims.assign(static_cast<std::size_t>(H5Sget_simple_extent_ndims(space.get())), 0);
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  std::size_t n = 1;
  for (const auto d : dims) n *= d;
  std::vector<T> out(n);
  DOJO_CHECK(H5Dread(set.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) >= 0, FormatError,
             "{}: reading /{} failed: {}", path, name, h5::last_error());
  return out;
}

}  // namespace

void write_embeddings(const std::string& path, const Embeddings& e) {
  std::lock_guard lock(data::hdf5_mutex());
  h5::silence_errors();
  AtomicFile out(path);
  const std::string partial = out.temp_path().string();
  {
    auto file = h5::check_id(H5Fcreate(partial.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT),
                             partial, "H5Fcreate");
    const hid_t f = file.get();
    const auto n = static_cast<hsize_t>(e.clips);
    write_set(f, "embeddings", H5T_NATIVE_FLOAT, {n, static_cast<hsize_t>(e.dim)}, e.values.data(),
              partial);
    write_set(f, "clip", H5T_NATIVE_INT64, {n}, e.clip.data(), partial);
    write_set(f, "source", H5T_NATIVE_INT64, {n}, e.source.data(), partial);
    std::vector<const char*> names;
    for (const auto& s : e.sources) names.push_back(s.c_str());
    auto type = string_type(partial);
    write_set(f, "sources", type.get(), {static_cast<hsize_t>(names.size())}, names.data(),
              partial);
    write_attr(f, "format", std::string(kEmbeddingsFormat), partial);
    write_attr(f, "version", kEmbeddingsVersion, partial);
    write_attr(f, "checkpoint", e.checkpoint, partial);
    write_attr(f, "model", e.model, partial);
    write_attr(f, "step", e.step, partial);
    h5::check_status(H5Fclose(file.release()), partial, "H5Fclose");
  }
  out.commit();
}

Embeddings read_embeddings(const std::string& path) {
  std::lock_guard lock(data::hdf5_mutex());
  h5::silence_errors();
  auto file = h5::check_id(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path, "H5Fopen");
  const hid_t f = file.get();
  DOJO_CHECK(read_attr_str(f, "format", path) == kEmbeddingsFormat, FormatError,
             "{}: not a dojo embeddings file", path);
  DOJO_CHECK(read_attr_i64(f, "version", path) == kEmbeddingsVersion, FormatError,
             "{}: embeddings version {}, this dojo reads {}", path,
             read_attr_i64(f, "version", path), kEmbeddingsVersion);
  Embeddings e;
  std::vector<hsize_t> dims;
  e.values = read_set<float>(f, "embeddings", H5T_NATIVE_FLOAT, dims, path);
  DOJO_CHECK(dims.size() == 2, FormatError, "{}: /embeddings is not (N, D)", path);
  e.clips = static_cast<std::int64_t>(dims[0]);
  e.dim = static_cast<std::int64_t>(dims[1]);
  e.clip = read_set<std::int64_t>(f, "clip", H5T_NATIVE_INT64, dims, path);
  e.source = read_set<std::int64_t>(f, "source", H5T_NATIVE_INT64, dims, path);
  auto type = string_type(path);
  auto names = read_set<char*>(f, "sources", type.get(), dims, path);
  for (char* s : names) {
    e.sources.emplace_back(s != nullptr ? s : "");
    H5free_memory(s);
  }
  e.checkpoint = read_attr_str(f, "checkpoint", path);
  e.model = read_attr_str(f, "model", path);
  e.step = read_attr_i64(f, "step", path);
  return e;
}

}  // namespace dojo::train
